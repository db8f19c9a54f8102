import { lstat } from "node:fs/promises";
import path from "node:path";
import { type BackupName, TIERS, type Tier } from "../catalog/backup-name.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX } from "../catalog/manifest.js";
import { acceptsNameLength, longestNameAccepted, NAME_MAX, partialNameLength } from "../fs/atomic-file.js";
import { ConfigError, UserError } from "../shared/errors.js";

/** The files one backup is published as in a tier directory: the data, its manifest, its sidecar. */
function publishedNames(name: BackupName): string[] {
  const data = name.toString();
  return [data, `${data}${MANIFEST_SUFFIX}`, `${data}${CHECKSUM_SUFFIX}`];
}

/**
 * The longest file name a backup named `name` can make, in any tier (weekly and monthly copies are
 * longer than the daily) and in any form (each published file is first written as a hidden partial).
 */
export function longestFileName(name: BackupName): number {
  return Math.max(...TIERS.flatMap((tier) => publishedNames(name.withTier(tier)).map(partialNameLength)));
}

/**
 * Proves before the dump that every file this backup makes has a name the filesystem of `dir`
 * accepts: otherwise the dump would be taken and then fail to be published. The limit is NAME_MAX,
 * or less where the filesystem says so (probed). `prefixSetting`: how the caller names BACKUP_PREFIX
 * when the prefix came from it (undefined: it is the database name).
 */
export async function assertNamesFit(
  dir: string,
  name: BackupName,
  prefixSetting: string | undefined,
): Promise<void> {
  const longest = longestFileName(name);
  let limit = NAME_MAX;
  if (longest <= NAME_MAX) {
    if (await acceptsNameLength(dir, longest)) return;
    limit = await longestNameAccepted(dir, longest);
  }
  const fixed = longest - name.prefix.length;
  const source = prefixSetting
    ? `${prefixSetting} is ${name.prefix.length} characters long`
    : `The database name '${name.prefix}', used as the prefix, is ${name.prefix.length} characters long`;
  throw new ConfigError(
    `${source}: the longest file name a backup with it makes (the hidden partial of ` +
      `${name.withTier("monthly").toString()}${MANIFEST_SUFFIX}) would be ${longest} characters, over the ` +
      `${limit} the filesystem of '${dir}' accepts. Set BACKUP_PREFIX to at most ${Math.max(0, limit - fixed)} characters`,
  );
}

/**
 * Proves before the dump that no file of this backup exists yet in its tier directories: names have a
 * one-second resolution, so a second run within the same second would otherwise dump the whole
 * database only to be refused when publishing it.
 */
export async function assertNamesFree(
  backupDir: string,
  name: BackupName,
  tiers: readonly Tier[],
): Promise<void> {
  for (const tier of tiers) {
    const dir = path.join(backupDir, tier);
    for (const fileName of publishedNames(name.withTier(tier))) {
      const file = path.join(dir, fileName);
      const taken = await lstat(file).then(
        () => true,
        () => false,
      );
      if (taken) {
        throw new UserError(
          `${file} already exists: another backup already has this name (taken in the same second, ` +
            `names have a one-second resolution). Wait a second and run again; nothing was dumped`,
        );
      }
    }
  }
}
