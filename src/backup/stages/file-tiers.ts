import type { BackupName, Tier } from "../../catalog/backup-name.js";
import type { Logger } from "../../log/logger.js";
import { fileUnderTier } from "../tiers.js";

/** A tier a backup was filed under, with its path. */
export interface FiledTier {
  readonly tier: Tier;
  readonly file: string;
}

/**
 * The fifth stage: files the published daily backup under each tier due (weekly/monthly) in
 * `backupDir`. Only after the daily backup is safely in place; a failure is loud but never undoes or
 * fails it. Returns every tier filed, daily first.
 */
export async function fileTiers(
  backupDir: string,
  dailyFile: string,
  name: BackupName,
  due: readonly Tier[],
  sha256: string,
  logger: Logger,
): Promise<FiledTier[]> {
  const tiers: FiledTier[] = [{ tier: "daily", file: dailyFile }];
  try {
    for (const tier of due) {
      const tierFile = await fileUnderTier(backupDir, dailyFile, name, tier, sha256);
      tiers.push({ tier, file: tierFile });
      logger.info(`Filed as ${tier}: ${tierFile}`);
    }
  } catch (err) {
    logger.error(
      `Could not file the backup under weekly/monthly: ${(err as Error).message}; the daily backup is intact`,
    );
  }
  return tiers;
}
