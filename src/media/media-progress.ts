import { clock } from "../log/progress.js";
import { formatBytes } from "../summary/markdown.js";
import type { OffsiteProgress } from "./media-offsite.js";
import type { MediaRestoreProgress } from "./restore-media.js";
import type { BuildProgress } from "./snapshot-builder.js";
import type { MediaVerifyProgress } from "./verify-media.js";

/**
 * A backup's progress in words: entries done, bytes copied and linked, the copy rate, elapsed time and
 * an ETA from the previous snapshot's entry count (the best guess of this run's size).
 */
export function describeBuildProgress(p: BuildProgress & { readonly previousEntries?: number }): string {
  const rate = p.elapsedSeconds > 0 ? p.bytesCopied / p.elapsedSeconds : 0;
  let eta = "";
  if (p.previousEntries && p.entries > 0 && p.entries < p.previousEntries) {
    eta = `, ETA ${clock((p.elapsedSeconds / p.entries) * (p.previousEntries - p.entries))} (previous snapshot: ${p.previousEntries} entries)`;
  }
  return (
    `${p.entries} entries, ${formatBytes(p.bytesCopied)} copied (${formatBytes(rate)}/s), ` +
    `${formatBytes(p.bytesLinked)} linked, ${clock(p.elapsedSeconds)} elapsed${eta}`
  );
}

/** The off-site copies' progress in words: contents read for the buckets of those planned, rate, ETA. */
export function describeOffsiteProgress(p: OffsiteProgress): string {
  const rate = p.elapsedSeconds > 0 ? p.bytes / p.elapsedSeconds : 0;
  const eta = rate > 0 && p.bytes < p.of ? `, ETA ${clock((p.of - p.bytes) / rate)}` : "";
  return (
    `off-site (${p.buckets} bucket${p.buckets === 1 ? "" : "s"}): ${formatBytes(p.bytes)} of ${formatBytes(p.of)} sent ` +
    `(${formatBytes(rate)}/s), ${clock(p.elapsedSeconds)} elapsed${eta}`
  );
}

/** A verification's progress in words: which snapshot of how many, entries checked, bytes read and rate. */
export function describeVerifyProgress(p: MediaVerifyProgress): string {
  const rate = p.elapsedSeconds > 0 ? p.bytesRead / p.elapsedSeconds : 0;
  return (
    `snapshot ${p.index}/${p.snapshots} (${p.snapshot}): ${p.entries} entries, ${formatBytes(p.bytesRead)} read ` +
    `(${formatBytes(rate)}/s), ${clock(p.elapsedSeconds)} elapsed`
  );
}

/** A restore's progress in words: entries placed of those in scope, bytes written, rate, elapsed, ETA. */
export function describeRestoreProgress(p: MediaRestoreProgress): string {
  const rate = p.elapsedSeconds > 0 ? p.bytes / p.elapsedSeconds : 0;
  const eta =
    p.entries > 0 && p.entries < p.of
      ? `, ETA ${clock((p.elapsedSeconds / p.entries) * (p.of - p.entries))}`
      : "";
  return (
    `${p.entries}/${p.of} entries, ${formatBytes(p.bytes)} written (${formatBytes(rate)}/s), ` +
    `${clock(p.elapsedSeconds)} elapsed${eta}`
  );
}
