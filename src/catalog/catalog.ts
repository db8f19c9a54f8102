import path from "node:path";
import { NotRegularFileError } from "../fs/regular-file.js";
import { UserError } from "../shared/errors.js";
import { LocalStore } from "../storage/local-store.js";
import type { BackupStore, StoredObject } from "../storage/store.js";
import { BackupName, TIERS, type Tier } from "./backup-name.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, parseChecksumLine } from "./manifest.js";
import type { StoredBackup } from "./stored-backup.js";

/**
 * What an entry of the catalog is. Only database dumps exist today; a media snapshot will be a second
 * kind beside it (its own name, its own proof of wholeness), so readers switch on `kind`.
 */
export type EntryKind = "database-dump";

/** A sidecar (`.sha256`) is one `sha256sum` line: anything larger is not one, and is not read. */
export const MAX_SIDECAR_BYTES = 4096;
/** A manifest records schemas, tables and row counts: generous, yet never a whole dump read into memory. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** Why a sidecar is not trusted. `names-other`: a well-formed line for another file (a copied sidecar). */
export type SidecarFault = "not-regular" | "unreadable" | "too-large" | "malformed" | "names-other";

/** What the sidecar beside a backup says, as far as the catalog read it. */
export type SidecarState =
  | { readonly state: "absent" }
  | { readonly state: "ok"; readonly sha256: string }
  /** Present, and not trusted; `problem` says why in words for a log line. */
  | {
      readonly state: "bad";
      readonly fault: SidecarFault;
      readonly problem: string;
      /** With `names-other`: the file it names. */
      readonly names?: string;
      /** With `not-regular` or `unreadable`: the store's own error, which names the path. */
      readonly cause?: Error;
    }
  /** Present, not read: the data itself does not count (empty, not a regular file), so it was not opened. */
  | { readonly state: "unread" };

/**
 * One backup in one store, judged once. Every file in a directory or bucket may have been tampered
 * with: an entry named like a backup that is not a regular file is listed (never opened), not counted.
 */
export interface CatalogEntry extends StoredBackup {
  readonly kind: EntryKind;
  readonly store: BackupStore;
  readonly uri: string;
  readonly tier: Tier;
  /** From the name (UTC). */
  readonly takenAt: Date;
  /** The object behind it; undefined when the name is taken by something that is not a regular file. */
  readonly object: StoredObject | undefined;
  /** 0 when there is no object. */
  readonly sizeBytes: number;
  readonly sidecar: SidecarState;
  /** Whether a `.manifest.json` is beside it (its contents are read by `readManifestText`). */
  readonly hasManifest: boolean;
  /**
   * The companions (in `companions`) that the listing found to be no regular file (a directory, a
   * FIFO...), with what each is: never opened, and never deleted by retention.
   */
  readonly irregularCompanions: readonly { readonly name: string; readonly kind: string }[];
}

export interface CatalogOptions {
  /** Only backups of this prefix (BACKUP_PREFIX); by default every prefix. */
  readonly prefix?: string | undefined;
  /** Only backups named for these tiers; by default all. */
  readonly tiers?: readonly Tier[];
  /** Which backups to judge (one sidecar read each); the others are left out. By default, all. */
  readonly include?: (name: BackupName) => boolean;
  /** The store's listing, when the caller has it already (one listing for several questions). */
  readonly objects?: readonly StoredObject[];
  /** Stops reading sidecars (the promise rejects with its reason). */
  readonly signal?: AbortSignal | undefined;
}

/** Sidecars read at once: a bucket with hundreds of backups is judged in a few round trips, not one each. */
const SIDECAR_READS = 4;

/** What is under a store's prefix besides its objects: in a directory, entries that are not regular files. */
async function othersOf(store: BackupStore): Promise<readonly { name: string; kind: string }[]> {
  return store instanceof LocalStore ? store.listOthers() : [];
}

/**
 * The backups in one store (a BACKUP_DIR tier directory is a LocalStore, a bucket prefix a cloud store),
 * newest first, each judged: data a non-empty regular file, and a sidecar that is a small regular file
 * holding a well-formed `sha256sum` line naming it. Companion files, hidden partials and names that are
 * not backups are not entries. One listing, a few sidecar reads at a time.
 */
export async function listCatalog(store: BackupStore, options: CatalogOptions = {}): Promise<CatalogEntry[]> {
  const objects = options.objects ?? (await store.list());
  const others = await othersOf(store);
  const present = new Map<string, StoredObject | { name: string; kind: string }>();
  for (const o of [...objects, ...others]) present.set(o.name, o);
  const wanted = (fileName: string): BackupName | undefined => {
    const name = BackupName.parse(fileName);
    if (!name) return undefined;
    if (options.prefix !== undefined && name.prefix !== options.prefix) return undefined;
    if (options.tiers && !options.tiers.includes(name.tier)) return undefined;
    return options.include && !options.include(name) ? undefined : name;
  };
  const found: { name: BackupName; fileName: string; object: StoredObject | undefined; kind?: string }[] = [];
  for (const object of objects) {
    const name = wanted(object.name);
    if (name) found.push({ name, fileName: object.name, object });
  }
  for (const other of others) {
    const name = wanted(other.name);
    if (name) found.push({ name, fileName: other.name, object: undefined, kind: other.kind });
  }
  const entries: CatalogEntry[] = new Array(found.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < found.length; i = next++) {
      options.signal?.throwIfAborted();
      const { name, fileName, object, kind } = found[i]!;
      entries[i] = await judge(store, fileName, name, object, kind, present, options.signal);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SIDECAR_READS, found.length) }, worker));
  return entries.sort(newestFirst);
}

/** Newest first; at the same moment, by URI (a stable order for listings). */
export const newestFirst = (a: CatalogEntry, b: CatalogEntry): number =>
  b.takenAt.getTime() - a.takenAt.getTime() || a.uri.localeCompare(b.uri);

/** The entries by the tier their names give. */
export function byTier(entries: readonly CatalogEntry[]): Record<Tier, CatalogEntry[]> {
  const out = Object.fromEntries(TIERS.map((t) => [t, [] as CatalogEntry[]])) as Record<Tier, CatalogEntry[]>;
  for (const e of entries) out[e.tier].push(e);
  return out;
}

/** One tier directory of BACKUP_DIR as a store (symbolic links are never followed there). */
export function tierStore(backupDir: string, tier: Tier): LocalStore {
  return new LocalStore(path.join(backupDir, tier));
}

async function judge(
  store: BackupStore,
  fileName: string,
  name: BackupName,
  object: StoredObject | undefined,
  notRegular: string | undefined,
  present: ReadonlyMap<string, StoredObject | { name: string; kind: string }>,
  signal: AbortSignal | undefined,
): Promise<CatalogEntry> {
  const companions = [`${fileName}${CHECKSUM_SUFFIX}`, `${fileName}${MANIFEST_SUFFIX}`].filter((c) =>
    present.has(c),
  );
  const sidecarName = `${fileName}${CHECKSUM_SUFFIX}`;
  const base = {
    kind: "database-dump" as const,
    store,
    fileName,
    uri: store.uri(fileName),
    name,
    tier: name.tier,
    takenAt: name.takenAt,
    object,
    sizeBytes: object?.sizeBytes ?? 0,
    companions,
    hasManifest: present.has(`${fileName}${MANIFEST_SUFFIX}`),
    irregularCompanions: companions.flatMap((c) => {
      const listed = present.get(c);
      return listed && "kind" in listed ? [{ name: c, kind: listed.kind }] : [];
    }),
  };
  const unread: SidecarState = present.has(sidecarName) ? { state: "unread" } : { state: "absent" };
  if (!object) {
    return { ...base, sidecar: unread, valid: false, problem: `${notRegular}, not a regular file` };
  }
  if (object.sizeBytes === 0) {
    return {
      ...base,
      sidecar: unread,
      valid: false,
      problem: store.kind === "local" ? "empty file" : "empty object",
    };
  }
  const listed = present.get(sidecarName);
  // Not in the listing: absent (no request to ask again).
  const sidecar: SidecarState = listed
    ? await readSidecar(store, fileName, listed, signal)
    : { state: "absent" };
  if (sidecar.state === "ok") return { ...base, sidecar, valid: true };
  const problem = sidecar.state === "bad" ? sidecar.problem : `no ${CHECKSUM_SUFFIX} sidecar`;
  return { ...base, sidecar, valid: false, problem };
}

/**
 * Reads and judges the sidecar of `fileName`. `listed` is what the store's listing says is under the
 * sidecar's name (undefined: nothing; a `kind`: not a regular file); when not given, it is looked up.
 * Read errors become a `bad` state naming them (the backup does not count), unless `signal` is aborted.
 */
export async function readSidecar(
  store: BackupStore,
  fileName: string,
  listed?: StoredObject | { name: string; kind: string },
  signal?: AbortSignal,
): Promise<SidecarState> {
  const sidecarName = `${fileName}${CHECKSUM_SUFFIX}`;
  const bad = (fault: SidecarFault, problem: string, cause?: unknown): SidecarState =>
    cause instanceof Error ? { state: "bad", fault, problem, cause } : { state: "bad", fault, problem };
  const notRegular = (kind: string, cause?: unknown) =>
    bad("not-regular", `its sidecar ${sidecarName} is ${kind}, not a regular file: remove it`, cause);
  const unreadable = (err: unknown) =>
    bad("unreadable", `its sidecar ${sidecarName} cannot be read: ${(err as Error).message}`, err);
  let found = listed;
  if (!found) {
    try {
      found = await store.stat(sidecarName);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof NotRegularFileError) return notRegular(err.kind, err);
      return unreadable(err);
    }
    if (!found) return { state: "absent" };
  }
  if ("kind" in found) return notRegular(found.kind);
  if (found.sizeBytes > MAX_SIDECAR_BYTES) {
    return bad(
      "too-large",
      `its sidecar ${sidecarName} is ${found.sizeBytes} bytes, not one 'sha256sum' line (at most ${MAX_SIDECAR_BYTES}): not read`,
    );
  }
  let text: string | undefined;
  try {
    // Bounded: a sidecar replaced by a huge file since the listing is never read whole.
    text = await store.getText(sidecarName, { maxBytes: MAX_SIDECAR_BYTES });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof NotRegularFileError) return notRegular(err.kind, err);
    return unreadable(err);
  }
  if (text === undefined) return { state: "absent" };
  if (Buffer.byteLength(text) > MAX_SIDECAR_BYTES) {
    // Replaced by a larger file since it was listed: only the first MAX_SIDECAR_BYTES + 1 bytes were read.
    return bad(
      "too-large",
      `its sidecar ${sidecarName} is more than ${MAX_SIDECAR_BYTES} bytes, not one 'sha256sum' line: not read`,
    );
  }
  const parsed = parseChecksumLine(text);
  if (!parsed) return bad("malformed", `malformed ${CHECKSUM_SUFFIX} sidecar`);
  if (parsed.fileName !== fileName) {
    return {
      state: "bad",
      fault: "names-other",
      names: parsed.fileName,
      problem: `${CHECKSUM_SUFFIX} sidecar names '${parsed.fileName}'`,
    };
  }
  return { state: "ok", sha256: parsed.sha256 };
}

/**
 * The text of the manifest beside `fileName`, undefined when there is none. One that is not a regular
 * file (NotRegularFileError) or is larger than MAX_MANIFEST_BYTES (ManifestTooLargeError) is refused unread.
 */
export async function readManifestText(store: BackupStore, fileName: string): Promise<string | undefined> {
  const manifestName = `${fileName}${MANIFEST_SUFFIX}`;
  const object = await store.stat(manifestName);
  if (!object) return undefined;
  if (object.sizeBytes > MAX_MANIFEST_BYTES) {
    throw new ManifestTooLargeError(store.uri(manifestName), object.sizeBytes);
  }
  // Bounded: a manifest swapped for a huge file since the stat is never read whole.
  const text = await store.getText(manifestName, { maxBytes: MAX_MANIFEST_BYTES });
  if (text !== undefined && Buffer.byteLength(text) > MAX_MANIFEST_BYTES) {
    throw new ManifestTooLargeError(store.uri(manifestName));
  }
  return text;
}

/** A manifest too large to be one: not read into memory. */
export class ManifestTooLargeError extends UserError {
  override readonly name = "ManifestTooLargeError";

  /** `sizeBytes`: its size as listed; undefined when it grew past the bound while being read. */
  constructor(
    readonly uri: string,
    readonly sizeBytes?: number,
  ) {
    super(
      `The manifest ${uri} is ${sizeBytes ?? `over ${MAX_MANIFEST_BYTES}`} bytes, more than a ` +
        `manifest holds (${MAX_MANIFEST_BYTES}): it was not read; move it away to use the backup without it`,
    );
  }
}

/**
 * The backups of one BACKUP_DIR tier directory with the given prefix, judged (see `listCatalog`).
 * Kept for callers that name a directory rather than a store.
 */
export async function listLocalBackups(dir: string, tier: Tier, prefix: string): Promise<CatalogEntry[]> {
  return listCatalog(new LocalStore(dir), { prefix, tiers: [tier] });
}
