import { isMedia } from "../config/media-config.js";
import { loadVerifyConfig, VERIFY_SETTINGS } from "../config/verify-config.js";
import { COMMON_EXIT_HELP } from "../process/exit-status.js";
import { verifyBackups } from "../verify/verify-backups.js";
import { verifyBackupsSummary } from "../verify/verify-summary.js";
import { settingsHelp, startCommand } from "./args.js";
import type { Command } from "./run-record.js";
import { runVerifyMedia } from "./verify-media-run.js";

export const VERIFY_HELP = `Usage: lifeline verify [options]

Verifies every backup under BACKUP_DIR/{daily,weekly,monthly} (runbook: verify_backup.sh): the .sha256
sidecar, a full streamed decompression, gpg decryption when a secret key is at hand, pg_dump's
completion marker, and the manifest. With --test-restore, also restores the newest good backup (or
--backup-file) into a scratch database, compares it with its manifest (schemas, tables and row counts,
sequences, extensions), runs the --check-sql checks, and drops the scratch database.

  lifeline verify
  lifeline verify --test-restore --check-sql checks.sql
  lifeline verify --max-age-hours 48
  lifeline verify --media [--read-data-subset 10%]   the media snapshots of MEDIA_BACKUP_DIR instead

Options:
${settingsHelp(VERIFY_SETTINGS)}
  --json                         print the report as JSON on stdout
  --help                         show this help

Exit status (0-2 are the runbook's): 0 all verifications passed; 1 verification failures; 2 backups
too old or missing; ${COMMON_EXIT_HELP}
`;

const VERIFY_COMMAND = { settings: VERIFY_SETTINGS, switches: ["json"], help: VERIFY_HELP };

/** `lifeline verify`: returns the runbook's exit code. */
export const verifyCommand: Command = async (argv, logger, signal, out, record) => {
  const started = startCommand(argv, VERIFY_COMMAND, { logger, out, record });
  if (!started) return 0;
  const { lookup, switches } = started;
  if (isMedia(lookup)) {
    record.type = "media";
    return runVerifyMedia(lookup, { logger, signal, out, json: switches.json === true });
  }
  const report = await verifyBackups(loadVerifyConfig(lookup), { logger, signal });
  for (const reason of report.reasons) logger.error(reason);
  if (switches.json) {
    out.write(
      `${JSON.stringify(
        {
          ...report,
          checks: report.checks.map(({ name, ...c }) => ({ ...c, tier: name.tier })),
        },
        null,
        2,
      )}\n`,
    );
  } else {
    out.write(verifyBackupsSummary(report));
  }
  return report.exitCode;
};
