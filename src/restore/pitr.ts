import type { BackupEntry } from "./backup-source.js";

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
}): string {
  const target = options.target
    .toISOString()
    .replace("T", " ")
    .replace(/\.000Z$/, " UTC");
  const restoredLine = options.restored
    ? `Restored "${options.database}" from ${options.restored.fileName}, taken ${options.restored.takenAt
        .toISOString()
        .replace("T", " ")
        .replace(/\.000Z$/, " UTC")}: the data is as it was then.`
    : `No backup was taken before ${target}: nothing was restored.`;
  const gap = options.restored
    ? `Changes between the backup and ${target} (${((options.target.getTime() - options.restored.takenAt.getTime()) / 3_600_000).toFixed(1)} h) are NOT in the restored database.`
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
