import path from "node:path";
import { comparisonTable } from "../restore/restore-summary.js";
import { cell, formatAge, formatBytes, formatDuration, table } from "../summary/markdown.js";
import type { VerifyBackupsReport } from "./verify-backups.js";
import type { FileCheck } from "./verify-file.js";

/** One row per backup checked: where it is, what passed, why it failed. */
export function fileChecksTable(checks: readonly FileCheck[]): string {
  if (!checks.length) return "No backups found.";
  return table(
    ["Backup", "Where", "Tier", "Size", "Result", "Checked", "Notes"],
    checks.map((c) => [
      path.basename(c.file),
      c.file.includes("://")
        ? c.file.slice(0, c.file.length - path.basename(c.file).length)
        : path.dirname(c.file),
      c.name.tier,
      formatBytes(c.sizeBytes),
      c.ok ? "✅ OK" : `❌ ${c.problem}`,
      c.passed.join(", "),
      c.notes.join("; "),
    ]),
  );
}

/** The job summary of a verify run: a row per backup checked, tier ages, and the test restore's comparison. */
export function verifyBackupsSummary(report: VerifyBackupsReport): string {
  const icon = report.exitCode === 0 ? "✅" : "❌";
  const lines = [
    `## ${icon} Lifeline verify: ${report.checks.filter((c) => c.ok).length} of ${report.checks.length} backups good, exit ${report.exitCode}`,
    "",
    ...(report.reasons.length ? [report.reasons.map((r) => `- ${cell(r)}`).join("\n"), ""] : []),
    table(
      ["Where", "Tier", "Newest good backup", "Age", "Limit", ""],
      report.ages.map((a) => [
        a.location,
        a.tier,
        a.newest ?? "none",
        a.ageHours === undefined ? "—" : formatAge(a.ageHours),
        `${a.limitHours} h`,
        a.ok ? "✅" : "❌",
      ]),
    ),
    "",
    fileChecksTable(report.checks),
    "",
  ];
  const t = report.testRestore;
  if (t) {
    lines.push(
      `### ${t.ok ? "✅" : "❌"} Test restore of ${cell(t.backup)}`,
      "",
      `Scratch database \`${cell(t.database)}\`${t.dropped ? ", dropped afterwards" : ""}` +
        (t.proof
          ? `; restored in ${formatDuration(t.proof.restoreSeconds)} via ${cell(t.proof.topology)}`
          : ""),
      "",
      ...(t.proof?.warnings ?? []).flatMap((w) => [`> ⚠️ ${cell(w)}`, ""]),
      ...(t.problems.length ? [t.problems.map((p) => `- ${cell(p)}`).join("\n"), ""] : []),
      t.proof?.comparison ? comparisonTable(t.proof.comparison) : "No manifest to compare with.",
      "",
    );
    if (t.proof?.checks.length) {
      lines.push(
        table(
          ["", "SQL check", "Result"],
          t.proof.checks.map((c) => [c.ok ? "✅" : "❌", c.sql, c.detail]),
        ),
        "",
      );
    }
  }
  return lines.join("\n");
}

/** A verify run's report as `--json` prints it: each check names its tier instead of the parsed name. */
export function verifyReportJson(report: VerifyBackupsReport): string {
  const checks = report.checks.map(({ name, ...c }) => ({ ...c, tier: name.tier }));
  return `${JSON.stringify({ ...report, checks }, null, 2)}\n`;
}
