import path from "node:path";
import type { Destination, DestinationForUri } from "../config/cloud-config.js";
import type { Logger } from "../log/logger.js";
import { ConfigError, UserError } from "../shared/errors.js";
import { LocalStore } from "../storage/local-store.js";
import { openStore } from "../storage/open-store.js";
import { type BackupStore, parseBackupUri } from "../storage/store.js";
import { type Compression, compressionOfExtension, type DumpFormat } from "../stream/compression.js";
import { BackupName, TIERS, type Tier } from "./backup-name.js";
import {
  type BackupManifest,
  CHECKSUM_SUFFIX,
  MANIFEST_SUFFIX,
  MANIFEST_VERSION,
  parseChecksumLine,
} from "./manifest.js";

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
}

/** Format, compression and encryption from a file name: `.sql.gz`, `.sql.zst`, `.sql`, `.dump`, each `[.gpg]`. */
export function kindOfFileName(
  fileName: string,
): { format: DumpFormat; compression: Compression; encrypted: boolean } | undefined {
  const encrypted = fileName.endsWith(".gpg");
  const bare = encrypted ? fileName.slice(0, -4) : fileName;
  const ext = ["sql.gz", "sql.zst", "sql", "dump"].find((e) => bare.endsWith(`.${e}`));
  if (!ext) return undefined;
  return {
    format: ext === "dump" ? "custom" : "plain",
    compression: ext === "dump" ? "none" : compressionOfExtension(ext),
    encrypted,
  };
}

/** The local tier directories of BACKUP_DIR as stores. Cloud stores are added beside them. */
export function localTierStores(backupDir: string): BackupStore[] {
  return TIERS.map((tier) => new LocalStore(path.join(backupDir, tier)));
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
 * Every backup in the given stores (optionally of one prefix), newest first. Companion files
 * (`.sha256`, `.manifest.json`), hidden partial files and unrelated names are not backups.
 */
export async function listBackups(
  stores: readonly BackupStore[],
  prefix?: string | undefined,
): Promise<BackupEntry[]> {
  const out: BackupEntry[] = [];
  for (const store of stores) {
    const objects = await store.list();
    const present = new Set(objects.map((o) => o.name));
    for (const object of objects) {
      const name = BackupName.parse(object.name);
      if (!name || (prefix !== undefined && name.prefix !== prefix)) continue;
      out.push(entryOf(store, object.name, name, object.sizeBytes, object.lastModified, present));
    }
  }
  return out.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || a.uri.localeCompare(b.uri));
}

function entryOf(
  store: BackupStore,
  fileName: string,
  name: BackupName | undefined,
  sizeBytes: number,
  lastModified: Date,
  present: ReadonlySet<string>,
): BackupEntry {
  const kind = kindOfFileName(fileName)!;
  return {
    store,
    fileName,
    uri: store.uri(fileName),
    name,
    tier: name?.tier,
    takenAt: name?.takenAt ?? lastModified,
    sizeBytes,
    ...kind,
    hasSidecar: present.has(`${fileName}${CHECKSUM_SUFFIX}`),
    hasManifest: present.has(`${fileName}${MANIFEST_SUFFIX}`),
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
    throw new ConfigError(`BACKUP_FILE '${uri}': cloud backups cannot be read here; download it first`);
  }
  const slash = parsed.key.lastIndexOf("/");
  const keyPrefix = slash < 0 ? "" : parsed.key.slice(0, slash + 1);
  const store = await openStore(cloud(parsed.kind, parsed.bucket, keyPrefix));
  return { store, fileName: parsed.key.slice(slash + 1) };
}

/** Looks up one backup by path or URI, failing with advice when it is missing or of an unknown kind. */
export async function findBackup(uri: string, cloud?: DestinationForUri): Promise<BackupEntry> {
  const { store, fileName } = await storeForUri(uri, cloud);
  if (!kindOfFileName(fileName)) {
    throw new ConfigError(
      `BACKUP_FILE '${uri}' is not a backup Lifeline can read: expected a name ending in .sql.gz, .sql.zst, .sql ` +
        "or .dump, optionally followed by .gpg",
    );
  }
  const object = await store.stat(fileName);
  if (!object) {
    throw new UserError(
      `BACKUP_FILE '${uri}' does not exist: list the backups with --list-backups and give one of them`,
    );
  }
  const companions = await Promise.all(
    [CHECKSUM_SUFFIX, MANIFEST_SUFFIX].map(async (s) =>
      (await store.stat(`${fileName}${s}`)) ? [`${fileName}${s}`] : [],
    ),
  );
  return entryOf(
    store,
    fileName,
    BackupName.parse(fileName),
    object.sizeBytes,
    object.lastModified,
    new Set(companions.flat()),
  );
}

/** The SHA-256 its sidecar records; a missing, malformed or mismatched sidecar is refused. */
export async function expectedSha256(entry: BackupEntry): Promise<string> {
  const text = await entry.store.getText(`${entry.fileName}${CHECKSUM_SUFFIX}`);
  const sidecar = `${entry.uri}${CHECKSUM_SUFFIX}`;
  if (text === undefined) {
    throw new UserError(
      `No checksum sidecar ${sidecar}: the backup cannot be proven intact, so it is not restored. If you trust ` +
        `the file, create one with 'sha256sum ${entry.fileName} > ${entry.fileName}${CHECKSUM_SUFFIX}' in its directory`,
    );
  }
  const parsed = parseChecksumLine(text);
  if (!parsed) throw new UserError(`Malformed checksum sidecar ${sidecar}: expected 'sha256sum' output`);
  if (parsed.fileName !== entry.fileName) {
    throw new UserError(`Checksum sidecar ${sidecar} names another file, '${parsed.fileName}'`);
  }
  return parsed.sha256;
}

/** The manifest beside a backup, or undefined when there is none (e.g. the runbook's shell backups). */
export async function readManifest(entry: BackupEntry): Promise<BackupManifest | undefined> {
  const text = await entry.store.getText(`${entry.fileName}${MANIFEST_SUFFIX}`);
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
