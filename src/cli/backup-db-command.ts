import { backupDatabase } from "../backup/backup-db.js";
import {
  BACKUP_DB_SETTINGS,
  isVerifyOnly,
  loadBackupDbConfig,
  loadVerifyOnlyConfig,
} from "../config/backup-db-config.js";
import { metricsSettings } from "../config/restore-config.js";
import { COMMON_EXIT_HELP } from "../process/exit-status.js";
import { verifyLocalBackups } from "../verify/verify-backups.js";
import { verifyBackupsSummary, verifyReportJson } from "../verify/verify-summary.js";
import { settingsHelp, startCommand } from "./args.js";
import type { Command } from "./run-record.js";

export const BACKUP_DB_HELP = `Usage: lifeline backup-db [options]

Takes a PostgreSQL backup into BACKUP_DIR/daily (runbook: backup_db.sh): pg_dump → compression →
optional GPG → file in one streamed pass, with a .sha256 sidecar and a .manifest.json; files it as
weekly/monthly when due; applies retention. With --verify-only, verifies the backups in BACKUP_DIR
instead, as \`lifeline verify\` does: the same checks, age rules, metrics and summary; no buckets, no
test restore.
Every option can also be given by its environment variable; a flag wins over the variable.

Options:
${settingsHelp(BACKUP_DB_SETTINGS)}
  --json                         print the result as JSON on stdout
  --help                         show this help

Exit status: 0 backup written (verify-only: all good); 1 failed, or written locally but an off-site
copy failed (verify-only: a backup failed verification); 2 verify-only: newest backup too old or none;
${COMMON_EXIT_HELP}
`;

const BACKUP_DB_COMMAND = { settings: BACKUP_DB_SETTINGS, switches: ["json"], help: BACKUP_DB_HELP };

/** `lifeline backup-db`: returns the exit code. */
export const backupDbCommand: Command = async (argv, logger, signal, out, record) => {
  const started = startCommand(argv, BACKUP_DB_COMMAND, { logger, out, record });
  if (!started) return 0;
  const { lookup, switches } = started;
  if (isVerifyOnly(lookup)) {
    record.kind = "verify"; // --verify-only is verify scoped to BACKUP_DIR: verify's metrics, failed or not
    const config = loadVerifyOnlyConfig(lookup);
    const metrics = metricsSettings(lookup);
    const report = await verifyLocalBackups(config.backupDir, { ...config, metrics, logger, signal });
    for (const reason of report.reasons) logger.error(reason);
    out.write(switches.json ? verifyReportJson(report) : verifyBackupsSummary(report));
    return report.exitCode;
  }
  const result = await backupDatabase(loadBackupDbConfig(lookup), { logger, signal });
  if (switches.json) {
    const { server: _s, pgDump: _p, manifest: _m, ...brief } = result;
    // Retention decisions carry their catalog entries, and those their store (an SDK client): named by location.
    const json = JSON.stringify(
      brief,
      (key, value: unknown) =>
        key === "store" && typeof value === "object" && value !== null && "location" in value
          ? (value as { location: string }).location
          : value,
      2,
    );
    out.write(`${json}\n`);
  } else {
    out.write(`${result.file}\n`);
  }
  const failed = result.offsite.filter((o) => !o.ok);
  for (const o of failed) {
    logger.error(
      `The backup is in ${result.file}, but its off-site copy to ${o.location} failed: ${o.error ?? "unknown error"}`,
    );
  }
  return failed.length > 0 ? 1 : 0;
};
