import { loadVerifyMediaConfig } from "../config/media-config.js";
import type { SettingLookup } from "../config/settings.js";
import type { Logger } from "../log/logger.js";
import { terminalProgress } from "../log/progress.js";
import { describeVerifyProgress } from "../media/media-progress.js";
import { verifyMedia } from "../media/verify-media.js";
import { verifyMediaJson, verifyMediaSummary } from "../media/verify-media-summary.js";

/** verify --media and backup-media --verify-only: the report on stdout, the reasons on stderr, the runbook's code. */
export async function runVerifyMedia(
  lookup: SettingLookup,
  io: { logger: Logger; signal: AbortSignal; out: NodeJS.WritableStream; json: boolean },
): Promise<number> {
  const progress = terminalProgress(process.stderr);
  let report: Awaited<ReturnType<typeof verifyMedia>>;
  try {
    report = await verifyMedia(loadVerifyMediaConfig(lookup), {
      logger: io.logger,
      signal: io.signal,
      onProgress: (p) => progress.update(describeVerifyProgress(p)),
    });
  } finally {
    progress.done();
  }
  for (const reason of report.reasons) io.logger.error(reason);
  io.out.write(io.json ? verifyMediaJson(report) : verifyMediaSummary(report));
  return report.exitCode;
}
