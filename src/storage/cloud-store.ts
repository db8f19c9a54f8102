import { PassThrough, type Readable } from "node:stream";
import type { Logger } from "../log/logger.js";
import { abortReason, anySignal, DeadlineError, formatBound, withDeadline } from "../net/deadline.js";
import { DestinationError, networkCode } from "./destination-error.js";
import type { GetTextOptions, StoredObject, StreamUpload } from "./store.js";
import { NETWORK_TIMEOUT_SETTING } from "./transfer.js";

/** Content type of backup data, unless the caller names one. */
export const DATA_CONTENT_TYPE = "application/octet-stream";
/** Content type of sidecars and manifests, unless the caller names one. */
export const TEXT_CONTENT_TYPE = "text/plain; charset=utf-8";

/** One request of a store: what it is called in a deadline message, and what a failure is reported as. */
export interface CloudStep {
  /** The provider's name for the request, e.g. `HeadObject`: "S3 HeadObject at … did not answer". */
  readonly what: string;
  /** What failed, in the error: "S3 stat failed for s3://…". */
  readonly action: string;
  /** The object concerned; undefined: the bucket or container itself. */
  readonly name?: string | undefined;
  /** Ends the request early besides the run's signal (e.g. the preflight's bound). */
  readonly signal?: AbortSignal | undefined;
}

/** One page of a listing: the objects on it and the token of the next page (undefined: the last). */
export interface ListingPage {
  readonly objects: readonly StoredObject[];
  readonly next: string | undefined;
}

/** A numeric field of an SDK error (an HTTP status, as GCS's `code` or Azure's `statusCode`), if it is one. */
export function numberAt(err: unknown, field: string): number | undefined {
  const value = (err as Record<string, unknown> | undefined)?.[field];
  return typeof value === "number" ? value : undefined;
}

/**
 * The first `limit` bytes of a stream (all of it when shorter); the stream is destroyed as soon as
 * they arrived, so a provider that ignored the byte range sends no more than that into memory.
 */
export async function readAtMost(stream: Readable, limit = Number.POSITIVE_INFINITY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      chunks.push(bytes);
      total += bytes.length;
      if (total >= limit) break;
    }
  } finally {
    stream.destroy();
  }
  const all = Buffer.concat(chunks, total);
  return total > limit ? all.subarray(0, limit) : all;
}

/** Whether a ranged read failed only because the object is empty (HTTP 416: it has no byte 0). */
function isUnsatisfiableRange(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: unknown }; name?: unknown; code?: unknown } | undefined;
  return (
    e?.$metadata?.httpStatusCode === 416 ||
    numberAt(err, "statusCode") === 416 ||
    e?.code === 416 ||
    e?.name === "InvalidRange" ||
    e?.code === "InvalidRange"
  );
}

/** A stored object from what a provider reports, leaving out the class and checksum it did not report. */
export function storedObject(
  name: string,
  sizeBytes: number,
  lastModified: Date,
  storageClass: string | undefined,
  sha256: string | undefined,
): StoredObject {
  return {
    name,
    sizeBytes,
    lastModified,
    ...(storageClass ? { storageClass } : {}),
    ...(sha256 !== undefined ? { sha256 } : {}),
  };
}

/**
 * What S3, GCS and Azure stores do alike: URIs under a location, requests under the network deadline
 * and the run's signal, errors that name the destination and say what to do, listings page by page,
 * and streamed uploads that leave nothing behind when aborted. A store adds its SDK's calls and the
 * advice for its provider's own errors.
 */
export abstract class CloudStore {
  constructor(
    /** "S3", "GCS", "Azure": how messages name the provider. */
    private readonly provider: string,
    readonly location: string,
    /** The settings that say where the endpoint is, named when it does not answer. */
    private readonly endpointSettings: string,
    private readonly requestTimeoutMs: number,
    protected readonly logger?: Logger,
    /** The run's signal: every request ends when it fires. */
    protected readonly signal?: AbortSignal,
  ) {}

  /** The endpoint as messages name it, e.g. `AWS S3` or `http://127.0.0.1:9000`. */
  protected abstract get endpoint(): string;

  /** Advice for an error that is neither a deadline nor a network failure. */
  protected abstract advice(action: string, name: string | undefined, err: unknown): string;

  /** Whether an error means "no such object" (a stat, a small read, a delete of a missing name). */
  protected abstract isMissing(err: unknown): boolean;

  uri(name: string): string {
    return `${this.location}${name}`;
  }

  /**
   * One request under the network deadline and the run's signal (plus `signal`, e.g. the preflight's
   * bound): it never waits on a silent endpoint beyond the bound. Cleanup after a failed or cancelled
   * upload is `detached` from the run's signal: it must still remove what the upload left.
   */
  protected timed<T>(
    what: string,
    request: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    detached = false,
  ): Promise<T> {
    return withDeadline(`${this.provider} ${what} at ${this.endpoint}`, this.requestTimeoutMs, request, {
      signal: detached ? signal : anySignal(this.signal, signal),
      setting: NETWORK_TIMEOUT_SETTING,
    });
  }

  /** Turns an SDK error into one that names the destination and says what to do. */
  protected explain(action: string, name: string | undefined, err: unknown): Error {
    // A cancelled run is reported as such (the adapters exit for it), not as this destination's failure.
    if (this.signal?.aborted) return abortReason(this.signal);
    const where = name === undefined ? this.location : this.uri(name);
    const net = networkCode(err);
    let advice: string;
    if (err instanceof DeadlineError) {
      advice = `${this.endpoint} did not answer within ${formatBound(err.timeoutMs, err.setting)}: check ${this.endpointSettings} and the network`;
    } else if (net) {
      advice = `cannot reach ${this.endpoint} (${net}): check ${this.endpointSettings} and the network`;
    } else {
      advice = this.advice(action, name, err);
    }
    return new DestinationError(where, `${this.provider} ${action} failed for ${where}: ${advice}`, {
      cause: err,
    });
  }

  /** One timed request whose failure is explained. */
  protected async call<T>(step: CloudStep, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await this.timed(step.what, request, step.signal);
    } catch (err) {
      throw this.explain(step.action, step.name, err);
    }
  }

  /** As `call`, but a missing object is undefined rather than an error. */
  protected async callUnlessMissing<T>(
    step: CloudStep,
    request: (signal: AbortSignal) => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await this.timed(step.what, request, step.signal);
    } catch (err) {
      if (this.isMissing(err)) return undefined;
      throw this.explain(step.action, step.name, err);
    }
  }

  /**
   * A small object as UTF-8 (see BackupStore.getText): `read` requests bytes 0..`last` (inclusive;
   * undefined: the whole object) and returns the body as a stream. With `maxBytes`, at most
   * `maxBytes` + 1 bytes are requested and read, so a huge object swapped in never fills memory.
   */
  protected async rangedText(
    name: string,
    options: GetTextOptions,
    read: (signal: AbortSignal, last: number | undefined) => Promise<Readable>,
  ): Promise<string | undefined> {
    const { maxBytes } = options;
    try {
      const body = await this.timed("download", async (s) =>
        readAtMost(await read(s, maxBytes), (maxBytes ?? Number.POSITIVE_INFINITY) + 1),
      );
      return body.toString("utf8");
    } catch (err) {
      if (this.isMissing(err)) return undefined;
      if (maxBytes !== undefined && isUnsatisfiableRange(err)) return "";
      throw this.explain("download", name, err);
    }
  }

  /** Every object of a listing, page by page, each page under its own deadline (a long listing is not one request). */
  protected async listPages(
    page: (token: string | undefined) => Promise<ListingPage>,
  ): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    try {
      let token: string | undefined;
      do {
        const got = await page(token);
        out.push(...got.objects);
        token = got.next;
      } while (token);
    } catch (err) {
      throw this.explain("list", undefined, err);
    }
    return out;
  }

  /**
   * A streamed upload: `transfer` sends what is written into the body and settles when the provider
   * has it. It fails as soon as the transfer does; removing its leftovers is `abort`'s job, which the
   * caller runs: it stops the transfer (`stop`, then the body is destroyed with the reason — an
   * error, not a plain end, which would complete the upload with partial data), waits for it to
   * settle and runs `cleanup`.
   */
  protected streamedUpload(
    name: string,
    transfer: (body: PassThrough) => Promise<unknown>,
    cleanup: () => Promise<void>,
    stop?: () => void,
  ): StreamUpload {
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    let aborted: Error | undefined;
    const done = transfer(body).then(
      () => undefined,
      (err: unknown) => {
        throw aborted ?? this.explain("upload", name, err);
      },
    );
    done.catch(() => {}); // the caller awaits it; until then a rejection is not unhandled
    return {
      name,
      stream: body,
      done,
      abort: async (reason: Error) => {
        aborted ??= reason;
        stop?.();
        body.destroy(reason);
        await done.catch(() => {});
        await cleanup();
      },
    };
  }
}
