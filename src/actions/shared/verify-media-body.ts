import * as core from "@actions/core";
import { loadVerifyMediaConfig } from "../../config/media-config.js";
import type { SettingLookup } from "../../config/settings.js";
import type { Logger } from "../../log/logger.js";
import { periodicLog } from "../../log/progress.js";
import { describeVerifyProgress } from "../../media/media-progress.js";
import { verifyMedia } from "../../media/verify-media.js";
import { verifyMediaSummary } from "../../media/verify-media-summary.js";
import { throwIfCancelled } from "../../shared/errors.js";

/** verify with `media` and backup-media with `verify-only`: outputs, the runbook's exit code, the summary. */
export async function verifyMediaBody(
  lookup: SettingLookup,
  logger: Logger,
  signal: AbortSignal,
): Promise<string> {
  const progress = periodicLog(logger);
  const report = await verifyMedia(loadVerifyMediaConfig(lookup), {
    logger,
    signal,
    onProgress: (p) => progress.update(describeVerifyProgress(p)),
  });
  throwIfCancelled(signal, "The verification was cancelled");
  core.setOutput("verified-count", String(report.snapshots.filter((s) => s.ok).length));
  core.setOutput("failed-count", String(report.snapshots.filter((s) => !s.ok).length));
  core.setOutput(
    "newest-age-hours",
    report.newestAgeHours === undefined ? "" : report.newestAgeHours.toFixed(2),
  );
  core.setOutput("exit-code", String(report.exitCode));
  if (report.exitCode !== 0) {
    core.setFailed(report.reasons.join("; "));
    process.exitCode = report.exitCode; // the runbook's codes: 1 failures, 2 too old or missing
  }
  return verifyMediaSummary(report);
}
