import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import type { Logger } from "../log/logger.js";
import { UserError } from "../shared/errors.js";
import { type Destination, withPrefix } from "../storage/destination.js";
import { openStore } from "../storage/open-store.js";
import type { BackupStore, StoredObject } from "../storage/store.js";
import { DigestTap } from "../stream/stream-taps.js";
import { MAX_INDEX_BYTES, MAX_MANIFEST_BYTES } from "./remote-index.js";
import {
  DATA_PREFIX,
  parsePartName,
  partName,
  SNAPSHOT_PARTS,
  SNAPSHOTS_PREFIX,
  type SnapshotPart,
} from "./remote-layout.js";
import { snapshotTime } from "./snapshot-name.js";

/** A sums file larger than this is not one Lifeline wrote (three lines). */
const MAX_SUMS_BYTES = 4096;

/** One bucket's media area: data objects and snapshots, under the media prefix. */
export interface MediaRemote {
  readonly kind: BackupStore["kind"];
  /** For messages: `s3://bucket/backups/media/`. */
  readonly location: string;
  readonly data: BackupStore;
  readonly snapshots: BackupStore;
}

/** Opens the media area of a configured destination: its bucket, under `prefix` instead of the database's. */
export async function openMediaRemote(
  destination: Destination,
  prefix: string,
  logger?: Logger,
  signal?: AbortSignal,
): Promise<MediaRemote> {
  const data = await openStore(withPrefix(destination, `${prefix}${DATA_PREFIX}`), logger, signal);
  const snapshots = await openStore(withPrefix(destination, `${prefix}${SNAPSHOTS_PREFIX}`), logger, signal);
  return {
    kind: data.kind,
    location: data.location.slice(0, data.location.length - DATA_PREFIX.length),
    data,
    snapshots,
  };
}

/** A snapshot as the bucket has it: its parts present, and whether it is complete (sums written). */
export interface RemoteSnapshotRef {
  readonly name: string;
  readonly takenAt: Date;
  readonly encrypted: boolean;
  readonly parts: ReadonlyMap<SnapshotPart, StoredObject>;
  /** The sums file exists: everything it names was written before it. */
  readonly complete: boolean;
}

/** Every snapshot under snapshots/, newest first; names Lifeline does not write are left out (and returned). */
export async function listRemoteSnapshots(
  remote: MediaRemote,
): Promise<{ snapshots: RemoteSnapshotRef[]; foreign: StoredObject[] }> {
  const listed = await remote.snapshots.list();
  const byName = new Map<string, { encrypted: boolean; parts: Map<SnapshotPart, StoredObject> }>();
  const foreign: StoredObject[] = [];
  for (const o of listed) {
    const p = parsePartName(o.name);
    if (!p) {
      foreign.push(o);
      continue;
    }
    const s = byName.get(p.snapshot) ?? { encrypted: false, parts: new Map() };
    byName.set(p.snapshot, s);
    if (p.encrypted) s.encrypted = true;
    s.parts.set(p.part, o);
  }
  const snapshots = [...byName].map(
    ([name, s]): RemoteSnapshotRef => ({
      name,
      takenAt: snapshotTime(name) as Date,
      encrypted: s.encrypted,
      parts: s.parts,
      complete: s.parts.has("sums"),
    }),
  );
  snapshots.sort((a, b) => (a.name < b.name ? 1 : -1));
  return { snapshots, foreign };
}

/** `sha256  name` lines, as sha256sum writes and checks them. */
export function encodeSums(sums: ReadonlyMap<string, string>): string {
  return [...sums].map(([name, sha]) => `${sha}  ${name}\n`).join("");
}

/** A snapshot's sums file: the SHA-256 of each of its other parts as stored. Throws when it is not valid. */
export async function readSums(remote: MediaRemote, snap: RemoteSnapshotRef): Promise<Map<string, string>> {
  const name = partName(snap.name, "sums", false);
  const where = remote.snapshots.uri(name);
  const text = await remote.snapshots.getText(name, { maxBytes: MAX_SUMS_BYTES });
  if (text === undefined)
    throw new UserError(`${where} is missing: the snapshot ${snap.name} is not complete there`);
  if (text.length > MAX_SUMS_BYTES)
    throw new UserError(`${where} is larger than a sums file can be: it was replaced`);
  const sums = new Map<string, string>();
  for (const line of text.split("\n").filter((l) => l !== "")) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    const part = m && parsePartName(m[2] as string);
    if (!m || !part || part.snapshot !== snap.name || part.part === "sums") {
      throw new UserError(
        `${where} is not a valid sums file (line '${line.slice(0, 80)}'): it was changed or damaged; use another snapshot`,
      );
    }
    sums.set(m[2] as string, m[1] as string);
  }
  for (const part of SNAPSHOT_PARTS) {
    if (part === "sums") continue;
    if (!sums.has(partName(snap.name, part, snap.encrypted))) {
      throw new UserError(
        `${where} has no checksum for the ${part} of ${snap.name}: it was changed or damaged`,
      );
    }
  }
  return sums;
}

/** Hashes and counts what passes; more than `limit` bytes means the object is not one Lifeline wrote. */
export const digestTap = (limit?: number): DigestTap =>
  new DigestTap(
    limit,
    () =>
      new UserError(`more than ${limit} bytes arrived where no more were expected: the object was replaced`),
  );

/**
 * Downloads one part of a remote snapshot into `sink`, checked against the sums file (the stored bytes),
 * and decrypted with `keyring` when the part is a gpg message. Nothing arrives unchecked: the caller
 * must treat what was written as valid only when this resolves. Resolves the SHA-256 of what was written.
 */
export async function fetchPart(
  remote: MediaRemote,
  snap: RemoteSnapshotRef,
  part: Exclude<SnapshotPart, "sums">,
  sums: ReadonlyMap<string, string>,
  sink: Writable,
  options: { keyring?: GpgDecryptKeyring | undefined; signal?: AbortSignal | undefined } = {},
): Promise<{ readonly plainSha256: string }> {
  const name = partName(snap.name, part, snap.encrypted && part !== "objects");
  const where = remote.snapshots.uri(name);
  const expected = sums.get(name);
  if (!expected) throw new UserError(`${where} has no checksum in the snapshot's sums file`);
  const body = await remote.snapshots.get(name, options.signal);
  const limit = part === "manifest" ? MAX_MANIFEST_BYTES : MAX_INDEX_BYTES;
  const check = digestTap(limit);
  let plain = check;
  if (name.endsWith(".gpg")) {
    if (!options.keyring) {
      body.destroy();
      throw new UserError(
        `${where} is encrypted: give the secret key (BACKUP_GPG_PRIVATE_KEY, or a keyring in GNUPGHOME) to read it`,
      );
    }
    // Decrypted output goes to a staging sink the caller discards unless the ciphertext's hash matches.
    const stage = options.keyring.startDecrypt(true);
    // The plaintext is bounded too: a small compressed message can decrypt to gigabytes.
    plain = digestTap(limit);
    await Promise.all([
      pipeline(body, check, stage.stdin as Writable),
      pipeline(stage.stdout, plain, sink),
      stage.exited,
    ]).catch((err: unknown) => {
      stage.kill();
      throw err instanceof UserError ? named(where, err) : undecryptable(where, err);
    });
  } else {
    await pipeline(body, check, sink).catch((err: unknown) => {
      throw err instanceof UserError ? named(where, err) : err;
    });
  }
  const actual = check.hex();
  if (actual !== expected) {
    throw new UserError(
      `${where} does not match its checksum (sha256 ${actual}, the sums file says ${expected}): it was changed or ` +
        "damaged in the bucket; use another snapshot, or run verify",
    );
  }
  return { plainSha256: check === plain ? actual : plain.hex() };
}

/** An error about an object, with the object's URI in front when the message does not name it. */
function named(where: string, err: UserError): UserError {
  return err.message.includes(where) ? err : new UserError(`${where}: ${err.message}`, { cause: err });
}

/** A gpg message that could not be decrypted: the key is not there, or it is another key's, or the message is damaged. */
export function undecryptable(where: string, err: unknown): UserError {
  if (err instanceof UserError) return named(where, err);
  const gpg = (err as Error).message.split("\n")[0];
  const noKey = /no secret key/i.test((err as Error).message);
  return new UserError(
    `${where} could not be decrypted (${gpg}): ` +
      (noKey
        ? "the secret key it was encrypted to is not there: give it in BACKUP_GPG_PRIVATE_KEY (input gpg-private-key), or a keyring that holds it in GNUPGHOME"
        : "it is damaged or was replaced in the bucket; run verify --media, and restore another snapshot"),
    { cause: err },
  );
}
