import type { Tier } from "../catalog/backup-name.js";
import type { StoredBackup } from "../catalog/stored-backup.js";

export type { StoredBackup };

import { dayNumber, type PromotionSchedule, periodsBetween } from "./calendar.js";

/** How long each tier is kept, in the runbook's units. */
export interface RetentionPolicy {
  /** Daily backups of the last N UTC calendar days (today included) are kept. */
  readonly daily: number;
  /** Weekly backups of the last N weekly periods (this one included) are kept, each aged by the period it stands for. */
  readonly weekly: number;
  /** Monthly backups of the last N monthly periods (this one included) are kept, each aged by the period it stands for. */
  readonly monthly: number;
}

export type RetentionAction = "keep" | "delete" | "report";

export interface RetentionDecision {
  readonly backup: StoredBackup;
  readonly action: RetentionAction;
  readonly reason: string;
}

export interface RetentionPlan {
  readonly tier: Tier;
  readonly decisions: readonly RetentionDecision[];
}

const UNITS: Record<Tier, string> = { daily: "day", weekly: "week", monthly: "month" };

/**
 * How many retention units old a backup is: 0 for today / this week / this month. Weekly and monthly
 * backups are aged by the promotion period they stand for (the schedule's weeks and months), not by
 * their own date: a weekly promoted on a Tuesday because Sunday's run failed belongs to Sunday's week,
 * so keeping N weeks keeps at most N weeklies.
 */
export function ageInUnits(tier: Tier, takenAt: Date, now: Date, schedule: PromotionSchedule): number {
  if (tier === "daily") return dayNumber(now) - dayNumber(takenAt);
  return periodsBetween(tier, takenAt, now, schedule);
}

/** Whether retention keeps a valid backup of this date for its age alone (the window of the policy). */
export function withinRetention(
  tier: Tier,
  takenAt: Date,
  policy: RetentionPolicy,
  now: Date,
  schedule: PromotionSchedule,
): boolean {
  return ageInUnits(tier, takenAt, now, schedule) < policy[tier];
}

/**
 * Decides, for one tier, which backups to keep and which to delete. Safety rules, in order:
 * a backup that does not count (no valid sidecar, empty) is reported and never deleted nor counted;
 * the newest valid backup is always kept, however old; a backup dated in the future (clock skew) is
 * kept; the rest are kept while younger than the policy's count of units.
 */
export function planRetention(
  tier: Tier,
  backups: readonly StoredBackup[],
  policy: RetentionPolicy,
  now: Date,
  schedule: PromotionSchedule,
): RetentionPlan {
  const limit = policy[tier];
  const unit = UNITS[tier];
  const newestFirst = [...backups].sort((a, b) => b.name.takenAt.getTime() - a.name.takenAt.getTime());
  const newestValid = newestFirst.find((b) => b.valid && b.name.takenAt.getTime() <= now.getTime());
  const decisions = newestFirst.map((backup): RetentionDecision => {
    if (!backup.valid) {
      return {
        backup,
        action: "report",
        reason: `does not count as a backup (${backup.problem ?? "invalid"}); left in place`,
      };
    }
    if (backup.name.takenAt.getTime() > now.getTime()) {
      return { backup, action: "keep", reason: "dated in the future (clock skew?); kept" };
    }
    if (backup === newestValid)
      return { backup, action: "keep", reason: `newest valid ${tier} backup; always kept` };
    const age = ageInUnits(tier, backup.name.takenAt, now, schedule);
    return age < limit
      ? { backup, action: "keep", reason: `${age} ${unit}(s) old, within ${limit}` }
      : { backup, action: "delete", reason: `${age} ${unit}(s) old, beyond ${limit}` };
  });
  return { tier, decisions };
}
