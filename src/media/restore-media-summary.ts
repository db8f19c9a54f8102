import { cell, formatBytes, formatDuration, table } from "../summary/markdown.js";
import type { MediaRestoreResult } from "./restore-media.js";

/** Names listed in the summary per list; the log has every one. */
const LISTED = 20;

function listed(title: string, names: readonly string[]): string[] {
  if (names.length === 0) return [];
  const shown = names.slice(0, LISTED).map((n) => `- ${cell(n)}`);
  const more = names.length > LISTED ? [`- … and ${names.length - LISTED} more (see the log)`] : [];
  return [`### ${title}`, "", ...shown, ...more, ""];
}

/** The job summary of a media restore, also when it failed or was refused (what was written is stated). */
export function restoreMediaSummary(outcome: { result: MediaRestoreResult } | { error: Error }): string {
  if ("error" in outcome) {
    return [
      "## ❌ Lifeline media restore failed",
      "",
      `**Cause:** ${cell(outcome.error.message)}`,
      "",
      "A refused restore (existing files, a symlink in the target, a manifest that does not match its " +
        "checksum, an unsafe path) writes nothing. A restore stopped later leaves the entries already " +
        "placed, each complete and checked, and no temporary file.",
      "",
    ].join("\n");
  }
  const r = outcome.result;
  const ok = r.exitCode === 0;
  const what = r.restorePath === undefined ? "" : ` ${cell(r.restorePath)} of`;
  return [
    `## ${ok ? "✅" : "❌"} Lifeline media restore:${what} ${cell(r.snapshot)} into ${cell(r.targetDir)}`,
    "",
    table(
      ["Detail", "Value"],
      [
        ["Snapshot", r.snapshot],
        ["Target", r.targetDir],
        ["Path", r.restorePath ?? "the whole snapshot"],
        ["Files", `${r.files} (${formatBytes(r.bytes)}), each SHA-256 checked against the manifest`],
        ["Hard links", r.hardLinks],
        ["Symlinks", r.symlinks],
        ["Directories", r.dirs],
        ["Failed", r.failed.length],
        ["Skipped (no data in the snapshot)", r.skipped.length],
        ["Duration", formatDuration(r.durationSeconds)],
      ],
    ),
    "",
    ...listed("Failed: not placed (the snapshot's copy does not match its manifest)", r.failed),
    ...listed("Skipped: the snapshot has no data for these", r.skipped),
  ].join("\n");
}
