import { randomBytes } from "node:crypto";
import type { Readable, Writable } from "node:stream";

/** Where a backup can live: the local directory or one of the three clouds. */
export type StoreKind = "local" | "s3" | "gcs" | "azure";

/** One stored object (or file) under a store's prefix. */
export interface StoredObject {
  /** Name relative to the store's prefix, e.g. `transcripts_daily_20241026_020000.sql.gz`. */
  readonly name: string;
  readonly sizeBytes: number;
  readonly lastModified: Date;
  /** Storage class / access tier as the provider reports it, when it does. */
  readonly storageClass?: string;
  /** The SHA-256 recorded on the object itself (metadata or tag), when present and asked for. */
  readonly sha256?: string;
}

/** How much of a small object `getText` may read. */
export interface GetTextOptions {
  /**
   * Read at most this many bytes plus one (a byte range in a bucket, a bounded read of a file): text
   * longer than `maxBytes` bytes means the object is larger than the caller accepts, and no more
   * than that arrived. Unbounded when absent.
   */
  readonly maxBytes?: number;
}

export interface PutOptions {
  readonly contentType?: string;
  /** The size the data is expected to have (e.g. the previous backup's), to size multipart parts. */
  readonly expectedBytes?: number | undefined;
  /** Aborting cancels the transfer and removes whatever was partly stored. */
  readonly signal?: AbortSignal;
  /**
   * An upload is stored in the configured storage class / tier (the data); `readable` stores it in
   * the default one instead, as `put` always does: for indexes and manifests that must be readable
   * without a restore request even when the data sits in GLACIER or Archive.
   */
  readonly readable?: boolean;
}

/** Bytes `start` (inclusive) to `end` (exclusive) of an object. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * A streamed upload in progress: write the bytes into `stream` (with backpressure), end it, then
 * await `done`. `abort` cancels it and leaves nothing behind (no object, no multipart parts, no
 * open resumable session) as far as the provider allows; it never throws.
 */
export interface StreamUpload {
  readonly name: string;
  readonly stream: Writable;
  readonly done: Promise<void>;
  abort(reason: Error): Promise<void>;
}

/**
 * The one storage interface behind backup-db, verify, restore and retention. Names are relative to
 * the store's prefix (a key prefix in a bucket, or a directory); the store owns the URI scheme.
 */
export interface BackupStore {
  readonly kind: StoreKind;
  /** For messages and summaries: `s3://bucket/backups/postgres/`, `/backups/daily/`. */
  readonly location: string;
  /** Full URI of one name, e.g. `gs://bucket/backups/postgres/x.sql.gz`. */
  uri(name: string): string;
  /**
   * Proves before any dump that the destination exists, the credentials work and we may write
   * there (a tiny probe object is written and removed). Throws a UserError naming the destination.
   * `signal` (the preflight's bound) ends it early, as the store's own signal (the run's) does.
   */
  preflight(signal?: AbortSignal): Promise<void>;
  /** Starts a streamed upload of `name` with the store's storage class. */
  upload(name: string, options?: PutOptions): Promise<StreamUpload>;
  /** Stores a small object in one request (sidecars, manifests). */
  put(name: string, body: string | Buffer, options?: PutOptions): Promise<void>;
  /** Records the data's SHA-256 on the object itself (metadata; on S3 an object tag). */
  recordChecksum(name: string, sha256: string): Promise<void>;
  /** Every object under the prefix (not below sub-prefixes), in no particular order. */
  list(): Promise<StoredObject[]>;
  /** Metadata of one object, or undefined when it does not exist. */
  stat(name: string): Promise<StoredObject | undefined>;
  /** Reads an object (or, with `range`, only those bytes of it) as a stream. */
  get(name: string, signal?: AbortSignal, range?: ByteRange): Promise<Readable>;
  /**
   * Reads a small object (sidecar, manifest) as UTF-8, whole or up to `maxBytes` + 1 bytes;
   * undefined when it does not exist.
   */
  getText(name: string, options?: GetTextOptions): Promise<string | undefined>;
  /** Deletes an object; a missing one is not an error. */
  delete(name: string, signal?: AbortSignal): Promise<void>;
}

/** Parses `s3://bucket/key`, `gs://bucket/key`, `azure://container/key` or a local path. */
export function parseBackupUri(
  uri: string,
): { kind: Exclude<StoreKind, "local">; bucket: string; key: string } | { kind: "local"; path: string } {
  const m = /^(s3|gs|azure):\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) return { kind: "local", path: uri };
  const kind = m[1] === "gs" ? "gcs" : (m[1] as "s3" | "azure");
  return { kind, bucket: m[2] as string, key: m[3] as string };
}

/** Proves we may write under the store's prefix: a tiny probe object is written, then deleted. */
export async function probeWrite(
  store: Pick<BackupStore, "put" | "delete">,
  signal?: AbortSignal,
): Promise<void> {
  const probe = `.lifeline-write-probe-${randomBytes(6).toString("hex")}`;
  await store.put(probe, "lifeline write probe\n", signal ? { signal } : {});
  await store.delete(probe, signal);
}

/** Advice for a name that is not in a store: what exists can be listed. */
export const MISSING_OBJECT_ADVICE =
  "it does not exist: list what there is with restore's list-backups (the input 'list-backups' of the restore action, or 'lifeline restore --list-backups')";
