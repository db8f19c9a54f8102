import type { MetricsSettings } from "../config/backup-db-config.js";
import type { Logger } from "../log/logger.js";
import type { RunKind } from "../metrics/failed-run.js";

/**
 * What a failed run records and where: filled by `main` from the environment before anything can fail,
 * refined by the command as soon as its flags are parsed (backup-db --verify-only records verify's; a
 * run that records no metrics, e.g. restore --list-backups, clears it).
 */
export interface RunRecord {
  kind: RunKind | undefined;
  /** The `type` label of the failure's metrics: "database" unless the command says "media". */
  type?: string;
  settings: MetricsSettings;
}

/**
 * A CLI command: its arguments after the command name, the logger (stderr), the cancellation, stdout
 * for its result, and the failed run's record; resolves to the exit code.
 */
export type Command = (
  argv: readonly string[],
  logger: Logger,
  signal: AbortSignal,
  out: NodeJS.WritableStream,
  record: RunRecord,
) => Promise<number>;
