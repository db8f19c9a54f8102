import type { Logger } from "../log/logger.js";
import type { PromotionSchedule } from "../retention/calendar.js";
import type { StoredBackup } from "../retention/plan.js";
import { listRemoteBackups } from "../retention/remote-catalog.js";
import type { BackupStore } from "../storage/store.js";
import { BackupName, TIERS, type Tier } from "./backup-name.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX } from "./manifest.js";
import type { UploadTarget } from "./offsite.js";
import { tiersDueAmong } from "./tiers.js";

/** What one destination holds under its prefix, read once before the dump. */
export interface RemoteHoldings {
  /** Every object name, valid backup or not: a name taken cannot be uploaded again (no overwrites). */
  readonly names: ReadonlySet<string>;
  /** The backups of each tier with this prefix, judged as retention judges them. */
  readonly backups: Readonly<Record<Tier, readonly StoredBackup[]>>;
}

/** Lists a destination's backups of every tier (one listing, one sidecar read per backup). */
export async function readRemoteHoldings(store: BackupStore, prefix: string): Promise<RemoteHoldings> {
  const objects = await store.list();
  const backups = {} as Record<Tier, StoredBackup[]>;
  for (const tier of TIERS) backups[tier] = await listRemoteBackups(store, tier, prefix, objects);
  return { names: new Set(objects.map((o) => o.name)), backups };
}

/**
 * Reads what each ready destination holds, in parallel. One whose listing fails is logged and judged by
 * BACKUP_DIR's tiers, with nothing made up this run (its retention will say more).
 */
export async function readHoldingsOf(
  stores: readonly BackupStore[],
  prefix: string,
  logger: Logger,
): Promise<Map<BackupStore, RemoteHoldings | undefined>> {
  const read = await Promise.all(
    stores.map((store) =>
      readRemoteHoldings(store, prefix).catch((err: unknown) => {
        logger.warn(
          `Could not list what ${store.location} holds (${(err as Error).message}): its weekly/monthly copies follow ` +
            "BACKUP_DIR's and nothing it misses is made up this run",
        );
        return undefined;
      }),
    ),
  );
  return new Map(stores.map((s, i) => [s, read[i]]));
}

/**
 * The promoted tiers due at one destination, judged from what it holds (not from BACKUP_DIR): when the
 * promotion day's upload failed there, the next run's copy goes there as weekly/monthly too. Without a
 * listing (it failed), BACKUP_DIR's judgement stands.
 */
export function tiersDueAt(
  holdings: RemoteHoldings | undefined,
  localDue: readonly Tier[],
  at: Date,
  schedule: PromotionSchedule,
): Tier[] {
  return holdings ? tiersDueAmong(holdings.backups, at, schedule) : [...localDue];
}

/** Today's objects per destination: the daily name, plus each tier due there (logged when BACKUP_DIR differs). */
export function uploadTargets(
  holdings: ReadonlyMap<BackupStore, RemoteHoldings | undefined>,
  localDue: readonly Tier[],
  name: BackupName,
  schedule: PromotionSchedule,
  logger: Logger,
): UploadTarget[] {
  return [...holdings].map(([store, held]) => {
    const due = tiersDueAt(held, localDue, name.takenAt, schedule);
    for (const tier of due.filter((t) => !localDue.includes(t))) {
      logger.info(
        `${store.location} holds no ${tier} backup for this ${tier === "weekly" ? "week" : "month"} (its upload failed or ` +
          `was skipped): today's backup goes there as ${tier} too`,
      );
    }
    return { store, names: [name, ...due.map((t) => name.withTier(t))].map((n) => n.toString()) };
  });
}

/** Holdings with the names stored since they were read (today's upload), which are complete backups. */
export function withUploaded(holdings: RemoteHoldings, uploaded: readonly string[]): RemoteHoldings {
  const backups = { ...holdings.backups };
  for (const fileName of uploaded) {
    const name = BackupName.parse(fileName);
    if (!name || holdings.names.has(fileName)) continue;
    backups[name.tier] = [...backups[name.tier], { fileName, name, valid: true, companions: [] }];
  }
  const complete = uploaded.flatMap((f) => [f, `${f}${CHECKSUM_SUFFIX}`, `${f}${MANIFEST_SUFFIX}`]);
  return { names: new Set([...holdings.names, ...complete]), backups };
}
