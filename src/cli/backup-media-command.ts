import { BACKUP_MEDIA_SETTINGS, loadBackupMediaConfig } from "../config/media-config.js";
import { require } from "../config/settings.js";
import { terminalProgress } from "../log/progress.js";
import { backupMedia } from "../media/backup-media.js";
import { describeBuildProgress, describeOffsiteProgress } from "../media/media-progress.js";
import { COMMON_EXIT_HELP } from "../process/exit-status.js";
import { settingsHelp, startCommand } from "./args.js";
import type { Command } from "./run-record.js";
import { runVerifyMedia } from "./verify-media-run.js";

export const BACKUP_MEDIA_HELP = `Usage: lifeline backup-media [options]

Takes a snapshot of MEDIA_SOURCE_DIR into MEDIA_BACKUP_DIR/media_<UTC time> (runbook: backup_media.sh):
a plain directory tree (restore with cp -a, or lifeline restore --media) with a manifest of every
entry's path, type, mode, owner, size, mtime and SHA-256. Incremental by default: a file unchanged
since the previous snapshot (same size, mtime, ctime and inode) is hard-linked to it and not read
again. The snapshot appears, and MEDIA_BACKUP_DIR/current moves to it, only when complete; then
snapshots older than MEDIA_RETENTION_DAYS are removed (never the newest complete one). With a bucket
configured (BACKUP_S3_BUCKET, BACKUP_GCS_BUCKET, BACKUP_AZURE_CONTAINER), the snapshot is then copied
to each under MEDIA_REMOTE_PREFIX: only contents the bucket lacks, small files packed, the snapshot's
sums written last; each bucket gets the same retention, and unused data is collected after
MEDIA_GC_GRACE_HOURS. Restore from a bucket with lifeline restore --media --media-from s3|gcs|azure. With
--verify-only, verifies the snapshots instead, as \`lifeline verify --media\` does.
Every option can also be given by its environment variable; a flag wins over the variable.

  lifeline backup-media
  lifeline backup-media --full
  lifeline backup-media --verify-only --read-data-subset 10%

Options:
${settingsHelp(BACKUP_MEDIA_SETTINGS)}
  --json                         print the result as JSON on stdout
  --help                         show this help

Exit status: 0 snapshot written (verify-only: all good); 1 failed, or written but some files could not
be read (named; the snapshot holds the rest; verify-only: a snapshot failed verification); 2
verify-only: newest snapshot too old or none; ${COMMON_EXIT_HELP}
`;

const COMMAND = { settings: BACKUP_MEDIA_SETTINGS, switches: ["json"], help: BACKUP_MEDIA_HELP };

/** `lifeline backup-media`: returns the exit code. */
export const backupMediaCommand: Command = async (argv, logger, signal, out, record) => {
  record.type = "media";
  const started = startCommand(argv, COMMAND, { logger, out, record });
  if (!started) return 0;
  const { lookup, switches } = started;
  if (require(BACKUP_MEDIA_SETTINGS.verifyOnly, lookup)) {
    record.kind = "verify"; // --verify-only is verify --media: verify's metrics, failed or not
    return runVerifyMedia(lookup, { logger, signal, out, json: switches.json === true });
  }
  const progress = terminalProgress(process.stderr);
  let result: Awaited<ReturnType<typeof backupMedia>>;
  try {
    result = await backupMedia(loadBackupMediaConfig(lookup), {
      logger,
      signal,
      onProgress: (p) => progress.update(describeBuildProgress(p)),
      onUploadProgress: (p) => progress.update(describeOffsiteProgress(p)),
    });
  } finally {
    progress.done();
  }
  out.write(switches.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.snapshotDir}\n`);
  for (const o of result.offsite.filter((r) => !r.ok)) {
    logger.error(`Off-site copy to ${o.location} failed (${o.stage}): ${o.error}`);
  }
  if (result.totals.errors > 0) {
    logger.error(
      `The snapshot ${result.snapshot} was published without ${result.totals.errors} entr${result.totals.errors === 1 ? "y" : "ies"} that could not be read: ` +
        result.problems.unreadable.join(", "),
    );
  }
  return result.exitCode;
};
