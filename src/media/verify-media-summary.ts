import { cell, formatAge, formatBytes, formatDuration, table } from "../summary/markdown.js";
import type { MediaVerifyReport } from "./verify-media.js";

/**
 * The job summary (and the CLI's report) of a media verify run: the verdict and its reasons, a row per
 * snapshot, and the problems each failed snapshot named. Every name is escaped: core.summary does not.
 */
export function verifyMediaSummary(report: MediaVerifyReport): string {
  const good = report.snapshots.filter((s) => s.ok).length;
  const icon = report.exitCode === 0 ? "✅" : "❌";
  const age =
    report.newestAgeHours === undefined
      ? "no complete snapshot verified OK"
      : `newest complete snapshot ${formatAge(report.newestAgeHours)} old (limit ${report.maxAgeHours} h)`;
  const lines = [
    `## ${icon} Lifeline verify media: ${good} of ${report.snapshots.length} snapshots good, exit ${report.exitCode}`,
    "",
    `\`${cell(report.backupDir)}\`: current → ${cell(report.current ?? "none")}; ${age}; ` +
      `${formatDuration(report.durationSeconds)}`,
    "",
    ...(report.reasons.length ? [report.reasons.map((r) => `- ${cell(r)}`).join("\n"), ""] : []),
  ];
  lines.push(...remoteSection(report));
  if (!report.snapshots.length) {
    lines.push(report.remotes.length ? "No local media snapshots found." : "No media snapshots found.", "");
    return lines.join("\n");
  }
  lines.push(
    table(
      ["Snapshot", "Taken", "Result", "Files read", "Not read", "Bytes read", "Problems"],
      report.snapshots.map((s) => [
        s.name,
        s.takenAt.toISOString(),
        s.ok ? (s.incomplete ? "✅ OK (incomplete)" : "✅ OK") : "❌ FAILED",
        s.filesChecked,
        s.filesNotRead,
        formatBytes(s.bytesRead),
        s.problemCount,
      ]),
    ),
    "",
  );
  for (const s of report.snapshots.filter((x) => x.problems.length)) {
    lines.push(
      `### ${s.ok ? "⚠️" : "❌"} ${cell(s.name)}`,
      "",
      s.problems.map((p) => `- ${cell(p)}`).join("\n"),
      ...(s.problemCount > s.problems.length
        ? [`- … and ${s.problemCount - s.problems.length} more (see the log)`]
        : []),
      "",
    );
  }
  return lines.join("\n");
}

/** One table of every bucket's snapshots, and the problems the failed ones named. */
function remoteSection(report: MediaVerifyReport): string[] {
  if (!report.remotes.length) return [];
  const rows = report.remotes.flatMap((r) =>
    r.error
      ? [[r.location, "—", "❌ cannot be read", 0, 0, "—", 1]]
      : r.snapshots.map((s) => [
          r.location,
          s.name,
          s.ok ? (s.incomplete ? "✅ OK (incomplete)" : "✅ OK") : "❌ FAILED",
          s.contentsChecked,
          s.contentsNotRead,
          formatBytes(s.bytesRead),
          s.problemCount,
        ]),
  );
  const lines = [
    "### Buckets",
    "",
    table(["Bucket", "Snapshot", "Result", "Contents read", "Not read", "Bytes read", "Problems"], rows),
    "",
  ];
  for (const r of report.remotes) {
    if (r.unfinished.length)
      lines.push(
        `- ${cell(r.location)}: unfinished uploads (no sums file, not counted): ${cell(r.unfinished.join(", "))}`,
        "",
      );
    for (const s of r.snapshots.filter((x) => x.problems.length)) {
      lines.push(
        `#### ❌ ${cell(r.location)}${cell(s.name)}`,
        "",
        s.problems.map((p) => `- ${cell(p)}`).join("\n"),
        "",
      );
    }
  }
  return lines;
}

/** A media verify run's report as `--json` prints it (dates as ISO strings). */
export function verifyMediaJson(report: MediaVerifyReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
