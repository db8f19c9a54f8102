import { UserError } from "../shared/errors.js";

/** A failure at one destination: the message names the destination, the object and what to do. */
export class DestinationError extends UserError {
  override readonly name = "DestinationError";
  constructor(
    /** The object's or bucket's URI, e.g. `s3://bucket/backups/postgres/x.sql.gz`. */
    readonly where: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** The network-level error code buried in an SDK error (its own code or a cause's), if any. */
export function networkCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) return e.code;
    const errors = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(errors)) {
      const inner = errors.map(networkCode).find((c) => c !== undefined);
      if (inner) return inner;
    }
    e = e.cause as typeof e;
  }
  return undefined;
}

/** The message of an SDK error, one line, without the noise some SDKs put around it. */
export function briefly(err: unknown): string {
  const e = err as { message?: unknown; name?: unknown; code?: unknown };
  const message =
    typeof e?.message === "string" && e.message.trim() !== "" ? e.message : String(e?.name ?? err);
  return message.split("\n")[0]?.slice(0, 300) ?? message;
}

/**
 * Whether a failed write was refused because an object of that name already exists (the conditional
 * write's 412 / 409), looking through the causes a store wraps around the SDK's error.
 */
export function isAlreadyThere(err: unknown): boolean {
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && depth < 5; depth++) {
    const meta = e.$metadata as { httpStatusCode?: unknown } | undefined;
    const status = meta?.httpStatusCode ?? e.statusCode ?? e.code;
    if (status === 412 || status === 409 || e.name === "PreconditionFailed" || e.code === "BlobAlreadyExists")
      return true;
    e = e.cause as Record<string, unknown> | undefined;
  }
  return false;
}
