import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import type { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import { writeFileAtomic } from "../fs/atomic-file.js";
import { readRegularFile } from "../fs/regular-file.js";
import type { Logger } from "../log/logger.js";
import { briefly } from "../storage/destination-error.js";
import { ContentIndex, MAX_INDEX_BYTES, type ObjectsFile, parseObjectsFile } from "./remote-index.js";
import { PACK_PREFIX } from "./remote-layout.js";
import { fetchPart, type MediaRemote, type RemoteSnapshotRef, readSums } from "./remote-store.js";
import { type KnownContent, NOTHING_KNOWN } from "./remote-upload.js";

/** The local cache of what each bucket holds, inside MEDIA_BACKUP_DIR (and what the action caches). */
export const OFFSITE_CACHE_DIR = ".offsite";

/** The cache directory of one bucket's media area: a hash of its location, so any prefix fits. */
export function cacheDirOf(backupDir: string, location: string): string {
  const key = createHash("sha256").update(location).digest("hex").slice(0, 16);
  return path.join(backupDir, OFFSITE_CACHE_DIR, key);
}

interface CacheState {
  readonly location: string;
  readonly snapshot: string;
  readonly indexSha256: string;
}

/** Records the index of the snapshot just completed in the bucket, for the next run. */
export async function writeCache(
  backupDir: string,
  location: string,
  snapshot: string,
  indexText: string,
  indexSha256: string,
): Promise<void> {
  const dir = cacheDirOf(backupDir, location);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path.join(dir, "index.ndjson"), indexText);
  const state: CacheState = { location, snapshot, indexSha256 };
  await writeFileAtomic(path.join(dir, "state.json"), `${JSON.stringify(state)}\n`);
}

/** Reads a whole part into memory (bounded), checked against the sums and decrypted when it must be. */
export async function fetchText(
  remote: MediaRemote,
  snap: RemoteSnapshotRef,
  part: "index" | "objects" | "manifest",
  sums: ReadonlyMap<string, string>,
  keyring?: GpgDecryptKeyring,
  signal?: AbortSignal,
): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      if (total > MAX_INDEX_BYTES) return cb(new Error(`it is larger than ${MAX_INDEX_BYTES} bytes`));
      chunks.push(chunk);
      cb();
    },
  });
  await fetchPart(remote, snap, part, sums, sink, { keyring, signal });
  return Buffer.concat(chunks).toString("utf8");
}

/** A complete snapshot's objects list, checked against its sums. */
export async function readObjectsFile(
  remote: MediaRemote,
  snap: RemoteSnapshotRef,
  sums?: ReadonlyMap<string, string>,
): Promise<ObjectsFile> {
  const checked = sums ?? (await readSums(remote, snap));
  const text = await fetchText(remote, snap, "objects", checked);
  return parseObjectsFile(text, remote.snapshots.uri(`${snap.name}.objects`), snap.name);
}

/**
 * What the bucket already holds, for deduplication: the local cache when it belongs to the newest
 * complete snapshot there (checked against that snapshot's objects list), else that snapshot's index
 * from the bucket; an encrypted index with no key to read it leaves only its large files, known by name.
 */
export async function loadKnown(
  remote: MediaRemote,
  complete: readonly RemoteSnapshotRef[],
  backupDir: string,
  logger: Logger,
  keyring?: GpgDecryptKeyring,
): Promise<KnownContent> {
  // The newest snapshot whose sums and objects list read back; a damaged one is passed over, not fatal.
  let newest: RemoteSnapshotRef | undefined;
  let sums: Map<string, string> | undefined;
  let objects: ObjectsFile | undefined;
  for (const snap of complete) {
    try {
      sums = await readSums(remote, snap);
      objects = await readObjectsFile(remote, snap, sums);
      newest = snap;
      break;
    } catch (err) {
      logger.warn(
        `${remote.location}: ${snap.name} cannot be read back (${briefly(err)}); deduplication looks at an older snapshot`,
      );
    }
  }
  if (!newest || !sums || !objects) return NOTHING_KNOWN;
  const dir = cacheDirOf(backupDir, remote.location);
  try {
    const state = JSON.parse(
      await readRegularFile(path.join(dir, "state.json"), { maxBytes: 4096 }),
    ) as CacheState;
    const text = await readRegularFile(path.join(dir, "index.ndjson"), { maxBytes: MAX_INDEX_BYTES });
    const sha = createHash("sha256").update(text).digest("hex");
    if (state.snapshot === newest.name && state.location === remote.location && sha === objects.indexSha256) {
      return {
        index: ContentIndex.parse(text, path.join(dir, "index.ndjson"), newest.name),
        blobs: new Map(),
        source: `the local cache of ${newest.name}`,
      };
    }
    if (state.snapshot !== newest.name) {
      logger.info(
        `The local index cache is of ${state.snapshot}; the newest snapshot in ${remote.location} is ${newest.name}`,
      );
    } else
      logger.warn(`The local index cache of ${remote.location} does not match the bucket's: it is not used`);
  } catch {}
  if (!newest.encrypted || keyring) {
    try {
      const text = await fetchText(remote, newest, "index", sums, keyring);
      return {
        index: ContentIndex.parse(text, remote.snapshots.uri(`${newest.name}.index.ndjson`), newest.name),
        blobs: new Map(),
        source: `the index of ${newest.name} in the bucket`,
      };
    } catch (err) {
      logger.warn(
        `The index of ${newest.name} in ${remote.location} could not be read (${briefly(err)}); large files are matched by name only`,
      );
    }
  }
  const blobs = new Map<string, number>();
  for (const [name, bytes] of objects.objects) {
    if (!name.startsWith(PACK_PREFIX)) blobs.set(name, bytes);
  }
  logger.warn(
    `No readable index of ${remote.location} (encrypted, and no local cache): small files are uploaded again in new packs; ` +
      "keep MEDIA_BACKUP_DIR (or the action's cache) between runs to avoid that",
  );
  return {
    index: new ContentIndex(),
    blobs,
    source: `the large files named in ${newest.name}'s objects list`,
  };
}

/**
 * What is known, less what the bucket does not hold as recorded: one listing of data/, for a run that
 * must not trust the index (--full). Lost or replaced objects are then uploaded again.
 */
export async function recheckKnown(
  remote: MediaRemote,
  known: KnownContent,
  logger: Logger,
): Promise<KnownContent> {
  const listed = new Map((await remote.data.list()).map((o) => [o.name, o.sizeBytes]));
  const index = new ContentIndex();
  let dropped = 0;
  const holds = (object: string, bytes: number | undefined) =>
    bytes !== undefined && listed.get(object) === bytes;
  for (const [name, bytes] of known.index.objects()) if (holds(name, bytes)) index.addObject(name, bytes);
  for (const [sha, at] of known.index.entries()) {
    if (index.objectSize(at.object) !== undefined) index.add(sha, at);
    else dropped++;
  }
  const blobs = new Map([...known.blobs].filter(([name, bytes]) => holds(name, bytes)));
  dropped += known.blobs.size - blobs.size;
  if (dropped > 0) {
    logger.warn(
      `${remote.location}: ${dropped} content(s) its index names are missing or changed there: they are uploaded again`,
    );
  }
  return { index, blobs, source: `${known.source}, checked against a listing of data/` };
}
