import type { DatabaseProperties } from "../db/database-properties.js";
import type { SnapshotCatalog } from "../db/snapshot.js";
import type { Compression, DumpFormat } from "../stream/compression.js";
import type { Extension, Tier } from "./backup-name.js";

/**
 * The version this Lifeline writes. 2 added `databaseProperties` and `catalog.rawNames`; both are
 * optional, so version 1 manifests read the same (their restores say the properties were not recorded).
 */
export const MANIFEST_VERSION = 2;

/** The JSON written beside each backup (`<file>.manifest.json`): what it holds and how it was made. */
export interface BackupManifest {
  readonly manifestVersion: 1 | 2;
  readonly tool: { readonly name: "lifeline"; readonly version: string };
  readonly file: string;
  readonly tier: Tier;
  readonly database: string;
  readonly server: { readonly version: string; readonly versionNum: number; readonly target: string };
  readonly pgDump: { readonly version: string; readonly path: string };
  readonly format: DumpFormat;
  readonly extension: Extension;
  /** For custom format, the compression pg_dump applied inside the archive. */
  readonly compression: { readonly algorithm: Compression; readonly level: number };
  readonly encryption: {
    readonly method: "gpg";
    readonly recipient: string;
    readonly fingerprint: string;
  } | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  /** Bytes pg_dump produced and bytes in the file. */
  readonly dumpBytes: number | null;
  readonly sizeBytes: number;
  readonly sha256: string;
  /** Schemas, tables with row counts, sequences and extensions, read in the dump's own snapshot. */
  readonly catalog: SnapshotCatalog;
  /**
   * The database's own ACL, comment, connection limit, `ALTER DATABASE/ROLE ... SET` settings, owner and
   * encoding (pg_dump leaves them out), read in the same snapshot. Absent in version 1 manifests.
   */
  readonly databaseProperties?: DatabaseProperties;
}

export const MANIFEST_SUFFIX = ".manifest.json";
export const CHECKSUM_SUFFIX = ".sha256";

/** `sha256sum` format: digest, two spaces, the file's base name (so `cd dir && sha256sum -c` works). */
export function checksumLine(sha256: string, fileName: string): string {
  return `${sha256}  ${fileName}\n`;
}

/** Parses the first line of a `sha256sum` file (text or binary mode, bare or absolute name). */
export function parseChecksumLine(text: string): { sha256: string; fileName: string } | undefined {
  const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(text.split(/\r?\n/)[0] ?? "");
  return m ? { sha256: m[1]!.toLowerCase(), fileName: m[2]!.split("/").pop()! } : undefined;
}
