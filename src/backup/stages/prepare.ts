import path from "node:path";
import { formatTimestamp } from "../../catalog/backup-name.js";
import {
  ensureWritableDirectory,
  removeOrphanCompanions,
  removeStalePartials,
} from "../../fs/atomic-file.js";
import { DirectoryLock } from "../../fs/dir-lock.js";
import { FileSink, type Logger } from "../../log/logger.js";

/** Where and as whom a run works: the backup directory, the tier folder it writes, the lock's owner. */
export interface PrepareOptions {
  readonly backupDir: string;
  /** The folder under `backupDir` the run writes into ("daily"). */
  readonly workDir: string;
  /** How an error names `workDir` ("Backup directory"). */
  readonly workDirWhat: string;
  /** The day's log file is `logs/<logName>_<yyyymmdd>.log`. */
  readonly logName: string;
  /** Who holds the lock, as the lock file says ("backup-db"). */
  readonly owner: string;
  readonly startedAt: Date;
  readonly logger: Logger;
}

/** A prepared run: its directories checked, its day's log file open, the backup directory locked. */
export interface PreparedRun {
  readonly workDir: string;
  readonly logFile: string;
  /** Writes the run's error to the day's log file (the adapter reports it to the operator). */
  recordFailure(err: unknown): void;
  /** Releases the lock and closes the log file; the run's last step, failed or not. */
  release(): Promise<void>;
}

/**
 * The first stage of a run: checks that the backup directory, its work folder and `logs/` are
 * writable, logs to the day's file from then on, and takes the directory's lock (held until
 * `release`). A refused lock is written to the log file and leaves nothing held.
 */
export async function prepare(options: PrepareOptions): Promise<PreparedRun> {
  const { backupDir, logger } = options;
  const workDir = path.join(backupDir, options.workDir);
  const logsDir = path.join(backupDir, "logs");
  await ensureWritableDirectory(backupDir, "BACKUP_DIR");
  await ensureWritableDirectory(workDir, options.workDirWhat);
  await ensureWritableDirectory(logsDir, "Log directory");
  const logFile = path.join(
    logsDir,
    `${options.logName}_${formatTimestamp(options.startedAt).slice(0, 8)}.log`,
  );
  const fileSink = new FileSink(logFile);
  logger.addSink(fileSink);
  const recordFailure = (err: unknown): void => {
    try {
      fileSink.write("error", logger.redact((err as Error).message), new Date());
    } catch {} // a log file that cannot be written (full disk) must not hide the run's own error
  };
  let lock: DirectoryLock;
  try {
    lock = await DirectoryLock.acquire(backupDir, options.owner, logger);
  } catch (err) {
    recordFailure(err);
    logger.removeSink(fileSink);
    throw err;
  }
  return {
    workDir,
    logFile,
    recordFailure,
    release: async () => {
      await lock.release();
      logger.removeSink(fileSink);
    },
  };
}

/**
 * Removes what an earlier run that died left in `dir`: partial files, and companions (suffixes such as
 * the manifest's and sidecar's) whose entry is missing. Only under the lock, so that nothing of them
 * is being written now.
 */
export async function removeLeftovers(
  dir: string,
  companionSuffixes: readonly string[],
  isEntry: (file: string) => boolean,
  logger: Logger,
): Promise<void> {
  for (const stale of await removeStalePartials(dir)) {
    logger.warn(`Removed a partial file left by an earlier run that died: ${stale}`);
  }
  // Companions published before a crash kept their backup from being published; we hold the lock, so
  // none is being published now: any older than this moment whose backup is missing is such an orphan.
  for (const orphan of await removeOrphanCompanions(dir, companionSuffixes, new Date(), isEntry)) {
    logger.warn(`Removed ${orphan}: its backup file is missing (an earlier run died while publishing it)`);
  }
}
