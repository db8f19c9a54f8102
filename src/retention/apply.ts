import { unlink } from "node:fs/promises";
import path from "node:path";
import type { Tier } from "../catalog/backup-name.js";
import { listLocalBackups } from "../catalog/local-catalog.js";
import type { Logger } from "../log/logger.js";
import type { PromotionSchedule } from "./calendar.js";
import { planRetention, type RetentionPlan, type RetentionPolicy } from "./plan.js";

export interface RetentionOutcome {
  readonly plans: readonly RetentionPlan[];
  readonly dryRun: boolean;
  /** Files removed (data and companions), relative to the backup directory. */
  readonly removed: readonly string[];
}

/**
 * Applies the retention policy to every tier directory of `backupDir` for one prefix, logging each
 * decision. Runs only after a new backup succeeded (the caller's duty). With `dryRun`, deletes nothing.
 */
export async function applyLocalRetention(
  backupDir: string,
  prefix: string,
  policy: RetentionPolicy,
  now: Date,
  options: { dryRun: boolean; logger: Logger; tiers: readonly Tier[]; schedule: PromotionSchedule },
): Promise<RetentionOutcome> {
  const plans: RetentionPlan[] = [];
  const removed: string[] = [];
  for (const tier of options.tiers) {
    const dir = path.join(backupDir, tier);
    const plan = planRetention(
      tier,
      await listLocalBackups(dir, tier, prefix),
      policy,
      now,
      options.schedule,
    );
    plans.push(plan);
    for (const d of plan.decisions) {
      const verb = d.action === "delete" ? (options.dryRun ? "would delete" : "delete") : d.action;
      const line = `retention ${tier}: ${verb} ${d.backup.fileName}: ${d.reason}`;
      if (d.action === "report") options.logger.warn(line);
      else options.logger.info(line);
      if (d.action !== "delete" || options.dryRun) continue;
      // Data first: a crash in between leaves an orphan sidecar, never a backup without its checksum.
      for (const file of [d.backup.fileName, ...d.backup.companions]) {
        await unlink(path.join(dir, file)).then(
          () => removed.push(path.join(tier, file)),
          (err: NodeJS.ErrnoException) => {
            if (err.code !== "ENOENT") throw err;
          },
        );
      }
    }
  }
  return { plans, dryRun: options.dryRun, removed };
}
