import { loadVerifyMediaConfig } from "../config/media-config.js";
import type { SettingLookup } from "../config/settings.js";
import type { Logger } from "../log/logger.js";
import { verifyMedia } from "../media/verify-media.js";
import { verifyMediaJson, verifyMediaSummary } from "../media/verify-media-summary.js";

/** verify --media and backup-media --verify-only: the report on stdout, the reasons on stderr, the runbook's code. */
export async function runVerifyMedia(
  lookup: SettingLookup,
  io: { logger: Logger; signal: AbortSignal; out: NodeJS.WritableStream; json: boolean },
): Promise<number> {
  const report = await verifyMedia(loadVerifyMediaConfig(lookup), { logger: io.logger, signal: io.signal });
  for (const reason of report.reasons) io.logger.error(reason);
  io.out.write(io.json ? verifyMediaJson(report) : verifyMediaSummary(report));
  return report.exitCode;
}
