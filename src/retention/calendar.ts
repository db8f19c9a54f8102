/** UTC calendar arithmetic for tiers and retention: whole days and months, immune to time-of-day jitter. */

const DAY_MS = 86_400_000;

/** When weekly and monthly periods begin: the days backups are promoted on. */
export interface PromotionSchedule {
  /** Day of the week weekly backups are taken, 0 = Sunday (runbook default). */
  readonly weeklyDay: number;
  /** Day of the month monthly backups are taken, 1–28 (default 1). */
  readonly monthlyDay: number;
}

/** Days since the epoch of the UTC date of `at`. */
export function dayNumber(at: Date): number {
  return Math.floor(at.getTime() / DAY_MS);
}

/** Months since the epoch of the UTC month of `at`. */
export function monthNumber(at: Date): number {
  return at.getUTCFullYear() * 12 + at.getUTCMonth();
}

/** Start (00:00 UTC) of the weekly period containing `at`: the latest `weekday` (0 = Sunday) on or before it. */
export function weekPeriodStart(at: Date, weekday: number): Date {
  const back = (at.getUTCDay() - weekday + 7) % 7;
  return new Date((dayNumber(at) - back) * DAY_MS);
}

/** Start (00:00 UTC) of the monthly period containing `at`: the latest day-of-month `day` (1–28) on or before it. */
export function monthPeriodStart(at: Date, day: number): Date {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  return at.getUTCDate() >= day ? new Date(Date.UTC(y, m, day)) : new Date(Date.UTC(y, m - 1, day));
}

/**
 * How many promotion periods lie between the period a backup taken at `at` stands for and the period
 * of `now` (0 = the current one). A weekly taken late in its week (a catch-up promotion) stands for that
 * week, not for the 7 days after it, so it ages with the other backups of its week.
 */
export function periodsBetween(
  tier: "weekly" | "monthly",
  at: Date,
  now: Date,
  schedule: PromotionSchedule,
): number {
  if (tier === "weekly") {
    const days =
      dayNumber(weekPeriodStart(now, schedule.weeklyDay)) -
      dayNumber(weekPeriodStart(at, schedule.weeklyDay));
    return Math.round(days / 7);
  }
  return (
    monthNumber(monthPeriodStart(now, schedule.monthlyDay)) -
    monthNumber(monthPeriodStart(at, schedule.monthlyDay))
  );
}
