import { describe, expect, it } from "vitest";
import { DeadlineError, withDeadline } from "../../src/net/deadline.js";
import { UserError } from "../../src/shared/errors.js";

const never = () => new Promise<never>(() => {});

describe("withDeadline", () => {
  it("settles by the bound (plus a short grace) even when the operation ignores its signal", async () => {
    const started = Date.now();
    const err = await withDeadline("S3 HeadBucket at http://silent", 200, never, {
      setting: "BACKUP_NETWORK_TIMEOUT_SECONDS",
    }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(err).toBeInstanceOf(DeadlineError);
    expect((err as Error).message).toBe(
      "S3 HeadBucket at http://silent got no answer within 200 ms (BACKUP_NETWORK_TIMEOUT_SECONDS)",
    );
  });

  it("gives the run's cancellation reason at once when its signal fires", async () => {
    const run = new AbortController();
    setTimeout(() => run.abort(new UserError("Cancelled by SIGTERM")), 50);
    const started = Date.now();
    await expect(withDeadline("a push", 10_000, never, { signal: run.signal })).rejects.toThrow(
      "Cancelled by SIGTERM",
    );
    expect(Date.now() - started).toBeLessThan(500);
  });

  it("replaces an SDK's bare AbortError by the reason, keeps an error that explains itself", async () => {
    const honours = (signal: AbortSignal) =>
      new Promise<never>((_, reject) =>
        signal.addEventListener("abort", () =>
          reject(Object.assign(new Error("aborted"), { name: "AbortError" })),
        ),
      );
    await expect(withDeadline("x", 50, honours)).rejects.toBeInstanceOf(DeadlineError);
    const explains = (signal: AbortSignal) =>
      new Promise<never>((_, reject) =>
        signal.addEventListener("abort", () =>
          reject(new UserError("S3 check the bucket failed for s3://b/")),
        ),
      );
    await expect(withDeadline("x", 50, explains)).rejects.toThrow("S3 check the bucket failed for s3://b/");
  });

  it("returns the operation's result; a bound that is not positive is a TypeError", async () => {
    expect(await withDeadline("x", 60_000, async () => 42)).toBe(42);
    await expect(withDeadline("x", 0, async () => 1)).rejects.toThrow(TypeError);
  });
});
