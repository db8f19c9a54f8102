import { stat } from "node:fs/promises";
import path from "node:path";
import { monthPeriodStart, type PromotionSchedule, weekPeriodStart } from "../retention/calendar.js";
import { listLocalBackups } from "../retention/local-catalog.js";
import { type RetentionPolicy, type StoredBackup, withinRetention } from "../retention/plan.js";
import { TIERS, type Tier } from "./backup-name.js";
import type { RemoteHoldings } from "./remote-holdings.js";
import type { PromotedTier } from "./tiers.js";

/** How much one run may make up for, per destination. */
export interface CatchUpLimits {
  /** Missing backups uploaded per destination and run; 0 turns catch-up off. */
  readonly maxFiles: number;
  /** Bytes uploaded per destination and run; undefined for no byte bound. */
  readonly maxBytes: number | undefined;
}

/** A valid backup in BACKUP_DIR that a destination may lack. */
export interface LocalBackupFile {
  readonly tier: Tier;
  readonly backup: StoredBackup;
  /** Full path of the data file. */
  readonly file: string;
  readonly sizeBytes: number;
}

/** The valid backups of every tier in BACKUP_DIR with this prefix, with their sizes. */
export async function listLocalBackupFiles(backupDir: string, prefix: string): Promise<LocalBackupFile[]> {
  const out: LocalBackupFile[] = [];
  for (const tier of TIERS) {
    const dir = path.join(backupDir, tier);
    for (const backup of await listLocalBackups(dir, tier, prefix)) {
      if (!backup.valid) continue;
      const file = path.join(dir, backup.fileName);
      out.push({ tier, backup, file, sizeBytes: (await stat(file)).size });
    }
  }
  return out;
}

const periodOf = (tier: PromotedTier, at: Date, schedule: PromotionSchedule): number =>
  (tier === "weekly"
    ? weekPeriodStart(at, schedule.weeklyDay)
    : monthPeriodStart(at, schedule.monthlyDay)
  ).getTime();

export const TIER_RANK: Record<Tier, number> = { monthly: 0, weekly: 1, daily: 2 };

/**
 * What a destination lacks of BACKUP_DIR, newest first: dailies that retention still keeps, and the
 * weekly/monthly backups of periods (within retention) for which it holds no valid one. Pure.
 */
export function missingAt(
  local: readonly LocalBackupFile[],
  holdings: RemoteHoldings,
  policy: RetentionPolicy,
  schedule: PromotionSchedule,
  now: Date,
): LocalBackupFile[] {
  const covered = new Set<string>();
  for (const tier of ["weekly", "monthly"] as const) {
    for (const b of holdings.backups[tier]) {
      if (b.valid) covered.add(`${tier}:${periodOf(tier, b.name.takenAt, schedule)}`);
    }
  }
  const newestFirst = [...local].sort(
    (a, b) =>
      b.backup.name.takenAt.getTime() - a.backup.name.takenAt.getTime() ||
      TIER_RANK[a.tier] - TIER_RANK[b.tier],
  );
  const missing: LocalBackupFile[] = [];
  for (const candidate of newestFirst) {
    const { tier, backup } = candidate;
    if (holdings.names.has(backup.fileName)) continue;
    if (backup.name.takenAt.getTime() > now.getTime()) continue;
    if (!withinRetention(tier, backup.name.takenAt, policy, now, schedule)) continue;
    if (tier !== "daily") {
      // One per period: the newest of it, and none where the destination already has one.
      const key = `${tier}:${periodOf(tier, backup.name.takenAt, schedule)}`;
      if (covered.has(key)) continue;
      covered.add(key);
    }
    missing.push(candidate);
  }
  return missing;
}

/**
 * Applies the bound to a destination's missing backups, newest first and in order: once one does not
 * fit, the older ones wait for the next run too. A backup larger than the whole byte bound could never
 * fit: it is set aside (reported) rather than blocking every older one forever.
 */
export function boundCatchUp(
  missing: readonly LocalBackupFile[],
  limits: CatchUpLimits,
): { take: LocalBackupFile[]; left: LocalBackupFile[]; tooLarge: LocalBackupFile[] } {
  const take: LocalBackupFile[] = [];
  const left: LocalBackupFile[] = [];
  const tooLarge: LocalBackupFile[] = [];
  let bytes = 0;
  let full = false;
  for (const m of missing) {
    if (limits.maxBytes !== undefined && m.sizeBytes > limits.maxBytes) {
      tooLarge.push(m);
      continue;
    }
    if (
      full ||
      take.length >= limits.maxFiles ||
      (limits.maxBytes !== undefined && bytes + m.sizeBytes > limits.maxBytes)
    ) {
      full = true;
      left.push(m);
      continue;
    }
    take.push(m);
    bytes += m.sizeBytes;
  }
  return { take, left, tooLarge };
}
