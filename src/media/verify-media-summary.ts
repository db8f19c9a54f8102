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
  if (!report.snapshots.length) {
    lines.push("No media snapshots found.", "");
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

/** A media verify run's report as `--json` prints it (dates as ISO strings). */
export function verifyMediaJson(report: MediaVerifyReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
