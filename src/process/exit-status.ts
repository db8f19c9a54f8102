import { CancelledError, ConfigError, UsageError } from "../shared/errors.js";

/**
 * Every exit status of Lifeline's commands, CLI and actions alike (README "Exit status"). verify's 1 and
 * 2 are the runbook's; 64 and 78 are sysexits' EX_USAGE and EX_CONFIG; 130 and 143 what shells report
 * for a process ended by SIGINT and SIGTERM (128 + signal number).
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  tooOldOrMissing: 2,
  usage: 64,
  config: 78,
  sigint: 130,
  sigterm: 143,
} as const;

/** The lines every command's --help ends with: the statuses shared by all commands. */
export const COMMON_EXIT_HELP =
  "64 invalid usage (unknown flag or command); 78 invalid configuration (a setting missing or malformed);\n" +
  "130 cancelled by SIGINT; 143 cancelled by SIGTERM.";

/**
 * The exit status of a run that threw `err`. A cancelled run (its AbortSignal raised by SIGINT or
 * SIGTERM) is 130/143 whatever was thrown on the way out: a cancelled run is never a success.
 */
export function exitStatusOf(err: unknown, signal?: AbortSignal): number {
  const cancelled = cancellationOf(err, signal);
  if (cancelled) return cancelled.signalName === "SIGINT" ? EXIT.sigint : EXIT.sigterm;
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof ConfigError) return EXIT.config;
  return EXIT.failed;
}

/** The cancellation behind a run's end, if it was cancelled: the signal's reason, or the error itself. */
export function cancellationOf(err: unknown, signal?: AbortSignal): CancelledError | undefined {
  if (signal?.aborted && signal.reason instanceof CancelledError) return signal.reason;
  return err instanceof CancelledError ? err : undefined;
}
