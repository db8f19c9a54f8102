import { stat } from "node:fs/promises";
import path from "node:path";
import { listDirectory, NotRegularFileError, readRegularFile } from "../fs/regular-file.js";
import { BackupName, type Tier } from "./backup-name.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, parseChecksumLine } from "./manifest.js";
import type { StoredBackup } from "./stored-backup.js";

/**
 * Lists the backups of one tier directory with the given prefix, judging each: data non-empty and a
 * well-formed sidecar that names it. Hidden partial files and other names are not backups and are skipped.
 * Nothing but regular files is opened: an entry named like a backup that is a FIFO, socket, directory
 * or symbolic link, or whose sidecar is one, is listed as not counting, with what it is, so that
 * retention names it (and never deletes nor counts it).
 */
export async function listLocalBackups(dir: string, tier: Tier, prefix: string): Promise<StoredBackup[]> {
  const { files, others } = await listDirectory(dir);
  const present = new Set([...files, ...others.map((o) => o.name)]);
  const backups: StoredBackup[] = [];
  const ours = (fileName: string) => {
    const name = BackupName.parse(fileName);
    return name && name.tier === tier && name.prefix === prefix ? name : undefined;
  };
  for (const other of others) {
    const name = ours(other.name);
    if (name) {
      backups.push({
        fileName: other.name,
        name,
        valid: false,
        companions: [],
        problem: `${other.kind}, not a regular file`,
      });
    }
  }
  for (const fileName of files) {
    const name = ours(fileName);
    if (!name) continue;
    const companions = [`${fileName}${CHECKSUM_SUFFIX}`, `${fileName}${MANIFEST_SUFFIX}`].filter((c) =>
      present.has(c),
    );
    const problem = await judge(dir, fileName, present);
    backups.push({
      fileName,
      name,
      valid: problem === undefined,
      companions,
      ...(problem ? { problem } : {}),
    });
  }
  return backups;
}

async function judge(dir: string, fileName: string, present: Set<string>): Promise<string | undefined> {
  const size = (await stat(path.join(dir, fileName))).size;
  if (size === 0) return "empty file";
  if (!present.has(`${fileName}${CHECKSUM_SUFFIX}`)) return `no ${CHECKSUM_SUFFIX} sidecar`;
  let sidecar = "";
  try {
    sidecar = await readRegularFile(path.join(dir, `${fileName}${CHECKSUM_SUFFIX}`));
  } catch (err) {
    if (err instanceof NotRegularFileError) {
      return `its sidecar ${fileName}${CHECKSUM_SUFFIX} is ${err.kind}, not a regular file: remove it`;
    }
  }
  const parsed = parseChecksumLine(sidecar);
  if (!parsed) return `malformed ${CHECKSUM_SUFFIX} sidecar`;
  if (parsed.fileName !== fileName) return `${CHECKSUM_SUFFIX} sidecar names '${parsed.fileName}'`;
  return undefined;
}
