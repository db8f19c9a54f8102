import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pipeline as pipelineCb, Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import { UserError } from "../shared/errors.js";
import { DigestTap } from "../stream/stream-taps.js";
import type { MediaEntry } from "./manifest.js";
import { showPath } from "./media-path.js";
import { ContentIndex, type ContentLocation } from "./remote-index.js";
import { fetchText } from "./remote-known.js";
import { isEncryptedName } from "./remote-layout.js";
import {
  fetchPart,
  listRemoteSnapshots,
  type MediaRemote,
  type RemoteSnapshotRef,
  readSums,
  undecryptable,
} from "./remote-store.js";
import type { ContentSource } from "./restore-writer.js";
import { MANIFEST_FILE } from "./snapshot-name.js";
import { writeManifestSum } from "./snapshot-store.js";

const DEFAULT_STALL_MS = 120_000;

/** Decrypted objects kept on disk at once while restoring from an encrypted bucket (packs are read in order). */
const CACHED_OBJECTS = 2;

/** A bucket's snapshot made readable as a local one: its manifest (checked) in a staging directory, contents on demand. */
export interface StagedRemoteSnapshot {
  readonly snapshot: string;
  /** A directory with manifest.ndjson and its checksum, as a local snapshot has them (no tree/). */
  readonly dir: string;
  readonly index: ContentIndex;
  readonly content: ContentSource;
  /** Objects (or byte ranges of them) downloaded, and their bytes. */
  readonly fetched: { requests: number; bytes: number };
  dispose(): void;
}

/** Chooses the snapshot: latest is the newest complete one in the bucket; a name must be complete there. */
export async function chooseRemoteSnapshot(remote: MediaRemote, wanted: string): Promise<RemoteSnapshotRef> {
  const { snapshots } = await listRemoteSnapshots(remote);
  const complete = snapshots.filter((s) => s.complete);
  const listing =
    complete.length === 0
      ? "it holds no complete snapshot"
      : `the complete snapshots there, newest first: ${complete
          .slice(0, 10)
          .map((s) => s.name)
          .join(", ")}`;
  const chosen = wanted === "latest" ? complete[0] : complete.find((s) => s.name === wanted);
  if (!chosen) {
    const incomplete = snapshots.some((s) => s.name === wanted && !s.complete);
    throw new UserError(
      `${wanted === "latest" ? "No snapshot" : `The snapshot '${wanted}'`} is ${incomplete ? "not complete" : "not"} in ${remote.location}: ${listing}. ` +
        "Set MEDIA_SNAPSHOT to one of them, or check MEDIA_REMOTE_PREFIX and the bucket",
    );
  }
  return chosen;
}

/**
 * Downloads a remote snapshot's manifest and index, each checked against the snapshot's sums file
 * (and decrypted with `keyring` when encrypted), into a private staging directory, and gives file
 * contents by byte ranges of the objects that hold them: a restore of one path reads only what that
 * path needs. Every content is hashed again as the restore writes it.
 */
export async function stageRemoteSnapshot(
  remote: MediaRemote,
  snap: RemoteSnapshotRef,
  options: {
    keyring?: GpgDecryptKeyring | undefined;
    signal?: AbortSignal | undefined;
    /** A download that sends nothing this long fails (BACKUP_NETWORK_TIMEOUT_SECONDS). */
    stallMs?: number | undefined;
  },
): Promise<StagedRemoteSnapshot> {
  const dir = mkdtempSync(path.join(tmpdir(), "lifeline-media-stage-"));
  // It may hold decrypted packs: removed on every way out, a second Ctrl-C (process.exit) included.
  const onExit = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", onExit);
  const dispose = () => {
    process.off("exit", onExit);
    onExit();
  };
  try {
    const sums = await readSums(remote, snap);
    const manifest = path.join(dir, MANIFEST_FILE);
    const { plainSha256 } = await fetchPart(
      remote,
      snap,
      "manifest",
      sums,
      createWriteStream(manifest, { mode: 0o600 }),
      options,
    );
    // The local sidecar holds the plaintext's hash: the reader checks the manifest against it as it reads.
    await writeManifestSum(dir, plainSha256);
    const where = remote.snapshots.uri(`${snap.name}.index.ndjson`);
    const index = ContentIndex.parse(
      await fetchText(remote, snap, "index", sums, options.keyring, options.signal),
      where,
      snap.name,
    );
    const fetched = { requests: 0, bytes: 0 };
    const decrypted = new Map<string, string>();
    const undecrypted = new Map<string, Error>();
    const limits = new Map<string, number>();
    for (const [, l] of index.entries())
      limits.set(l.object, Math.max(limits.get(l.object) ?? 0, l.offset + l.length));

    const decryptedObject = async (object: string): Promise<string> => {
      const have = decrypted.get(object);
      if (have) {
        decrypted.delete(object);
        decrypted.set(object, have); // most recently used last
        return have;
      }
      const failed = undecrypted.get(object);
      if (failed) throw failed; // one failure per object, not one download per member
      if (!options.keyring) {
        throw new UserError(
          `${remote.data.uri(object)} is encrypted: give the secret key (BACKUP_GPG_PRIVATE_KEY) to restore from it`,
        );
      }
      const file = path.join(dir, `object-${decrypted.size}-${Date.now()}`);
      const body = await remote.data.get(object, options.signal);
      fetched.requests++;
      const guarded = counting(fetched, options.stallMs ?? DEFAULT_STALL_MS, remote.data.uri(object));
      const stage = options.keyring.startDecrypt(true);
      const limit = limits.get(object) ?? 0;
      await Promise.all([
        pipeline(body, guarded, stage.stdin as Writable),
        pipeline(
          stage.stdout,
          bounded(limit, remote.data.uri(object)),
          createWriteStream(file, { mode: 0o600 }),
        ),
        stage.exited,
      ]).catch((err: unknown) => {
        stage.kill();
        rmSync(file, { force: true });
        const error = undecryptable(remote.data.uri(object), err);
        undecrypted.set(object, error);
        throw error;
      });
      decrypted.set(object, file);
      while (decrypted.size > CACHED_OBJECTS) {
        const [oldest, oldFile] = decrypted.entries().next().value as [string, string];
        decrypted.delete(oldest);
        rmSync(oldFile, { force: true });
      }
      return file;
    };

    const content: ContentSource = async (entry: MediaEntry, signal) => {
      const l: ContentLocation | undefined = entry.sha256 === undefined ? undefined : index.get(entry.sha256);
      if (!l)
        throw new Error(
          `the bucket's index has no content for ${showPath(entry.path)} (sha256 ${entry.sha256})`,
        );
      if (l.length !== entry.size)
        throw new Error(`the bucket's index records ${l.length} bytes for it, the manifest ${entry.size}`);
      if (l.length === 0) return Readable.from([]);
      if (isEncryptedName(l.object)) {
        const file = await decryptedObject(l.object);
        return createReadStream(file, { start: l.offset, end: l.offset + l.length - 1 });
      }
      fetched.requests++;
      const body = await remote.data.get(l.object, signal, { start: l.offset, end: l.offset + l.length });
      // pipeline, not pipe: a body cut or stalled mid-range must end the reader with an error.
      const counted = counting(fetched, options.stallMs ?? DEFAULT_STALL_MS, remote.data.uri(l.object));
      pipelineCb(body, counted, () => {});
      return counted;
    };
    return { snapshot: snap.name, dir, index, content, fetched, dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}

/** Counts what arrives, and fails the stream when nothing arrives for `stallMs` (a black-holed body). */
function counting(fetched: { bytes: number }, stallMs: number, where: string): Transform {
  let timer: NodeJS.Timeout | undefined;
  const t: Transform = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      fetched.bytes += chunk.length;
      arm();
      cb(null, chunk);
    },
    flush(cb) {
      clearTimeout(timer);
      cb();
    },
    destroy(err, cb) {
      clearTimeout(timer);
      cb(err);
    },
  });
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () =>
        t.destroy(
          new UserError(
            `${where} sent nothing for ${stallMs / 1000} s: the download was given up; check the network and retry`,
          ),
        ),
      stallMs,
    );
    timer.unref();
  };
  arm();
  return t;
}

/** Passes at most `limit` bytes: an object that decrypts to more than its index allows is refused. */
const bounded = (limit: number, where: string): DigestTap =>
  new DigestTap(
    limit,
    () =>
      new UserError(
        `${where} decrypts to more than the ${limit} bytes its index records: it was replaced; run verify`,
      ),
  );
