import path from "node:path";
import type { Tier } from "../catalog/backup-name.js";
import { byTier, type CatalogEntry, listCatalog, tierStore } from "../catalog/catalog.js";
import { NotRegularFileError } from "../fs/regular-file.js";
import type { Logger } from "../log/logger.js";
import type { BackupStore } from "../storage/store.js";
import type { PromotionSchedule } from "./calendar.js";
import { planRetention, type RetentionPlan, type RetentionPolicy } from "./plan.js";

export interface RetentionOutcome {
  readonly plans: readonly RetentionPlan[];
  readonly dryRun: boolean;
  /** Files removed (data and companions): relative to the backup directory, or URIs in a bucket. */
  readonly removed: readonly string[];
  /**
   * Companions of deleted backups that were left because they are no regular file (a directory
   * named like a manifest...): Lifeline never deletes those. Named as `removed` names files.
   */
  readonly left: readonly RetentionLeft[];
}

/** A companion retention did not delete, and why (for the log, the outcome and the summary). */
export interface RetentionLeft {
  readonly file: string;
  readonly reason: string;
}

export interface RetentionOptions {
  readonly dryRun: boolean;
  readonly logger: Logger;
  readonly tiers: readonly Tier[];
  readonly schedule: PromotionSchedule;
}

/** Where one tier's backups are, as retention names them in its log lines and outcome. */
interface TierPlace {
  readonly store: BackupStore;
  readonly entries: readonly CatalogEntry[];
  /** Prefix of each log line, e.g. `retention daily` or `retention s3://b/p/ daily`. */
  readonly label: string;
  /** How a removed name is reported. */
  readonly removedAs: (name: string) => string;
}

/**
 * Plans one tier from the catalog's entries and carries it out: logs each decision, deletes (unless
 * `dryRun`) data first, then its sidecar and manifest, so a crash in between leaves an orphan sidecar,
 * never a backup without its checksum. Entries that do not count are reported, never deleted nor counted.
 * A companion that is no regular file (a directory named like a manifest) is left, logged and reported
 * in `left`; retention goes on with the other backups.
 */
async function retainTier(
  tier: Tier,
  place: TierPlace,
  policy: RetentionPolicy,
  now: Date,
  options: RetentionOptions,
  removed: string[],
  left: RetentionLeft[],
): Promise<RetentionPlan> {
  const plan = planRetention(tier, place.entries, policy, now, options.schedule);
  const entries = new Map(place.entries.map((e) => [e.fileName, e]));
  for (const d of plan.decisions) {
    const verb = d.action === "delete" ? (options.dryRun ? "would delete" : "delete") : d.action;
    const line = `${place.label}: ${verb} ${d.backup.fileName}: ${d.reason}`;
    if (d.action === "report") options.logger.warn(line);
    else options.logger.info(line);
    if (d.action !== "delete" || options.dryRun) continue;
    const irregular = new Map(
      entries.get(d.backup.fileName)?.irregularCompanions.map((c) => [c.name, c.kind]),
    );
    await place.store.delete(d.backup.fileName);
    removed.push(place.removedAs(d.backup.fileName));
    for (const name of d.backup.companions) {
      const kind = irregular.get(name) ?? (await deleteRegular(place.store, name));
      if (kind === undefined) {
        removed.push(place.removedAs(name));
        continue;
      }
      const reason = `${place.store.uri(name)} is ${kind}, not a regular file: Lifeline never deletes it; remove it by hand`;
      options.logger.warn(`${place.label}: deleted ${d.backup.fileName} but left ${name}: ${reason}`);
      left.push({ file: place.removedAs(name), reason });
    }
  }
  return plan;
}

/** Deletes a companion; what it is instead when it turned out to be no regular file (not deleted). */
async function deleteRegular(store: BackupStore, name: string): Promise<string | undefined> {
  try {
    await store.delete(name);
    return undefined;
  } catch (err) {
    if (err instanceof NotRegularFileError) return err.kind;
    throw err;
  }
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
  options: RetentionOptions,
): Promise<RetentionOutcome> {
  const plans: RetentionPlan[] = [];
  const removed: string[] = [];
  const left: RetentionLeft[] = [];
  for (const tier of options.tiers) {
    const store = tierStore(backupDir, tier);
    const entries = await listCatalog(store, { prefix, tiers: [tier] });
    const place = {
      store,
      entries,
      label: `retention ${tier}`,
      removedAs: (name: string) => path.join(tier, name),
    };
    plans.push(await retainTier(tier, place, policy, now, options, removed, left));
  }
  return { plans, dryRun: options.dryRun, removed, left };
}

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
  options: RetentionOptions,
): Promise<RetentionOutcome> {
  const held = byTier(await listCatalog(store, { prefix, tiers: options.tiers }));
  const plans: RetentionPlan[] = [];
  const removed: string[] = [];
  const left: RetentionLeft[] = [];
  for (const tier of options.tiers) {
    const place = {
      store,
      entries: held[tier],
      label: `retention ${store.location} ${tier}`,
      removedAs: (name: string) => store.uri(name),
    };
    plans.push(await retainTier(tier, place, policy, now, options, removed, left));
  }
  return { plans, dryRun: options.dryRun, removed, left };
}
