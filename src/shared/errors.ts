/**
 * An error the operator can fix: it names the input, what was wrong and what to do next.
 * Adapters print its message alone (no stack), and exit non-zero.
 */
export class UserError extends Error {
  override readonly name: string = "UserError";
}

/** Invalid configuration: a setting is missing or malformed. Adapters exit 78 (EX_CONFIG) for it. */
export class ConfigError extends UserError {
  override readonly name = "ConfigError";
}

/** A usage error on the command line: unknown flag or missing value. The CLI exits 64 (EX_USAGE). */
export class UsageError extends UserError {
  override readonly name = "UsageError";
}

export type StopSignal = "SIGINT" | "SIGTERM";

/**
 * The run was stopped by SIGINT or SIGTERM: never a success. It is the abort reason of the run's
 * AbortSignal, and what the engines throw when they see it; adapters exit 130 or 143 for it.
 */
export class CancelledError extends UserError {
  override readonly name = "CancelledError";
  constructor(
    readonly signalName: StopSignal,
    message = `Cancelled by ${signalName}`,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Throws when the run was cancelled: between steps, so that a cancelled run stops instead of going on
 * to a success. `what` says what was left undone ("the verification was cancelled; ...").
 */
export function throwIfCancelled(signal: AbortSignal | undefined, what: string): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  const name: StopSignal = reason instanceof CancelledError ? reason.signalName : "SIGTERM";
  throw new CancelledError(name, `${what} (${name})`, { cause: reason });
}
