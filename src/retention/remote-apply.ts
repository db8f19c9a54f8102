import type { Tier } from "../catalog/backup-name.js";
import { listRemoteTiers } from "../catalog/remote-catalog.js";
import type { Logger } from "../log/logger.js";
import type { BackupStore } from "../storage/store.js";
import type { RetentionOutcome } from "./apply.js";
import type { PromotionSchedule } from "./calendar.js";
import { planRetention, type RetentionPlan, type RetentionPolicy } from "./plan.js";

/**
 * The local retention policy applied to a bucket prefix, with the same safety rules (broken backups
 * reported and kept, the newest valid kept, future-dated kept). Lists once; deletes data first, then
 * its sidecar and manifest. With `dryRun`, deletes nothing.
 */
export async function applyRemoteRetention(
  store: BackupStore,
  prefix: string,
  policy: RetentionPolicy,
  now: Date,
  options: { dryRun: boolean; logger: Logger; tiers: readonly Tier[]; schedule: PromotionSchedule },
): Promise<RetentionOutcome> {
  const backups = await listRemoteTiers(store, prefix, options.tiers);
  const plans: RetentionPlan[] = [];
  const removed: string[] = [];
  for (const tier of options.tiers) {
    const plan = planRetention(tier, backups[tier], policy, now, options.schedule);
    plans.push(plan);
    for (const d of plan.decisions) {
      const verb = d.action === "delete" ? (options.dryRun ? "would delete" : "delete") : d.action;
      const line = `retention ${store.location} ${tier}: ${verb} ${d.backup.fileName}: ${d.reason}`;
      if (d.action === "report") options.logger.warn(line);
      else options.logger.info(line);
      if (d.action !== "delete" || options.dryRun) continue;
      for (const name of [d.backup.fileName, ...d.backup.companions]) {
        await store.delete(name);
        removed.push(store.uri(name));
      }
    }
  }
  return { plans, dryRun: options.dryRun, removed };
}
