import { createHash } from "node:crypto";
import { snapshotTime } from "./snapshot-name.js";

/**
 * Where media snapshots live in a bucket, under the media prefix (MEDIA_REMOTE_PREFIX):
 *
 *   data/<sha256>            a large file's content, named by its SHA-256 (written once, never overwritten)
 *   data/pack-<id>           small files' contents one after another; <id> is the SHA-256 of its member list
 *   snapshots/<snapshot>.manifest.ndjson   the local snapshot's manifest, byte for byte
 *   snapshots/<snapshot>.index.ndjson      where each content of the snapshot is: object, offset, length
 *   snapshots/<snapshot>.objects           the data objects the snapshot uses, with their stored sizes
 *   snapshots/<snapshot>.sha256            sha256sum of the three above: written last, it makes the snapshot exist
 *   snapshots/gc-pending-<time>.txt        data objects found unreferenced, and since when (garbage collection)
 *
 * With BACKUP_ENCRYPT every data object, manifest and index is a gpg message (`.gpg` appended), and a
 * data object's name carries the recipient key (`<sha256>.<key>.gpg`, <key> the first 16 hex digits of
 * its fingerprint): content encrypted to one key is never reused by a run encrypting to another, nor by
 * a run that does not encrypt. The `.objects` and `.sha256` files stay readable so that retention and
 * garbage collection need no key.
 */
export const DATA_PREFIX = "data/";
export const SNAPSHOTS_PREFIX = "snapshots/";
export const GPG_SUFFIX = ".gpg";
export const PACK_PREFIX = "pack-";

/** The parts of a remote snapshot, in the order they are written (the sums last). */
export const SNAPSHOT_PARTS = ["manifest", "index", "objects", "sums"] as const;
export type SnapshotPart = (typeof SNAPSHOT_PARTS)[number];

const PART_SUFFIX: Record<SnapshotPart, string> = {
  manifest: ".manifest.ndjson",
  index: ".index.ndjson",
  objects: ".objects",
  sums: ".sha256",
};

/** Parts that are encrypted when the snapshot is. */
const SEALED_PARTS: ReadonlySet<SnapshotPart> = new Set(["manifest", "index"]);

/** The object name of one part of a remote snapshot (under snapshots/). */
export function partName(snapshot: string, part: SnapshotPart, encrypted: boolean): string {
  return `${snapshot}${PART_SUFFIX[part]}${encrypted && SEALED_PARTS.has(part) ? GPG_SUFFIX : ""}`;
}

/** Which snapshot and part an object name under snapshots/ is, or undefined (not one Lifeline writes). */
export function parsePartName(
  name: string,
): { snapshot: string; part: SnapshotPart; encrypted: boolean } | undefined {
  const m = /^(media_\d{8}_\d{6})(\.manifest\.ndjson|\.index\.ndjson|\.objects|\.sha256)(\.gpg)?$/.exec(name);
  if (!m || !snapshotTime(m[1] as string)) return undefined;
  const part = SNAPSHOT_PARTS.find((p) => PART_SUFFIX[p] === m[2]) as SnapshotPart;
  const encrypted = m[3] !== undefined;
  if (encrypted && !SEALED_PARTS.has(part)) return undefined;
  return { snapshot: m[1] as string, part, encrypted };
}

/** The recipient key as data object names carry it: the first 16 hex digits of its fingerprint, lower case. */
export function sealKeyOf(fingerprint: string): string {
  const key = fingerprint.toLowerCase().slice(0, 16);
  if (!/^[0-9a-f]{16}$/.test(key))
    throw new TypeError(`sealKeyOf: '${fingerprint}' is not a key fingerprint`);
  return key;
}

const sealed = (key: string | undefined): string => (key === undefined ? "" : `.${key}${GPG_SUFFIX}`);

/** The data object of one large file's content; `key`: encrypted to that recipient. */
export const blobName = (sha256: string, key: string | undefined): string => `${sha256}${sealed(key)}`;

/** A pack's name from its members (and key): the same files in the same order always make the same pack. */
export function packName(
  members: readonly { sha256: string; size: number }[],
  key: string | undefined,
): string {
  const h = createHash("sha256").update(`lifeline-media-pack-v1 ${key ?? "plain"}\n`);
  for (const m of members) h.update(`${m.sha256} ${m.size}\n`);
  return `${PACK_PREFIX}${h.digest("hex")}${sealed(key)}`;
}

const DATA_NAME = /^(pack-)?[0-9a-f]{64}(?:\.([0-9a-f]{16})\.gpg)?$/;

/** Whether a name under data/ is one Lifeline writes: a content hash or a pack, plain or `.<key>.gpg`. */
export function isDataName(name: string): boolean {
  return DATA_NAME.test(name);
}

/** The recipient key a data object was encrypted to, or undefined for a plain one. */
export function sealKeyOfName(name: string): string | undefined {
  return DATA_NAME.exec(name)?.[2];
}

export const isEncryptedName = (name: string): boolean => name.endsWith(GPG_SUFFIX);
