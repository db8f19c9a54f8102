import { UserError } from "../shared/errors.js";

/** How long an operation whose signal fired may take to fail with its own, more specific, error. */
const SETTLE_GRACE_MS = 500;

/** A network operation that got no answer in time: says what it was, the bound and the setting behind it. */
export class DeadlineError extends UserError {
  override readonly name = "DeadlineError";
  constructor(
    /** What was waited for, e.g. "S3 check the bucket of s3://bucket/backups/". */
    readonly what: string,
    readonly timeoutMs: number,
    /** The setting that sets the bound, e.g. BACKUP_NETWORK_TIMEOUT_SECONDS. */
    readonly setting?: string,
  ) {
    super(`${what} got no answer within ${formatBound(timeoutMs, setting)}`);
  }
}

/** `2 s (BACKUP_NETWORK_TIMEOUT_SECONDS)`: the bound as messages quote it. */
export function formatBound(timeoutMs: number, setting?: string): string {
  const seconds = timeoutMs >= 1000 ? `${Math.round(timeoutMs / 100) / 10} s` : `${timeoutMs} ms`;
  return setting ? `${seconds} (${setting})` : seconds;
}

/** One signal that fires when any of the given ones does; undefined when none is given. */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const given = signals.filter((s): s is AbortSignal => s !== undefined);
  if (given.length <= 1) return given[0];
  return AbortSignal.any(given);
}

/** The error a fired signal stands for: its reason when that is an Error (a DeadlineError, the run's cancellation). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new UserError(`Cancelled (${String(reason)})`);
}

export interface DeadlineOptions {
  /** The run's signal (SIGINT/SIGTERM) and any other that should end the operation early. */
  readonly signal?: AbortSignal | undefined;
  /** The setting that sets `timeoutMs`, named in the error. */
  readonly setting?: string;
}

/**
 * Runs one network operation under a deadline: `operation` gets a signal that fires after `timeoutMs`
 * or when `options.signal` does, and the returned promise settles by then (plus a short grace for the
 * operation's own error) even when the operation ignores its signal — nothing waits on a silent server
 * beyond the bound. Rejects with a DeadlineError on timeout, with the signal's reason when cancelled.
 */
export async function withDeadline<T>(
  what: string,
  timeoutMs: number,
  operation: (signal: AbortSignal) => Promise<T>,
  options: DeadlineOptions = {},
): Promise<T> {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`withDeadline: timeoutMs must be a positive number, got ${timeoutMs}`);
  }
  const outer = options.signal;
  if (outer?.aborted) throw abortReason(outer);
  const controller = new AbortController();
  const { signal } = controller;
  let grace: NodeJS.Timeout | undefined;
  let giveUp: (reason: Error) => void = () => {};
  // Settles when the bound passed (after a grace for the operation's own, more specific, error) or at
  // once when the outer signal fired: then the caller has its own error to give.
  const abandoned = new Promise<never>((_, reject) => {
    giveUp = reject;
  });
  abandoned.catch(() => {});
  const timer = setTimeout(() => {
    const reason = new DeadlineError(what, timeoutMs, options.setting);
    controller.abort(reason);
    grace = setTimeout(() => giveUp(reason), SETTLE_GRACE_MS);
  }, timeoutMs);
  const onOuterAbort = () => {
    const reason = abortReason(outer as AbortSignal);
    controller.abort(reason);
    giveUp(reason);
  };
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  try {
    return await Promise.race([
      operation(signal).catch((err: unknown) => {
        // An SDK's bare AbortError says less than why its signal fired (the deadline, the cancellation);
        // an error that already explains itself (a UserError naming the destination) is kept.
        throw signal.aborted && !(err instanceof UserError) ? abortReason(signal) : err;
      }),
      abandoned,
    ]);
  } finally {
    clearTimeout(timer);
    if (grace) clearTimeout(grace);
    outer?.removeEventListener("abort", onOuterAbort);
  }
}
