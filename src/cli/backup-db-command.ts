import { backupDatabase } from "../backup/backup-db.js";
import { BACKUP_DB_SETTINGS, loadBackupDbConfig } from "../config/backup-db-config.js";
import { environmentLookup, firstOf } from "../config/settings.js";
import type { Logger } from "../log/logger.js";
import { parseFlags, settingsHelp } from "./args.js";

export const BACKUP_DB_HELP = `Usage: lifeline backup-db [options]

Takes a PostgreSQL backup into BACKUP_DIR/daily (runbook: backup_db.sh):
pg_dump → gzip → file in one streamed pass, with a .sha256 sidecar and a .manifest.json.
Every option can also be given by its environment variable; a flag wins over the variable.

Options:
${settingsHelp(BACKUP_DB_SETTINGS)}
  --json                         print the result as JSON on stdout
  --help                         show this help

Exit status: 0 backup written; 1 backup failed (cause on stderr); 64 invalid usage.
`;

/** `lifeline backup-db`: returns the exit code. */
export async function backupDbCommand(
  argv: readonly string[],
  logger: Logger,
  signal: AbortSignal,
  out: NodeJS.WritableStream,
): Promise<number> {
  const { lookup, switches } = parseFlags(argv, BACKUP_DB_SETTINGS, ["json", "help"]);
  if (switches.help) {
    out.write(BACKUP_DB_HELP);
    return 0;
  }
  const config = loadBackupDbConfig(firstOf(lookup, environmentLookup(process.env)));
  const result = await backupDatabase(config, { logger, signal });
  if (switches.json) {
    out.write(
      `${JSON.stringify(
        {
          file: result.file,
          sha256: result.sha256,
          sizeBytes: result.sizeBytes,
          dumpBytes: result.dumpBytes,
          durationSeconds: result.durationSeconds,
          sidecarFile: result.sidecarFile,
          manifestFile: result.manifestFile,
          logFile: result.logFile,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    out.write(`${result.file}\n`);
  }
  return 0;
}
