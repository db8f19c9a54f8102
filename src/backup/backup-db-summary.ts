import path from "node:path";
import { cell, formatBytes, formatDuration, table } from "../summary/markdown.js";
import type { BackupDbResult } from "./backup-db.js";
import type { OffsiteReport } from "./offsite.js";

function sizeChange(current: number, previous: number | undefined): string {
  if (previous === undefined || previous === 0) return "first backup";
  const pct = ((current - previous) / previous) * 100;
  return `${pct >= 0 ? "+" : ""}${pct.toFixed(1)}% vs previous (${formatBytes(previous)})`;
}

/** What a run made up for at one destination: missing backups uploaded from BACKUP_DIR, and what is left. */
export function catchUpCell(o: OffsiteReport): string {
  const c = o.catchUp;
  if (!c) return "not run";
  const parts: string[] = [];
  if (c.uris.length > 0) {
    parts.push(
      `${c.uris.length} missing backup(s), ${formatBytes(c.bytes)}: ${c.uris.map((u) => u.slice(o.location.length)).join(", ")}`,
    );
  }
  if (c.left.length > 0)
    parts.push(`${c.left.length} left for the next runs (BACKUP_CATCHUP_MAX_FILES / _MB)`);
  if (c.notTried.length > 0)
    parts.push(`${c.notTried.length} not made up because of the failure, retried by the next run`);
  if (c.tooLarge.length > 0)
    parts.push(`${c.tooLarge.length} larger than BACKUP_CATCHUP_MAX_MB: ${c.tooLarge.join(", ")}`);
  if (c.skipped.length > 0) parts.push(`${c.skipped.length} not tried: ${c.skipped.join("; ")}`);
  if (c.error) parts.push(`failed: ${c.error}`);
  return parts.join("; ") || "nothing missing";
}

/**
 * The job summary of a backup-db run, in Markdown. Given an error instead of a result it still
 * explains the run: what failed and what to do.
 */
export function backupDbSummary(outcome: { result: BackupDbResult } | { error: Error }): string {
  if ("error" in outcome) {
    return [
      "## ❌ Lifeline backup-db failed",
      "",
      `**Cause:** ${cell(outcome.error.message)}`,
      "",
      "No backup file was written under a final name; earlier backups were not touched; retention did not run.",
      "",
    ].join("\n");
  }
  const r = outcome.result;
  const m = r.manifest;
  const ratio = r.sizeBytes > 0 && r.dumpBytes !== null ? (r.dumpBytes / r.sizeBytes).toFixed(2) : "n/a";
  const compression =
    m.format === "custom"
      ? `custom format, pg_dump gzip ${m.compression.level}`
      : `${m.compression.algorithm}${m.compression.algorithm === "none" ? "" : ` ${m.compression.level}`}`;
  const offsiteFailed = r.offsite.some((o) => !o.ok);
  const lines = [
    offsiteFailed
      ? `## ⚠️ Lifeline backup-db: ${cell(r.database)}: written locally, an off-site copy FAILED`
      : `## ✅ Lifeline backup-db: ${cell(r.database)}`,
    "",
    table(
      ["File", "Size", "Duration", "Throughput", "Compression", "Size trend"],
      [
        [
          path.basename(r.file),
          formatBytes(r.sizeBytes),
          formatDuration(r.durationSeconds),
          r.dumpBytes === null ? "n/a" : `${formatBytes(r.dumpBytes / r.durationSeconds)}/s of dump`,
          `${compression}, ${ratio}×${r.dumpBytes === null ? "" : ` (${formatBytes(r.dumpBytes)} dumped)`}`,
          sizeChange(r.sizeBytes, r.previousSizeBytes),
        ],
      ],
    ),
    "",
    table(
      ["Detail", "Value"],
      [
        ["Tiers written", r.tiers.map((t) => `${t.tier}: ${path.basename(t.file)}`).join("; ")],
        [
          "Encryption",
          m.encryption ? `GPG to ${m.encryption.recipient} (${m.encryption.fingerprint})` : "none",
        ],
        ["SHA-256", r.sha256],
        [
          "Tables / rows",
          `${m.catalog.tables.length} tables, ${m.catalog.rowCounts === "off" ? "rows not counted" : `${m.catalog.tables.reduce((n, t) => n + (t.rows ?? 0), 0)} rows (${m.catalog.rowCounts})`}`,
        ],
        ["Server", `PostgreSQL ${r.server.version}`],
        ["pg_dump", `${r.pgDump.version} (${r.pgDump.path})`],
        [
          "Metrics",
          [
            r.metrics.pushgateway && `Pushgateway: ${r.metrics.pushgateway}`,
            r.metrics.textfile && `textfile: ${r.metrics.textfile}`,
          ]
            .filter(Boolean)
            .join("; ") || "not configured",
        ],
        ["Started", r.startedAt.toISOString()],
      ],
    ),
    "",
  ];
  if (r.offsite.length > 0) {
    lines.push(
      "### Off-site copies",
      "",
      table(
        ["Destination", "Result", "Objects", "Bytes", "Time", "Caught up", "Remote retention"],
        r.offsite.map((o) => [
          o.location,
          o.ok
            ? "✅ stored, sidecar + manifest + checksum metadata"
            : o.stage === "catch-up"
              ? `❌ today's copy stored, but making up missing backups failed: ${o.error ?? ""}`
              : `❌ ${o.stage === "preflight" ? "not usable before the dump" : "upload failed"}: ${o.error ?? ""}`,
          o.uris.map((u) => u.slice(o.location.length)).join(", ") || "none",
          formatBytes(o.bytes),
          formatDuration(o.seconds),
          catchUpCell(o),
          !o.retention
            ? "not run"
            : "error" in o.retention
              ? `failed: ${o.retention.error}`
              : `${o.retention.dryRun ? "dry run, would delete" : "deleted"} ${o.retention.plans.flatMap((p) => p.decisions.filter((d) => d.action === "delete")).length}, kept ${o.retention.plans.flatMap((p) => p.decisions.filter((d) => d.action === "keep")).length}`,
        ]),
      ),
      "",
    );
  }
  if ("error" in r.retention) {
    lines.push(`### ⚠️ Retention failed`, "", cell(r.retention.error), "");
  } else {
    const rows = r.retention.plans.flatMap((p) =>
      p.decisions.map((d) => [
        p.tier,
        d.backup.fileName,
        d.action === "delete" && r.retention && "dryRun" in r.retention && r.retention.dryRun
          ? "would delete"
          : d.action,
        d.reason,
      ]),
    );
    lines.push(
      `### Retention${"dryRun" in r.retention && r.retention.dryRun ? " (dry run: nothing deleted)" : ""}`,
      "",
      rows.length ? table(["Tier", "Backup", "Action", "Why"], rows) : "No backups to consider.",
      "",
    );
  }
  return lines.join("\n");
}
