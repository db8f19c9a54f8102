import { link, mkdir } from "node:fs/promises";
import path from "node:path";
import type { BackupName, Tier } from "../catalog/backup-name.js";
import { listCatalog, tierStore } from "../catalog/catalog.js";
import { CHECKSUM_SUFFIX, checksumLine, MANIFEST_SUFFIX } from "../catalog/manifest.js";
import { copyFileAtomic, publishWithCompanions } from "../fs/atomic-file.js";
import { readRegularFile } from "../fs/regular-file.js";
import { monthPeriodStart, type PromotionSchedule, weekPeriodStart } from "../retention/calendar.js";
import type { StoredBackup } from "../retention/plan.js";

export type { PromotionSchedule };

/**
 * Which higher tiers the backup taken at `at` must also be filed under: a tier gets it when its current
 * period (the week since the last weekly day, the month since the last monthly day) has no valid
 * backup yet. On the promotion day that is this run; when that run failed, the next good one catches up.
 */
export async function tiersDue(
  backupDir: string,
  prefix: string,
  at: Date,
  schedule: PromotionSchedule,
): Promise<Tier[]> {
  const held: Partial<Record<PromotedTier, StoredBackup[]>> = {};
  for (const tier of PROMOTED_TIERS) {
    held[tier] = await listCatalog(tierStore(backupDir, tier), { prefix, tiers: [tier] });
  }
  return tiersDueAmong(held, at, schedule);
}

/** Tiers a daily backup can be promoted to. */
export const PROMOTED_TIERS = ["weekly", "monthly"] as const;
export type PromotedTier = (typeof PROMOTED_TIERS)[number];

/**
 * The promoted tiers whose current period has no valid backup among `held` (one place's backups per
 * tier: BACKUP_DIR's folders, or what one bucket holds), so that each place is judged on its own.
 */
export function tiersDueAmong(
  held: Partial<Record<PromotedTier, readonly StoredBackup[]>>,
  at: Date,
  schedule: PromotionSchedule,
): PromotedTier[] {
  return PROMOTED_TIERS.filter((tier) => isTierDue(tier, held[tier] ?? [], at, schedule));
}

/** Pure rule behind `tiersDue`: no valid backup of the tier since its current period began. */
export function isTierDue(
  tier: PromotedTier,
  existing: readonly StoredBackup[],
  at: Date,
  schedule: PromotionSchedule,
): boolean {
  const start =
    tier === "weekly" ? weekPeriodStart(at, schedule.weeklyDay) : monthPeriodStart(at, schedule.monthlyDay);
  return !existing.some((b) => b.valid && b.name.takenAt >= start && b.name.takenAt <= at);
}

/**
 * Files the daily backup under another tier with the same bytes: a hard link (a copy where links are
 * not possible), plus its own sidecar and manifest naming the tier's file. The data is filed last,
 * beside them, so that a tier's copy never exists without its sidecar and manifest.
 */
export async function fileUnderTier(
  backupDir: string,
  dailyFile: string,
  name: BackupName,
  tier: Tier,
  sha256: string,
): Promise<string> {
  const dir = path.join(backupDir, tier);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const tierName = name.withTier(tier).toString();
  const target = path.join(dir, tierName);
  const manifest = JSON.parse(await readRegularFile(`${dailyFile}${MANIFEST_SUFFIX}`)) as Record<
    string,
    unknown
  >;
  await publishWithCompanions(
    [
      {
        path: `${target}${MANIFEST_SUFFIX}`,
        data: `${JSON.stringify({ ...manifest, file: tierName, tier }, null, 2)}\n`,
      },
      { path: `${target}${CHECKSUM_SUFFIX}`, data: checksumLine(sha256, tierName) },
    ],
    async () => {
      try {
        await link(dailyFile, target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST")
          throw new Error(`Refusing to overwrite ${target}: a file with that name already exists`);
        if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
        await copyFileAtomic(dailyFile, target);
      }
    },
  );
  return target;
}
