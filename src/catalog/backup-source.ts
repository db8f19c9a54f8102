import path from "node:path";
import type { Destination, DestinationForUri } from "../config/cloud-config.js";
import { NotRegularFileError } from "../fs/regular-file.js";
import type { Logger } from "../log/logger.js";
import { ConfigError, UserError } from "../shared/errors.js";
import { LocalStore } from "../storage/local-store.js";
import { openStore } from "../storage/open-store.js";
import { type BackupStore, parseBackupUri, type StoredObject } from "../storage/store.js";
import { type Compression, compressionOfExtension, type DumpFormat } from "../stream/compression.js";
import { BackupName, EXTENSIONS, TIERS, type Tier } from "./backup-name.js";
import { type CatalogEntry, listCatalog, readManifestText, readSidecar, tierStore } from "./catalog.js";
import { type BackupManifest, CHECKSUM_SUFFIX, MANIFEST_SUFFIX, MANIFEST_VERSION } from "./manifest.js";

/** One backup as found in a store: where it is, what it is, and which companions it has. */
export interface BackupEntry {
  readonly store: BackupStore;
  readonly fileName: string;
  readonly uri: string;
  /** Parsed runbook name; undefined for a file named otherwise (e.g. `/tmp/restore.sql.gz`). */
  readonly name: BackupName | undefined;
  readonly tier: Tier | undefined;
  /** When it was taken: from the name, else the file's modification time. */
  readonly takenAt: Date;
  readonly sizeBytes: number;
  readonly format: DumpFormat;
  readonly compression: Compression;
  readonly encrypted: boolean;
  readonly hasSidecar: boolean;
  readonly hasManifest: boolean;
  /** The catalog's judgement, for a backup listed from a store (not for a `--backup-file` lookup). */
  readonly catalog?: CatalogEntry;
}

/** Format, compression and encryption from a file name: `.sql.gz`, `.sql.zst`, `.sql`, `.dump`, each `[.gpg]`. */
export function kindOfFileName(
  fileName: string,
): { format: DumpFormat; compression: Compression; encrypted: boolean } | undefined {
  const encrypted = fileName.endsWith(".gpg");
  const bare = encrypted ? fileName.slice(0, -4) : fileName;
  const ext = EXTENSIONS.find((e) => bare.endsWith(`.${e}`));
  if (!ext) return undefined;
  return {
    format: ext === "dump" ? "custom" : "plain",
    compression: ext === "dump" ? "none" : compressionOfExtension(ext),
    encrypted,
  };
}

/** The local tier directories of BACKUP_DIR as stores. Cloud stores are added beside them. */
export function localTierStores(backupDir: string): BackupStore[] {
  return TIERS.map((tier) => tierStore(backupDir, tier));
}

/** BACKUP_DIR's tier directories and every configured bucket, as stores to list or verify. */
export async function backupStores(
  backupDir: string,
  destinations: readonly Destination[],
  logger?: Logger,
): Promise<BackupStore[]> {
  return [
    ...localTierStores(backupDir),
    ...(await Promise.all(destinations.map((d) => openStore(d, logger)))),
  ];
}

/**
 * Every backup in the given stores (optionally of one prefix), newest first, as the catalog lists them.
 * Companion files, hidden partials, unrelated names and entries that are not regular files are not
 * backups a restore can read; `catalog` says whether each counts and why not.
 */
export async function listBackups(
  stores: readonly BackupStore[],
  prefix?: string | undefined,
): Promise<BackupEntry[]> {
  const out: BackupEntry[] = [];
  for (const store of stores) {
    for (const entry of await listCatalog(store, { prefix })) {
      if (entry.object) out.push(sourceOf(entry, entry.object));
    }
  }
  return out.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || a.uri.localeCompare(b.uri));
}

/** A catalog entry as restore's source. */
function sourceOf(entry: CatalogEntry, object: StoredObject): BackupEntry {
  return {
    store: entry.store,
    fileName: entry.fileName,
    uri: entry.uri,
    name: entry.name,
    tier: entry.tier,
    takenAt: entry.takenAt,
    sizeBytes: object.sizeBytes,
    ...kindOfFileName(entry.fileName)!,
    hasSidecar: entry.sidecar.state !== "absent",
    hasManifest: entry.hasManifest,
    catalog: entry,
  };
}

/**
 * The store behind a `--backup-file` value: a local path, or `s3://bucket/key`, `gs://bucket/key`,
 * `azure://container/key`, opened with the configured endpoints and credentials.
 */
export async function storeForUri(
  uri: string,
  cloud?: DestinationForUri,
): Promise<{ store: BackupStore; fileName: string }> {
  const parsed = parseBackupUri(uri);
  if ("path" in parsed) {
    // The operator's own path may be a symbolic link (to a regular file); in BACKUP_DIR links are refused.
    return {
      store: new LocalStore(path.dirname(parsed.path), { followSymlinks: true }),
      fileName: path.basename(parsed.path),
    };
  }
  if (!cloud) {
    throw new ConfigError(
      `BACKUP_FILE '${shownUri(uri)}': cloud backups cannot be read here; download it first`,
    );
  }
  const slash = parsed.key.lastIndexOf("/");
  const keyPrefix = slash < 0 ? "" : parsed.key.slice(0, slash + 1);
  const store = await openStore(cloud(parsed.kind, parsed.bucket, keyPrefix));
  return { store, fileName: parsed.key.slice(slash + 1) };
}

/** Looks up one backup by path or URI, failing with advice when it is missing or of an unknown kind. */
export async function findBackup(
  uri: string,
  cloud?: DestinationForUri,
  /** How the caller lists backups, for the advice when `uri` is missing ("--list-backups"). */
  listWith = "add --list-backups",
): Promise<BackupEntry> {
  const { store, fileName } = await storeForUri(uri, cloud);
  if (!kindOfFileName(fileName)) {
    throw new ConfigError(
      `BACKUP_FILE '${shownUri(uri)}' is not a backup Lifeline can read: expected a name ending in .sql.gz, .sql.zst, .sql ` +
        "or .dump, optionally followed by .gpg",
    );
  }
  const object = await store.stat(fileName);
  if (!object) {
    throw new UserError(
      `BACKUP_FILE '${shownUri(uri)}' does not exist: to list the backups, ${listWith}; then give one of them`,
    );
  }
  const name = BackupName.parse(fileName);
  const [sidecar, manifest] = await Promise.all(
    [CHECKSUM_SUFFIX, MANIFEST_SUFFIX].map((suffix) =>
      store.stat(`${fileName}${suffix}`).then(
        (found) => found !== undefined,
        // Something that is not a regular file is there: present, and refused when it is read.
        (err: unknown) => (err instanceof NotRegularFileError ? true : Promise.reject(err)),
      ),
    ),
  );
  return {
    store,
    fileName,
    uri: store.uri(fileName),
    name,
    tier: name?.tier,
    takenAt: name?.takenAt ?? object.lastModified,
    sizeBytes: object.sizeBytes,
    ...kindOfFileName(fileName)!,
    hasSidecar: sidecar === true,
    hasManifest: manifest === true,
  };
}

/** The SHA-256 its sidecar records; a missing, malformed, oversized or mismatched sidecar is refused. */
export async function expectedSha256(entry: BackupEntry): Promise<string> {
  const sidecar = await readSidecar(entry.store, entry.fileName);
  const uri = `${entry.uri}${CHECKSUM_SUFFIX}`;
  if (sidecar.state === "ok") return sidecar.sha256;
  if (sidecar.state === "absent") {
    throw new UserError(
      `No checksum sidecar ${uri}: the backup cannot be proven intact, so it is not restored. If you trust ` +
        `the file, create one with 'sha256sum ${entry.fileName} > ${entry.fileName}${CHECKSUM_SUFFIX}' in its directory`,
    );
  }
  if (sidecar.state === "bad" && sidecar.fault === "malformed") {
    throw new UserError(`Malformed checksum sidecar ${uri}: expected 'sha256sum' output`);
  }
  if (sidecar.state === "bad" && sidecar.fault === "names-other") {
    throw new UserError(`Checksum sidecar ${uri} names another file, '${sidecar.names}'`);
  }
  const problem = sidecar.state === "bad" ? sidecar.problem : "not read";
  throw new UserError(`Checksum sidecar ${uri} cannot be used (${problem}): the backup is not restored`);
}

/** The manifest beside a backup, or undefined when there is none (e.g. the runbook's shell backups). */
export async function readManifest(entry: BackupEntry): Promise<BackupManifest | undefined> {
  const text = await readManifestText(entry.store, entry.fileName);
  if (text === undefined) return undefined;
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(text) as BackupManifest;
  } catch (err) {
    throw new UserError(
      `The manifest ${entry.uri}${MANIFEST_SUFFIX} is not valid JSON: restore without it by moving it away, or fix it`,
      { cause: err },
    );
  }
  // Versions 1 and 2 read alike (2 only added optional fields); a newer one may mean what this cannot.
  if (typeof manifest.manifestVersion === "number" && manifest.manifestVersion > MANIFEST_VERSION) {
    throw new UserError(
      `The manifest ${entry.uri}${MANIFEST_SUFFIX} has manifestVersion ${manifest.manifestVersion}, newer than this ` +
        `Lifeline reads (${MANIFEST_VERSION}): upgrade Lifeline, or restore without it by moving it away`,
    );
  }
  return manifest;
}

/**
 * A backup URI as an error may quote it: without user info or a query string, where a pasted Azure
 * SAS URL or a presigned S3 URL carries its signature.
 */
export function shownUri(uri: string): string {
  let shown = uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1***@");
  const query = shown.indexOf("?");
  if (query >= 0) shown = `${shown.slice(0, query)}?… (query not shown)`;
  return shown;
}
