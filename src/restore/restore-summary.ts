import type { BackupEntry } from "../catalog/backup-source.js";
import { cell, formatAge, formatBytes, formatDuration, table } from "../summary/markdown.js";
import type { CatalogComparison } from "./catalog-compare.js";
import type { RestoreResult } from "./restore-db.js";

/** The plain data of one listed backup, for --json and the tables. */
export function listedBackup(entry: BackupEntry, now: Date) {
  return {
    file: entry.fileName,
    uri: entry.uri,
    location: entry.store.location,
    tier: entry.tier ?? null,
    takenAt: entry.takenAt.toISOString(),
    ageHours: Number(((now.getTime() - entry.takenAt.getTime()) / 3_600_000).toFixed(2)),
    sizeBytes: entry.sizeBytes,
    format: entry.format,
    compression: entry.compression,
    encrypted: entry.encrypted,
    sidecar: entry.hasSidecar,
    manifest: entry.hasManifest,
  };
}

const integrity = (e: BackupEntry) =>
  `${e.hasSidecar ? "sha256 sidecar" : "NO sidecar"}${e.hasManifest ? ", manifest" : ""}`;

/** The backups as rows: newest first, with tier, size, age, encryption and what can prove them. */
export function backupRows(entries: readonly BackupEntry[], now: Date): string[][] {
  return entries.map((e) => [
    e.fileName,
    e.store.location,
    e.tier ?? "—",
    formatBytes(e.sizeBytes),
    formatAge((now.getTime() - e.takenAt.getTime()) / 3_600_000),
    e.encrypted ? "gpg" : "none",
    integrity(e),
  ]);
}

const HEADER = ["Backup", "Where", "Tier", "Size", "Age", "Encryption", "Integrity"];

/** `--list-backups` on a terminal: aligned columns. */
export function backupListText(entries: readonly BackupEntry[], now: Date, where: string): string {
  if (!entries.length) return `No backups in ${where}\n`;
  const rows = [HEADER, ...backupRows(entries, now)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** `--list-backups` in the job summary. */
export function backupListSummary(entries: readonly BackupEntry[], now: Date, where: string): string {
  return [
    `## Lifeline backups in ${cell(where)}: ${entries.length}`,
    "",
    entries.length ? table(HEADER, backupRows(entries, now)) : "No backups found.",
    "",
  ].join("\n");
}

/** The comparison of a restored copy with its manifest, mismatches first. */
export function comparisonTable(comparison: CatalogComparison): string {
  const rows = [...comparison.rows]
    .sort((a, b) => Number(a.ok) - Number(b.ok))
    .map((r) => [r.ok ? "✅" : "❌", r.kind, r.name, r.expected, r.actual]);
  return [
    table(["", "Kind", "Name", "Manifest", "Restored"], rows),
    ...(comparison.notes.length ? ["", ...comparison.notes.map((n) => `- ${cell(n)}`)] : []),
  ].join("\n");
}

/** The job summary of a restore, also when it failed (the live database's state is stated either way). */
export function restoreSummary(
  outcome: { result: RestoreResult } | { error: Error; comparison?: CatalogComparison | undefined },
  database: string,
  guidance?: string,
): string {
  const tail = guidance
    ? ["", "### Point-in-time recovery", "", "```text", guidance.trimEnd(), "```", ""]
    : [];
  if ("error" in outcome) {
    return [
      `## ❌ Lifeline restore of ${cell(database)} failed`,
      "",
      `**Cause:** ${cell(outcome.error.message)}`,
      "",
      `The live database was not replaced: a restore only swaps in after it is complete and proven.`,
      ...(outcome.comparison
        ? ["", "### Comparison with the manifest", "", comparisonTable(outcome.comparison)]
        : []),
      ...tail,
      "",
    ].join("\n");
  }
  const r = outcome.result;
  return [
    `## ✅ Lifeline restore: ${cell(r.database)} from ${cell(r.source.fileName)}`,
    "",
    table(
      ["Detail", "Value"],
      [
        ["Source", r.source.uri],
        ["Taken", r.source.takenAt.toISOString()],
        ["SHA-256", `${r.sha256} (matches the sidecar)`],
        ["Pipeline", r.topology],
        ["Duration", `${formatDuration(r.durationSeconds)} (data ${formatDuration(r.proof.restoreSeconds)})`],
        [
          "Replaced database",
          r.previousDatabase
            ? `kept as ${r.previousDatabase}`
            : r.droppedPrevious
              ? "dropped (drop-old)"
              : "none existed",
        ],
      ],
    ),
    "",
    ...r.proof.warnings.flatMap((w) => [`> ⚠️ ${cell(w)}`, ""]),
    "### Comparison with the manifest",
    "",
    r.proof.comparison
      ? comparisonTable(r.proof.comparison)
      : "No manifest: only psql's success and the sha256 prove this restore.",
    ...tail,
    "",
  ].join("\n");
}

/** The job summary of a dry run: the plan as printed, and whether the restore would go ahead. */
export function restorePlanSummary(database: string, planText: string, ok: boolean): string {
  return [
    `## ${ok ? "🔎" : "❌"} Lifeline restore of ${cell(database)}: dry run, nothing was changed`,
    "",
    ok
      ? "Nothing found that would stop the restore."
      : "**The restore would not go ahead:** see Problems below.",
    "",
    "~~~~text",
    planText.trimEnd(),
    "~~~~",
    "",
  ].join("\n");
}
