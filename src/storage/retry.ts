import { setTimeout as sleep } from "node:timers/promises";

export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Delay before the second attempt; doubles each time (with ±25 % jitter), capped at `maxDelayMs`. */
  readonly baseDelayMs: number;
  readonly maxDelayMs?: number;
  /** Whether an error is worth another attempt; by default every error is. */
  readonly retryable?: (err: unknown) => boolean;
  readonly signal?: AbortSignal;
  /** Called before each new attempt, e.g. to log it. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `operation` until it succeeds or the attempts run out, backing off exponentially with jitter.
 * Used for the few calls the SDKs do not retry on their own terms: cleanup after a failed upload must
 * outlast a server that is restarting.
 */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  if (!Number.isInteger(options.attempts) || options.attempts < 1) {
    throw new TypeError(`withRetry: attempts must be a whole number ≥ 1, got ${options.attempts}`);
  }
  let delay = options.baseDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (err) {
      const retryable = options.retryable?.(err) ?? true;
      if (attempt >= options.attempts || !retryable || options.signal?.aborted) throw err;
      const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
      options.onRetry?.(err, attempt, jittered);
      await sleep(jittered, undefined, options.signal ? { signal: options.signal } : undefined);
      delay = Math.min(delay * 2, options.maxDelayMs ?? 30_000);
    }
  }
}
