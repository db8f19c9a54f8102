import { createHash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { GpgEncryptor } from "../crypto/gpg.js";
import type { Logger } from "../log/logger.js";
import type { ChildStage } from "../process/child-stage.js";
import { throwIfCancelled, UserError } from "../shared/errors.js";
import { isAlreadyThere } from "../storage/destination-error.js";
import type { BackupStore } from "../storage/store.js";
import { ManifestReader, type MediaEntry } from "./manifest.js";
import { fsPath, showPath } from "./media-path.js";
import { ContentIndex, type ContentLocation, encodeObjectsFile } from "./remote-index.js";
import { blobName, packName, partName, sealKeyOf, sealKeyOfName } from "./remote-layout.js";
import { digestTap, encodeSums, type MediaRemote } from "./remote-store.js";
import { MANIFEST_FILE, TREE_DIR } from "./snapshot-name.js";

const CHUNK_BYTES = 1024 * 1024;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A file of the local snapshot that no longer matches its manifest: never uploaded, never a reason to reuse. */
export class LocalSnapshotChangedError extends UserError {
  override readonly name = "LocalSnapshotChangedError";
}

/** How contents are grouped into objects. */
export interface PackingRule {
  /** A pack is closed before a member would take it past this many bytes (one request when ≤ the part size). */
  readonly packTargetBytes: number;
  /** Files smaller than this are packed; larger ones are objects of their own (multipart when large). */
  readonly packedFileMaxBytes: number;
  /** Objects uploaded at once to one destination. */
  readonly objectsInFlight: number;
}

/**
 * Packs as large as one upload part (one PUT each), files up to a quarter of that packed. Two objects
 * in flight to a lone bucket; one each when several share the run (memory grows with the buckets).
 */
export function packingFor(partSizeBytes: number, buckets = 1): PackingRule {
  return {
    packTargetBytes: partSizeBytes,
    packedFileMaxBytes: Math.max(1, Math.floor(partSizeBytes / 4)),
    objectsInFlight: buckets > 1 ? 1 : 2,
  };
}

/** What the bucket is known to hold before the upload: a snapshot's index, or only its large files' names. */
export interface KnownContent {
  readonly index: ContentIndex;
  /** Large contents known by object name only (an encrypted index that could not be read). */
  readonly blobs: ReadonlyMap<string, number>;
  /** Where it came from, for the log and the summary. */
  readonly source: string;
}

export const NOTHING_KNOWN: KnownContent = { index: new ContentIndex(), blobs: new Map(), source: "none" };

export interface UploadedSnapshot {
  readonly location: string;
  readonly snapshot: string;
  /** Data objects written by this run (packs and large files), and their stored bytes. */
  readonly objects: number;
  readonly bytes: number;
  /** Contents not uploaded because the bucket had them; objects found already there (an earlier run's). */
  readonly reusedContents: number;
  readonly reusedObjects: number;
  /** Bytes of manifest, index, objects list and sums. */
  readonly metadataBytes: number;
  readonly seconds: number;
  /** The snapshot's index, for the local cache. */
  readonly index: ContentIndex;
  readonly indexText: string;
  readonly indexSha256: string;
}

interface Member {
  readonly entry: MediaEntry;
  readonly sha256: string;
}

type Job =
  | { readonly kind: "pack"; readonly members: Member[]; readonly bytes: number }
  | { readonly kind: "blob"; readonly member: Member };

/** A known location this run may point at: its object is sealed exactly as this run seals (same key, or plain). */
function usable(known: KnownContent, sha256: string, key: string | undefined): boolean {
  const at = known.index.get(sha256);
  if (at && sealKeyOfName(at.object) === key) return true;
  return known.blobs.has(blobName(sha256, key));
}

/** The contents of the snapshot the bucket does not hold, grouped into packs and large objects. */
function planJobs(
  manifestFile: string,
  known: KnownContent,
  rule: PackingRule,
  key: string | undefined,
): { jobs: Job[]; reused: number } {
  const jobs: Job[] = [];
  const seen = new Set<string>();
  let reused = 0;
  let pack: Member[] = [];
  let packBytes = 0;
  const reader = ManifestReader.open(manifestFile);
  try {
    for (let e = reader.next(); e !== undefined; e = reader.next()) {
      if (e.type !== "file" || e.sha256 === undefined || e.state === "unreadable") continue;
      if (seen.has(e.sha256)) continue;
      seen.add(e.sha256);
      if (usable(known, e.sha256, key)) {
        reused++;
        continue;
      }
      const member = { entry: e, sha256: e.sha256 };
      if (e.size >= rule.packedFileMaxBytes) {
        jobs.push({ kind: "blob", member });
        continue;
      }
      if (pack.length > 0 && packBytes + e.size > rule.packTargetBytes) {
        jobs.push({ kind: "pack", members: pack, bytes: packBytes });
        pack = [];
        packBytes = 0;
      }
      pack.push(member);
      packBytes += e.size;
    }
  } finally {
    reader.close();
  }
  if (pack.length > 0) jobs.push({ kind: "pack", members: pack, bytes: packBytes });
  return { jobs, reused };
}

export interface UploadOptions {
  readonly snapshotDir: string;
  readonly snapshot: string;
  readonly known: KnownContent;
  readonly rule: PackingRule;
  readonly encryptor?: GpgEncryptor | undefined;
  readonly logger: Logger;
  readonly signal?: AbortSignal | undefined;
  readonly onBytes?: (bytes: number) => void;
  /** Told once, before the first byte: how many bytes of contents this upload will read. */
  readonly onPlanned?: (bytes: number) => void;
}

/**
 * Uploads one local snapshot to one bucket: the contents it lacks (packs of small files, large files on
 * their own), then the snapshot's index, objects list and manifest, and its sums file last — only the
 * sums file makes the snapshot exist there, so a run that dies leaves no snapshot pointing at missing
 * data. Every file is read from the local snapshot and checked against the manifest's SHA-256 on the
 * way; one that does not match fails the upload (the local snapshot was changed after it was taken).
 */
export async function uploadSnapshot(remote: MediaRemote, o: UploadOptions): Promise<UploadedSnapshot> {
  const started = Date.now();
  const manifestFile = path.join(o.snapshotDir, MANIFEST_FILE);
  const tree = path.join(o.snapshotDir, TREE_DIR);
  const encrypted = o.encryptor !== undefined;
  const key = o.encryptor ? sealKeyOf(o.encryptor.fingerprint) : undefined;
  const { jobs, reused } = planJobs(manifestFile, o.known, o.rule, key);
  o.onPlanned?.(jobs.reduce((a, j) => a + (j.kind === "pack" ? j.bytes : j.member.entry.size), 0));
  const written = new ContentIndex();
  let objects = 0;
  let bytes = 0;
  let reusedObjects = 0;
  const store = remote.data;

  const runJob = async (job: Job): Promise<void> => {
    throwIfCancelled(o.signal, "The media upload was cancelled");
    const members = job.kind === "pack" ? job.members : [job.member];
    const name =
      job.kind === "pack"
        ? packName(
            members.map((m) => ({ sha256: m.sha256, size: m.entry.size })),
            key,
          )
        : blobName(job.member.sha256, key);
    const size = job.kind === "pack" ? job.bytes : job.member.entry.size;
    const stored = await putObject(store, name, (sink) => writeMembers(tree, members, sink, o), {
      expectedBytes: size,
      encryptor: o.encryptor,
      logger: o.logger,
      onBytes: o.onBytes,
      holdsMembers: (signal) => holdsMembers(store, name, members, signal),
    });
    if (stored.existed) reusedObjects++;
    else {
      objects++;
      bytes += stored.bytes;
    }
    written.addObject(name, stored.bytes);
    let offset = 0;
    for (const m of members) {
      written.add(m.sha256, { object: name, offset, length: m.entry.size });
      offset += m.entry.size;
    }
  };
  await runLimited(jobs, o.rule.objectsInFlight, runJob);

  // The snapshot's own index: every content it references, wherever it is.
  const index = new ContentIndex();
  const reader = ManifestReader.open(manifestFile);
  let errors = 0;
  try {
    for (let e = reader.next(); e !== undefined; e = reader.next()) {
      if (e.state === "unreadable") errors++;
      if (e.type !== "file" || e.sha256 === undefined || e.state === "unreadable" || index.has(e.sha256))
        continue;
      const location = locate(e, written, o.known, key);
      index.add(e.sha256, location);
      const objectBytes =
        written.objectSize(location.object) ??
        o.known.index.objectSize(location.object) ??
        o.known.blobs.get(location.object);
      if (objectBytes === undefined) throw new Error(`no stored size for ${location.object}`);
      index.addObject(location.object, objectBytes);
    }
  } finally {
    reader.close();
  }
  const indexText = index.encode(o.snapshot);
  const indexSha256 = sha256Of(indexText);
  const sums = new Map<string, string>();
  let metadataBytes = 0;
  const putPart = async (
    part: "manifest" | "index" | "objects",
    produce: (sink: Writable) => Promise<void>,
  ) => {
    const name = partName(o.snapshot, part, encrypted && part !== "objects");
    const stored = await putObject(remote.snapshots, name, produce, {
      readable: true,
      encryptor: part === "objects" ? undefined : o.encryptor,
      logger: o.logger,
      refuseExisting: true,
    });
    sums.set(name, stored.sha256);
    metadataBytes += stored.bytes;
  };
  await putPart("index", (sink) => writeText(sink, indexText));
  await putPart("objects", (sink) =>
    writeText(
      sink,
      encodeObjectsFile({ snapshot: o.snapshot, indexSha256, errors, objects: new Map(index.objects()) }),
    ),
  );
  await putPart("manifest", (sink) => pipeline(createReadStream(manifestFile), sink, { end: false }));
  const sumsText = encodeSums(sums);
  await remote.snapshots.put(partName(o.snapshot, "sums", false), sumsText);
  metadataBytes += Buffer.byteLength(sumsText);
  return {
    location: remote.location,
    snapshot: o.snapshot,
    objects,
    bytes,
    reusedContents: reused,
    reusedObjects,
    metadataBytes,
    seconds: (Date.now() - started) / 1000,
    index,
    indexText,
    indexSha256,
  };
}

function locate(
  e: MediaEntry,
  written: ContentIndex,
  known: KnownContent,
  key: string | undefined,
): ContentLocation {
  const sha = e.sha256 as string;
  const found = written.get(sha) ?? known.index.get(sha);
  if (found && sealKeyOfName(found.object) === key) return found;
  const name = blobName(sha, key);
  if (known.blobs.has(name)) return { object: name, offset: 0, length: e.size };
  throw new Error(`the content of ${showPath(e.path)} was neither uploaded nor known to the bucket`);
}

export const sha256Of = (text: string): string => createHash("sha256").update(text).digest("hex");

async function writeText(sink: Writable, text: string): Promise<void> {
  for (let i = 0; i < text.length; i += CHUNK_BYTES) {
    if (!sink.write(text.slice(i, i + CHUNK_BYTES))) await drained(sink);
  }
}

function drained(sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      sink.off("drain", onDrain);
      sink.off("error", onError);
      sink.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => settle();
    const onError = (err: Error) => settle(err);
    const onClose = () => settle(new Error("the upload stream was closed"));
    sink.once("drain", onDrain);
    sink.once("error", onError);
    sink.once("close", onClose);
  });
}

/** Streams each member from the local snapshot's tree, hashing it: a member that does not match its manifest fails. */
async function writeMembers(
  tree: string,
  members: readonly Member[],
  sink: Writable,
  o: UploadOptions,
): Promise<void> {
  for (const m of members) {
    throwIfCancelled(o.signal, "The media upload was cancelled");
    const file = fsPath(tree, m.entry.path);
    const handle = await open(file, READ_FLAGS).catch((err: unknown) => {
      throw new LocalSnapshotChangedError(
        `${showPath(m.entry.path)} cannot be read from the local snapshot ${path.dirname(tree)} (${(err as Error).message}): ` +
          "it was changed after the snapshot was taken; run verify --media, then back up again",
      );
    });
    try {
      const hash = createHash("sha256");
      let position = 0;
      for (;;) {
        // A fresh buffer per read: the sink may hold the last one until the upload has sent it.
        const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(1, m.entry.size - position + 1)));
        const { bytesRead } = await handle.read(buf, 0, buf.length, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        if (position > m.entry.size) break;
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        if (!sink.write(chunk)) await drained(sink);
        o.onBytes?.(bytesRead);
      }
      const sha = position === m.entry.size ? hash.digest("hex") : "";
      if (sha !== m.sha256) {
        throw new LocalSnapshotChangedError(
          `${showPath(m.entry.path)} in the local snapshot ${path.dirname(tree)} no longer matches its manifest ` +
            `(${position} bytes${sha ? `, sha256 ${sha}` : ""}; the manifest says ${m.entry.size} bytes, ${m.sha256}): ` +
            "it was changed after the snapshot was taken, and is not uploaded. Run verify --media, then back up again",
        );
      }
    } finally {
      await handle.close();
    }
  }
}

interface PutObjectOptions {
  readonly expectedBytes?: number;
  readonly readable?: boolean;
  readonly encryptor?: GpgEncryptor | undefined;
  readonly logger: Logger;
  readonly onBytes?: ((bytes: number) => void) | undefined;
  /** Metadata parts: an object already there under the name is an error, not a reuse. */
  readonly refuseExisting?: boolean;
  /** Reads an object found already there and says whether it holds exactly these members (plain objects). */
  readonly holdsMembers?: (signal?: AbortSignal) => Promise<boolean>;
}

/**
 * One object written from what `produce` writes (through gpg when encrypting), never over an existing
 * one. A data object that turns out to exist already (an earlier run uploaded the same pack or file,
 * then died before its snapshot was complete) is kept and counted as reused.
 */
async function putObject(
  store: BackupStore,
  name: string,
  produce: (sink: Writable) => Promise<void>,
  options: PutObjectOptions,
): Promise<{ bytes: number; sha256: string; existed: boolean }> {
  const upload = await store.upload(name, {
    ...(options.expectedBytes !== undefined ? { expectedBytes: options.expectedBytes } : {}),
    ...(options.readable ? { readable: true } : {}),
  });
  const counter = digestTap();
  let gpg: ChildStage | undefined;
  try {
    const into = pipeline(counter, upload.stream);
    into.catch(() => {}); // awaited below; on an early failure the abort settles it
    if (options.encryptor) {
      gpg = options.encryptor.start();
      const stdin = gpg.stdin as Writable;
      const fed = (async () => {
        await produce(stdin);
        stdin.end();
      })();
      await Promise.all([fed, pipeline(gpg.stdout, counter), gpg.exited, into]);
    } else {
      await produce(counter);
      counter.end();
      await into;
    }
    await upload.done;
    return { bytes: counter.bytes, sha256: counter.hex(), existed: false };
  } catch (err) {
    gpg?.kill();
    await upload.abort(err as Error);
    // Only a write refused because the name is taken means "already there" — and then only an object of
    // exactly the size this one has (a plain one), or sealed to this run's own key (its name says so).
    if (!options.refuseExisting && isAlreadyThere(err)) {
      const there = await store.stat(name).catch(() => undefined);
      // A plain object is read back and each member hashed: a same-size planted object is not reused.
      // A sealed one cannot be read without the key; its name carries this run's key, and verify reads it.
      const fits =
        there !== undefined &&
        (options.encryptor
          ? there.sizeBytes > 0
          : there.sizeBytes === options.expectedBytes &&
            (await (options.holdsMembers?.() ?? Promise.resolve(false)).catch(() => false)));
      if (fits) {
        options.logger.info(
          `${store.uri(name)} is already there (an earlier run's): kept, not uploaded again`,
        );
        return { bytes: there.sizeBytes, sha256: "", existed: true };
      }
      throw new UserError(
        `${store.uri(name)} exists but is not what this run would store (${there ? `${there.sizeBytes} bytes` : "unreadable"}` +
          `${options.encryptor ? "" : `, expected ${options.expectedBytes}`}): it was replaced in the bucket. Lifeline never ` +
          "overwrites; move it aside (or delete it) and run again, then run verify --media",
        { cause: err },
      );
    }
    throw err;
  }
}

/** Whether a plain data object holds exactly `members`, one after another, each with its SHA-256. */
async function holdsMembers(
  store: BackupStore,
  name: string,
  members: readonly Member[],
  signal?: AbortSignal,
): Promise<boolean> {
  const body = await store.get(name, signal);
  const total = members.reduce((a, m) => a + m.entry.size, 0);
  let index = 0;
  let left = members[0]?.entry.size ?? 0;
  let hash = createHash("sha256");
  let seen = 0;
  const done = (): boolean => {
    while (index < members.length && left === 0) {
      if (hash.digest("hex") !== members[index]?.sha256) return false;
      index++;
      hash = createHash("sha256");
      left = members[index]?.entry.size ?? 0;
    }
    return true;
  };
  try {
    if (!done()) return false;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      seen += chunk.length;
      if (seen > total) return false;
      let off = 0;
      while (off < chunk.length) {
        if (index >= members.length) return false;
        const take = Math.min(left, chunk.length - off);
        hash.update(chunk.subarray(off, off + take));
        off += take;
        left -= take;
        if (!done()) return false;
      }
    }
    return seen === total && index === members.length;
  } finally {
    body.destroy();
  }
}

/** Runs `work` over `items`, at most `limit` at once; the first failure stops new work and is thrown once the rest settle. */
async function runLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure !== undefined) throw failure;
}
