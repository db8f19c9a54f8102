import path from "node:path";
import type { BackupDbResult } from "../backup/backup-db.js";
import { cell, formatBytes, formatDuration, table } from "./markdown.js";

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
      "No backup file was written under a final name; earlier backups were not touched.",
      "",
    ].join("\n");
  }
  const r = outcome.result;
  const ratio = r.sizeBytes > 0 ? (r.dumpBytes / r.sizeBytes).toFixed(2) : "n/a";
  return [
    `## ✅ Lifeline backup-db: ${cell(r.database)}`,
    "",
    table(
      ["File", "Size", "Duration", "Throughput", "Compression"],
      [
        [
          path.basename(r.file),
          formatBytes(r.sizeBytes),
          formatDuration(r.durationSeconds),
          `${formatBytes(r.dumpBytes / r.durationSeconds)}/s of dump`,
          `gzip ${r.manifest.compression.level}, ${ratio}× (${formatBytes(r.dumpBytes)} uncompressed)`,
        ],
      ],
    ),
    "",
    table(
      ["Detail", "Value"],
      [
        ["Path", r.file],
        ["SHA-256", r.sha256],
        ["Server", `PostgreSQL ${r.server.version}`],
        ["pg_dump", `${r.pgDump.version} (${r.pgDump.path})`],
        ["Started", r.startedAt.toISOString()],
      ],
    ),
    "",
  ].join("\n");
}
