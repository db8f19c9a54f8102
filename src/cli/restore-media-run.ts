import { loadRestoreMediaConfig } from "../config/media-config.js";
import type { SettingLookup } from "../config/settings.js";
import type { Logger } from "../log/logger.js";
import { terminalProgress } from "../log/progress.js";
import { describeRestoreProgress } from "../media/media-progress.js";
import { restoreMedia } from "../media/restore-media.js";

/** restore --media: what was restored on stdout, the files that failed their checksum on stderr. */
export async function runRestoreMedia(
  lookup: SettingLookup,
  io: { logger: Logger; signal: AbortSignal; out: NodeJS.WritableStream; json: boolean },
): Promise<number> {
  const progress = terminalProgress(process.stderr);
  let result: Awaited<ReturnType<typeof restoreMedia>>;
  try {
    result = await restoreMedia(loadRestoreMediaConfig(lookup), {
      logger: io.logger,
      signal: io.signal,
      onProgress: (p) => progress.update(describeRestoreProgress(p)),
    });
  } finally {
    progress.done();
  }
  for (const failed of result.failed)
    io.logger.error(`Not restored (its SHA-256 does not match the manifest): ${failed}`);
  io.out.write(
    io.json
      ? `${JSON.stringify(result, null, 2)}\n`
      : `Restored ${result.files} files (${result.bytes} bytes), ${result.dirs} directories, ${result.symlinks} symlinks ` +
          `from ${result.snapshot} into ${result.targetDir}` +
          (result.failed.length > 0
            ? `; ${result.failed.length} FAILED their checksum and were not placed\n`
            : "\n"),
  );
  return result.exitCode;
}
