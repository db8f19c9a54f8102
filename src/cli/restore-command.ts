import { createInterface } from "node:readline/promises";
import { type BackupEntry, backupStores, listBackups } from "../catalog/backup-source.js";
import { isMedia } from "../config/media-config.js";
import {
  isListOnly,
  loadListConfig,
  loadRestoreConfig,
  RESTORE_SETTINGS,
  type RestoreConfig,
} from "../config/restore-config.js";
import { COMMON_EXIT_HELP } from "../process/exit-status.js";
import { NoBackupBeforeTargetError, pitrGuidance } from "../restore/pitr.js";
import { chooseBackup, restoreDatabase } from "../restore/restore-db.js";
import { planRestore, restorePlanText } from "../restore/restore-plan.js";
import { backupListText, listedBackup } from "../restore/restore-summary.js";
import { UserError } from "../shared/errors.js";
import { settingsHelp, startCommand } from "./args.js";
import { runRestoreMedia } from "./restore-media-run.js";
import type { Command } from "./run-record.js";

export const RESTORE_HELP = `Usage: lifeline restore [options]

Restores a backup over the database in DATABASE_URL (runbook: restore_db.sh) without risking it: the
backup is restored into a new database, proven against its .sha256 sidecar and manifest (schemas,
tables and row counts, sequences, extensions), and only then swapped in by renaming. The replaced
database is kept as <db>_pre_restore_<time> unless --drop-old. A failed restore changes nothing.

  lifeline restore --list-backups [--json]
  lifeline restore --backup-file /backups/daily/transcripts_daily_20241026_020000.sql.gz [--force]
  lifeline restore --pitr --target-time '2024-10-26 01:30:00'
  lifeline restore --backup-file <path> --dry-run   print the plan (and with --pitr the WAL guidance); change nothing

On a terminal you are asked to type the database name; --force skips that, --confirm <db> answers it.
Without a terminal, one of them is required.

With --media, restores a media snapshot of MEDIA_BACKUP_DIR instead (the database is not touched):
the whole snapshot or --restore-path of it into --target-dir, every file checked against the
manifest's SHA-256; existing files are refused unless --overwrite; nothing is written outside the
target, nor through a symlink.

  lifeline restore --media --target-dir /restore/data [--snapshot media_20261202_030000] [--restore-path uploads/2026]

Options:
${settingsHelp(RESTORE_SETTINGS)}
  --json                         with --list-backups: print JSON on stdout
  --help                         show this help

Exit status: 0 restored (or listed, or a dry run found nothing in the way); 1 failed or refused (or the dry
run found a problem), nothing replaced; ${COMMON_EXIT_HELP}
`;

const RESTORE_COMMAND = { settings: RESTORE_SETTINGS, switches: ["json"], help: RESTORE_HELP };

/** Asks the operator to type the database name; true only for an exact match. */
async function askOnTerminal(database: string, entry: BackupEntry): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `This replaces the database "${database}" with ${entry.fileName} (taken ${entry.takenAt.toISOString()}).\n` +
        `The current one is kept as ${database}_pre_restore_<time>. Type the database name to go on: `,
    );
    return answer.trim() === database;
  } finally {
    rl.close();
  }
}

/**
 * The runbook's confirmation: `--confirm <db>` must name the database; else `--force`; else a terminal
 * where the operator types it. Without any of these, refuse before anything is touched.
 */
export async function confirmRestore(
  config: RestoreConfig,
  entry: BackupEntry,
  isTerminal: boolean,
  ask: (database: string, entry: BackupEntry) => Promise<boolean> = askOnTerminal,
): Promise<void> {
  if (config.confirm !== undefined) {
    if (config.confirm === config.database) return;
    throw new UserError(
      `RESTORE_CONFIRM (--confirm) is '${config.confirm}' but the target database is '${config.database}': nothing was restored. Give the target's exact name`,
    );
  }
  if (config.force) return;
  if (!isTerminal) {
    throw new UserError(
      `Refusing to replace the database '${config.database}' without confirmation, and there is no terminal to ask on: ` +
        `add --confirm ${config.database} (or --force, as in the runbook). Nothing was changed`,
    );
  }
  if (!(await ask(config.database, entry))) {
    throw new UserError(`The name typed did not match '${config.database}': nothing was restored`);
  }
}

/** `lifeline restore`: returns the exit code. */
export const restoreCommand: Command = async (argv, logger, signal, out, record) => {
  const started = startCommand(argv, RESTORE_COMMAND, { logger, out, record });
  if (!started) return 0;
  const { lookup, switches } = started;
  if (isMedia(lookup)) {
    record.type = "media";
    return runRestoreMedia(lookup, { logger, signal, out, json: switches.json === true });
  }
  const now = new Date();
  if (isListOnly(lookup)) {
    record.kind = undefined; // listing is not a restore: it records no metrics
    const { backupDir, prefix, destinations } = loadListConfig(lookup);
    const entries = await listBackups(await backupStores(backupDir, destinations, logger), prefix);
    out.write(
      switches.json
        ? `${JSON.stringify(
            entries.map((e) => listedBackup(e, now)),
            null,
            2,
          )}\n`
        : backupListText(entries, now, backupDir),
    );
    return 0;
  }
  const config = loadRestoreConfig(lookup);
  if (config.dryRun) record.kind = undefined; // a dry run is not a restore: it records no metrics
  const entry = await chooseBackup(config).catch((err: unknown) => {
    if (err instanceof NoBackupBeforeTargetError) out.write(err.guidance);
    throw err;
  });
  if (config.dryRun) {
    const plan = await planRestore(config, entry, now);
    out.write(restorePlanText(plan));
    return plan.problems.length ? 1 : 0;
  }
  if (config.pitrTarget)
    logger.info(`--pitr: the newest backup before ${config.pitrTarget.toISOString()} is ${entry.uri}`);
  await confirmRestore(config, entry, process.stdin.isTTY === true && process.stderr.isTTY === true);
  const result = await restoreDatabase(config, entry, { logger, signal });
  out.write(
    `Restored "${result.database}" from ${entry.fileName}` +
      (result.previousDatabase ? `; the replaced database is kept as "${result.previousDatabase}"\n` : "\n"),
  );
  if (config.pitrTarget)
    out.write(`\n${pitrGuidance({ target: config.pitrTarget, restored: entry, database: config.database })}`);
  return 0;
};
