import type { Tier } from "../../catalog/backup-name.js";
import type { Logger } from "../../log/logger.js";
import { applyLocalRetention, applyRemoteRetention, type RetentionOutcome } from "../../retention/apply.js";
import type { PromotionSchedule } from "../../retention/calendar.js";
import type { RetentionPolicy } from "../../retention/plan.js";
import type { BackupStore } from "../../storage/store.js";
import type { OffsiteReport } from "../offsite.js";

/** What retention keeps, and whether it only says what it would delete. */
export interface RetainOptions {
  readonly prefix: string;
  readonly policy: RetentionPolicy;
  readonly schedule: PromotionSchedule;
  readonly dryRun: boolean;
  readonly tiers: readonly Tier[];
  readonly logger: Logger;
}

/**
 * Local retention, only after the new backup is safely in place (the caller's duty): its failure is
 * loud (log, summary) but does not undo the backup, and is returned as the outcome.
 */
export async function retainLocal(
  backupDir: string,
  at: Date,
  options: RetainOptions,
): Promise<RetentionOutcome | { error: string }> {
  const { logger } = options;
  try {
    return await applyLocalRetention(backupDir, options.prefix, options.policy, at, {
      dryRun: options.dryRun,
      logger,
      tiers: options.tiers,
      schedule: options.schedule,
    });
  } catch (err) {
    logger.error(`Retention failed, nothing more was deleted: ${(err as Error).message}`);
    return { error: (err as Error).message };
  }
}

/**
 * Remote retention, like local, only at the destinations in `arrived` (where today's backup safely
 * arrived); each outcome, or its error, is added to that destination's report.
 */
export async function retainRemote(
  offsite: readonly OffsiteReport[],
  stores: readonly BackupStore[],
  arrived: ReadonlySet<string>,
  now: () => Date,
  options: RetainOptions,
): Promise<OffsiteReport[]> {
  const { logger } = options;
  const reports = [...offsite];
  for (const [i, report] of reports.entries()) {
    const store = stores.find((s) => s.location === report.location);
    if (!arrived.has(report.location) || !store) continue;
    try {
      const outcome = await applyRemoteRetention(store, options.prefix, options.policy, now(), {
        dryRun: options.dryRun,
        logger,
        tiers: options.tiers,
        schedule: options.schedule,
      });
      reports[i] = { ...report, retention: outcome };
    } catch (err) {
      logger.error(
        `Retention in ${report.location} failed, nothing more was deleted there: ${(err as Error).message}`,
      );
      reports[i] = { ...report, retention: { error: (err as Error).message } };
    }
  }
  return reports;
}
