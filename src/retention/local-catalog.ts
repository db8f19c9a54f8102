import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { BackupName, type Tier } from "../backup/backup-name.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, parseChecksumLine } from "../backup/manifest.js";
import type { StoredBackup } from "./plan.js";

/**
 * Lists the backups of one tier directory with the given prefix, judging each: data non-empty and a
 * well-formed sidecar that names it. Hidden partial files and other names are not backups and are skipped.
 */
export async function listLocalBackups(dir: string, tier: Tier, prefix: string): Promise<StoredBackup[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  const present = new Set(names);
  const backups: StoredBackup[] = [];
  for (const fileName of names) {
    const name = BackupName.parse(fileName);
    if (!name || name.tier !== tier || name.prefix !== prefix) continue;
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
  const sidecar = await readFile(path.join(dir, `${fileName}${CHECKSUM_SUFFIX}`), "utf8").catch(() => "");
  const parsed = parseChecksumLine(sidecar);
  if (!parsed) return `malformed ${CHECKSUM_SUFFIX} sidecar`;
  if (parsed.fileName !== fileName) return `${CHECKSUM_SUFFIX} sidecar names '${parsed.fileName}'`;
  return undefined;
}
