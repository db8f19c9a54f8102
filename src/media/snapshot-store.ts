import {
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../fs/atomic-file.js";
import { readRegularFile } from "../fs/regular-file.js";
import {
  ManifestError,
  type ManifestHeader,
  ManifestReader,
  type ManifestTotals,
  type MediaEntry,
} from "./manifest.js";
import { CURRENT_LINK, MANIFEST_FILE, MANIFEST_SUM_FILE, snapshotTime } from "./snapshot-name.js";

/** A sidecar larger than this is not one Lifeline wrote. */
const MAX_SUM_BYTES = 4096;

/** A snapshot directory of MEDIA_BACKUP_DIR, by its name. */
export interface SnapshotRef {
  readonly name: string;
  readonly dir: string;
  readonly takenAt: Date;
}

/** Every snapshot in `backupDir` (directories named media_YYYYMMDD_HHMMSS), newest first. */
export function listSnapshots(backupDir: string): SnapshotRef[] {
  const found: SnapshotRef[] = [];
  for (const entry of readdirSync(backupDir, { withFileTypes: true })) {
    const takenAt = snapshotTime(entry.name);
    if (takenAt && entry.isDirectory())
      found.push({ name: entry.name, dir: path.join(backupDir, entry.name), takenAt });
  }
  return found.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || (a.name < b.name ? 1 : -1));
}

/** The snapshot `current` names, or undefined (no link yet); a link elsewhere is reported, never followed. */
export function readCurrent(backupDir: string): { name?: string; problem?: string } {
  let target: string;
  try {
    target = readlinkSync(path.join(backupDir, CURRENT_LINK));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return {};
    return { problem: `${path.join(backupDir, CURRENT_LINK)} is not a symbolic link (${code})` };
  }
  if (!snapshotTime(target)) {
    return {
      problem: `${path.join(backupDir, CURRENT_LINK)} points at '${target}', not at a snapshot of this directory`,
    };
  }
  return { name: target };
}

/** Points `current` at `name` in one rename, so a reader sees the old snapshot or the new one, never neither. */
export function swapCurrent(backupDir: string, name: string): void {
  const temp = path.join(backupDir, `.${CURRENT_LINK}.${process.pid}.tmp`);
  rmSync(temp, { force: true });
  symlinkSync(name, temp);
  renameSync(temp, path.join(backupDir, CURRENT_LINK));
  syncDir(backupDir);
}

/** Makes a rename or a new entry in `dir` durable. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes the manifest's sidecar in sha256sum's format, so `sha256sum -c` works inside the snapshot. */
export async function writeManifestSum(snapshotDir: string, sha256: string): Promise<void> {
  await writeFileAtomic(path.join(snapshotDir, MANIFEST_SUM_FILE), `${sha256}  ${MANIFEST_FILE}\n`);
}

/** The SHA-256 the sidecar records for the manifest; throws a ManifestError naming what is wrong. */
export async function readManifestSum(snapshotDir: string): Promise<string> {
  const file = path.join(snapshotDir, MANIFEST_SUM_FILE);
  let text: string;
  try {
    text = await readRegularFile(file, { maxBytes: MAX_SUM_BYTES });
  } catch (err) {
    throw new ManifestError(`The manifest checksum ${file} cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const m = /^([0-9a-f]{64}) [ *]manifest\.ndjson\n?$/.exec(text);
  if (!m) throw new ManifestError(`The manifest checksum ${file} is not '<sha256>  ${MANIFEST_FILE}'`);
  return m[1] as string;
}

/** What reading a snapshot's whole manifest against its checksum found. */
export interface SnapshotCheck {
  readonly header: ManifestHeader;
  readonly totals: ManifestTotals;
}

/**
 * Reads a snapshot's manifest to its end against its checksum, `each` seeing every entry, and throws a
 * ManifestError when the sidecar, the manifest or their match is wrong. Bounded memory.
 */
export async function readWholeManifest(
  snapshotDir: string,
  each: (entry: MediaEntry) => void = () => {},
): Promise<SnapshotCheck> {
  const expected = await readManifestSum(snapshotDir);
  const file = path.join(snapshotDir, MANIFEST_FILE);
  let reader: ManifestReader;
  try {
    reader = ManifestReader.open(file);
  } catch (err) {
    if (err instanceof ManifestError) throw err;
    throw new ManifestError(`The manifest ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  try {
    for (let e = reader.next(); e !== undefined; e = reader.next()) each(e);
    const actual = reader.digest();
    if (actual !== expected) {
      throw new ManifestError(
        `The manifest ${file} does not match its checksum (sha256 ${actual}, ${MANIFEST_SUM_FILE} says ${expected}): ` +
          "it was changed or damaged after the snapshot was taken; use another snapshot",
      );
    }
    return { header: reader.header, totals: reader.totals };
  } finally {
    reader.close();
  }
}
