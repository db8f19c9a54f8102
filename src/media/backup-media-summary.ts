import { cell, formatBytes, formatDuration, table } from "../summary/markdown.js";
import type { BackupMediaResult } from "./backup-media.js";

function retentionLines(r: BackupMediaResult["retention"]): string[] {
  if ("skipped" in r) return [`**Retention:** skipped: ${cell(r.skipped)}.`];
  if ("error" in r) return [`**Retention:** FAILED: ${cell(r.error)}.`];
  const rows = [
    ...r.remove.map((x) => [
      x.name,
      r.dryRun ? "would remove (dry run)" : r.removed.includes(x.name) ? "removed" : "FAILED",
      x.why,
    ]),
    ...r.keep.map((x) => [x.name, "kept", x.why]),
  ];
  return [
    `**Retention${r.dryRun ? " (dry run)" : ""}:** ${r.removed.length} removed in ${formatDuration(r.seconds)}, ${r.keep.length} kept` +
      (r.failed.length > 0
        ? `, ${r.failed.length} FAILED: ${cell(r.failed.map((f) => `${f.name}: ${f.error}`).join("; "))}`
        : ""),
    "",
    table(["Snapshot", "Plan", "Why"], rows),
  ];
}

/** One row per bucket: what it got, what it already had, and how its retention went. */
function offsiteLines(reports: BackupMediaResult["offsite"]): string[] {
  if (reports.length === 0) return [];
  const rows = reports.map((o) => {
    const got =
      o.ok || o.stage === "retention"
        ? `${o.objects} objects, ${formatBytes(o.bytes)} new (+${formatBytes(o.metadataBytes)} manifest and index); ${o.reusedContents} contents already there`
        : "—";
    const retention =
      o.retention === undefined
        ? "—"
        : "error" in o.retention
          ? `FAILED: ${o.retention.error}`
          : "skipped" in o.retention
            ? `skipped: ${o.retention.skipped}`
            : `${o.retention.dryRun ? "would remove" : "removed"} ${o.retention.dryRun ? o.retention.remove.length : o.retention.removed.length} snapshot(s); ` +
              ("removed" in o.retention.gc
                ? `${o.retention.gc.removed.length} unused objects removed (${formatBytes(o.retention.gc.removedBytes)}), ${o.retention.gc.pendingObjects} (${formatBytes(o.retention.gc.pendingBytes)}) waiting out the grace period; ${o.retention.gc.liveObjects} in use (${formatBytes(o.retention.gc.liveBytes)})`
                : "plan" in o.retention.gc
                  ? `would remove ${o.retention.gc.plan.remove.length} unused objects`
                  : `garbage collection skipped: ${o.retention.gc.skipped}`);
    return [
      o.location,
      o.ok ? "✅" : `❌ ${o.stage ?? ""}: ${o.error ?? ""}`,
      got,
      o.knownFrom ?? "—",
      formatDuration(o.seconds),
      retention,
    ];
  });
  return [
    "**Off-site:**",
    "",
    table(["Bucket", "Result", "Uploaded", "Deduplicated against", "Time", "Retention"], rows),
    "",
  ];
}

/**
 * The job summary of a backup-media run: counts of new/changed/deleted/unchanged files, bytes copied
 * vs linked, throughput, the largest new files and the retention plan. Given an error, what failed.
 */
export function backupMediaSummary(outcome: { result: BackupMediaResult } | { error: Error }): string {
  if ("error" in outcome) {
    return [
      "## ❌ Lifeline backup-media failed",
      "",
      `**Cause:** ${cell(outcome.error.message)}`,
      "",
      "No snapshot was published: `current` and every earlier snapshot are as they were; the partial snapshot is removed (or by the next run); retention did not run.",
      "",
    ].join("\n");
  }
  const r = outcome.result;
  const t = r.totals;
  const rate = r.durationSeconds > 0 ? `${formatBytes(t.bytesCopied / r.durationSeconds)}/s` : "n/a";
  const lines = [
    r.exitCode === 0
      ? `## ✅ Lifeline backup-media: ${cell(r.snapshot)}`
      : t.errors === 0
        ? `## ❌ Lifeline backup-media: ${cell(r.snapshot)} published locally; ${r.offsite.filter((o) => !o.ok).length} bucket(s) FAILED`
        : `## ⚠️ Lifeline backup-media: ${cell(r.snapshot)} published, ${t.errors} entr${t.errors === 1 ? "y" : "ies"} could NOT be read`,
    "",
    table(
      ["", ""],
      [
        ["Snapshot", r.snapshotDir],
        ["Mode", r.mode === "full" ? "full (every file copied)" : `incremental against ${r.previous}`],
        ["Files", `${t.files} (${formatBytes(t.bytes)}), ${t.dirs} directories, ${t.symlinks} symlinks`],
        [
          "New / changed / deleted / unchanged",
          `${t.newFiles} / ${t.changedFiles} / ${t.deletedFiles} / ${t.unchangedFiles}`,
        ],
        ["Bytes copied / linked", `${formatBytes(t.bytesCopied)} / ${formatBytes(t.bytesLinked)}`],
        ["Duration, throughput", `${formatDuration(r.durationSeconds)}, ${rate} copied`],
        ["Manifest SHA-256", r.manifestSha256],
        ["Log", r.logFile],
      ],
    ),
    "",
  ];
  if (r.largestCopied.length > 0) {
    lines.push(
      "**Largest new or changed files:**",
      "",
      table(
        ["File", "Size"],
        r.largestCopied.map((f) => [f.path, formatBytes(f.size)]),
      ),
      "",
    );
  }
  const named = (title: string, list: readonly string[], count: number) => {
    if (count > 0)
      lines.push(
        `**${title} (${count}${count > list.length ? `, first ${list.length}` : ""}):** ${cell(list.join(", "))}`,
        "",
      );
  };
  named("Could not be read (not in the snapshot)", r.problems.unreadable, t.errors);
  named("Skipped (sockets, FIFOs, devices)", r.problems.skipped, t.skipped);
  named(
    "Changed while copied (the snapshot holds what was read)",
    r.problems.changedDuringBackup,
    t.changedDuringBackup,
  );
  lines.push(...offsiteLines(r.offsite));
  lines.push(...retentionLines(r.retention), "");
  return lines.join("\n");
}
