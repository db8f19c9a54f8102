import type { BackupEntry } from "../catalog/backup-source.js";
import { UserError } from "../shared/errors.js";

const utc = (at: Date) =>
  at
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d{3}Z$/, " UTC");

/** `--pitr` found no backup at or before the target: says which is the oldest and what to do, with the guidance. */
export class NoBackupBeforeTargetError extends UserError {
  constructor(
    message: string,
    /** The WAL guidance for the target, to print beside the error. */
    readonly guidance: string,
  ) {
    super(message);
  }
}

/** The refusal of `--pitr` when nothing was taken at or before `target` in `where` (`all` = every backup seen). */
export function noBackupBeforeTarget(
  all: readonly BackupEntry[],
  target: Date,
  where: string,
  database: string,
  /** The caller's names for the settings the advice mentions. */
  names: { targetTime: string; backupFile: string; listBackups: string } = {
    targetTime: "--target-time",
    backupFile: "--backup-file",
    listBackups: "add --list-backups",
  },
): NoBackupBeforeTargetError {
  const oldest = oldestOf(all);
  const message = oldest
    ? `No backup in ${where} was taken at or before ${utc(target)}: the oldest of the ${all.length} there is ` +
      `${oldest.uri}, taken ${utc(oldest.takenAt)}. Nothing was restored. Either give ${/^[aeiou]/i.test(names.targetTime) ? "an" : "a"} ${names.targetTime} at or after ` +
      `${utc(oldest.takenAt)} (that restores the database as it was then), restore the oldest as it is with ` +
      `${names.backupFile} ${oldest.uri}, or look for an older copy (another bucket, a monthly/yearly tier elsewhere); ` +
      "a time before every dump can only be reached from a physical base backup plus WAL (see below)"
    : `No backups at all in ${where}${database ? ` for "${database}"` : ""}: nothing can be restored for ${utc(target)}. ` +
      `Check BACKUP_DIR, BACKUP_PREFIX and the bucket settings (to list them, ${names.listBackups})`;
  return new NoBackupBeforeTargetError(
    message,
    pitrGuidance({ target, restored: undefined, database, oldest }),
  );
}

const oldestOf = (entries: readonly BackupEntry[]): BackupEntry | undefined =>
  [...entries].sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime())[0];

/** The newest backup taken at or before `target` (by the time in its name), or undefined. */
export function newestBefore(entries: readonly BackupEntry[], target: Date): BackupEntry | undefined {
  return entries
    .filter((e) => e.takenAt.getTime() <= target.getTime())
    .sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime())[0];
}

/**
 * What an operator must know after `--pitr`: a logical dump restores the database as it was when the
 * dump's snapshot was taken, and nothing later. Reaching the target time needs a physical base backup
 * plus archived WAL, which pg_dump backups cannot supply. The text says exactly that, and how to set it up.
 */
export function pitrGuidance(options: {
  target: Date;
  restored: BackupEntry | undefined;
  database: string;
  /** A dry run: say what would be restored. */
  dryRun?: boolean | undefined;
  /** When nothing precedes the target: the oldest backup there is. */
  oldest?: BackupEntry | undefined;
}): string {
  const target = utc(options.target);
  const restored = options.restored;
  const restoredLine = restored
    ? options.dryRun
      ? `Would restore "${options.database}" from ${restored.fileName}, taken ${utc(restored.takenAt)} (dry run: nothing was changed).`
      : `Restored "${options.database}" from ${restored.fileName}, taken ${utc(restored.takenAt)}: the data is as it was then.`
    : options.oldest
      ? `No backup was taken before ${target}: nothing was restored. The oldest backup, ${options.oldest.fileName}, was taken ${utc(options.oldest.takenAt)}.`
      : `No backup was taken before ${target}: nothing was restored.`;
  const gap = restored
    ? `Changes between the backup and ${target} (${((options.target.getTime() - restored.takenAt.getTime()) / 3_600_000).toFixed(1)} h) are NOT in ${options.dryRun ? "what would be restored" : "the restored database"}.`
    : "";
  return `Point-in-time recovery to ${target}
${restoredLine}
${gap}

The honest limit: this backup is a logical dump (pg_dump). WAL cannot be replayed on top of it: replay
needs a physical base backup of the whole cluster (pg_basebackup) taken before the target, plus every WAL
segment from then to the target. Lifeline did not pretend to do that.

To be able to recover to any moment next time, on the PostgreSQL server:
  1. postgresql.conf:
       wal_level = replica
       archive_mode = on
       archive_command = 'test ! -f /backups/wal/%f && cp %p /backups/wal/%f'
     (restart the server; check pg_stat_archiver for failures)
  2. Take a base backup regularly:  pg_basebackup -D /backups/base/$(date +%Y%m%d) -Ft -z -X stream -P
To recover to ${target} from those:
  3. Stop PostgreSQL; move the data directory aside; unpack the newest base backup taken BEFORE the target.
  4. In postgresql.conf (PostgreSQL 12+):
       restore_command = 'cp /backups/wal/%f %p'
       recovery_target_time = '${target}'
       recovery_target_action = 'promote'
     and create an empty recovery.signal file in the data directory.
  5. Start PostgreSQL: it replays WAL up to ${target}, then promotes. Check the log for
     "recovery stopping before commit" and "archive recovery complete".
`;
}
