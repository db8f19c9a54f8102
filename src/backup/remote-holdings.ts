import { BackupName, type Tier } from "../catalog/backup-name.js";
import { byTier, listCatalog } from "../catalog/catalog.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX } from "../catalog/manifest.js";
import type { Logger } from "../log/logger.js";
import type { PromotionSchedule } from "../retention/calendar.js";
import { type RetentionPolicy, type StoredBackup, withinRetention } from "../retention/plan.js";
import type { BackupStore } from "../storage/store.js";
import type { UploadTarget } from "./offsite.js";
import { PROMOTED_TIERS, tiersDueAmong } from "./tiers.js";

/** What one destination holds under its prefix, read once before the dump. */
export interface RemoteHoldings {
  /** Every object name, valid backup or not: a name taken cannot be uploaded again (no overwrites). */
  readonly names: ReadonlySet<string>;
  /**
   * The weekly/monthly backups with this prefix that the decisions need (those of the current period and
   * of the periods retention keeps), judged as retention judges them. Dailies are judged by name alone
   * (`names`): no sidecar of theirs is read before the dump.
   */
  readonly backups: Readonly<Record<Tier, readonly StoredBackup[]>>;
}

/** What the decisions before the dump look at, and how long they may take. */
export interface HoldingsScope {
  readonly policy: RetentionPolicy;
  readonly schedule: PromotionSchedule;
  readonly now: Date;
  /** The run's cancellation. */
  readonly signal?: AbortSignal;
  /** All destinations' reading, together; past it, a destination follows BACKUP_DIR (default 60 s). */
  readonly deadlineMs?: number;
}

export const HOLDINGS_DEADLINE_MS = 60_000;

/**
 * Lists a destination once and judges the weekly/monthly backups the decisions need (a few sidecar reads
 * at a time): the current period's, which decide what is due there, and those retention keeps, which
 * decide what catch-up makes up. Older ones and dailies are not read.
 */
export async function readRemoteHoldings(
  store: BackupStore,
  prefix: string,
  scope: HoldingsScope,
): Promise<RemoteHoldings> {
  const objects = await store.list();
  scope.signal?.throwIfAborted();
  // Retention's periods, and at least the current one (a policy of 0 keeps none, yet decides what is due).
  const needed = (name: BackupName) =>
    withinRetention(
      name.tier,
      name.takenAt,
      { ...scope.policy, [name.tier]: Math.max(1, scope.policy[name.tier]) },
      scope.now,
      scope.schedule,
    );
  const entries = await listCatalog(store, {
    prefix,
    tiers: PROMOTED_TIERS,
    objects,
    include: needed,
    signal: scope.signal,
  });
  return { names: new Set(objects.map((o) => o.name)), backups: byTier(entries) };
}

/** `work`, or the signal's reason as soon as it is aborted (the work itself is left to settle unheard). */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Reads what each ready destination holds, in parallel, within an overall deadline and the run's
 * cancellation. One whose listing fails or does not answer in time is logged and judged by BACKUP_DIR's
 * tiers, with nothing made up this run (its retention will say more).
 */
export async function readHoldingsOf(
  stores: readonly BackupStore[],
  prefix: string,
  logger: Logger,
  scope: HoldingsScope,
): Promise<Map<BackupStore, RemoteHoldings | undefined>> {
  const deadlineMs = scope.deadlineMs ?? HOLDINGS_DEADLINE_MS;
  const deadline = AbortSignal.timeout(deadlineMs);
  const signal = scope.signal ? AbortSignal.any([scope.signal, deadline]) : deadline;
  const read = await Promise.all(
    stores.map((store) =>
      unlessAborted(readRemoteHoldings(store, prefix, { ...scope, signal }), signal).catch((err: unknown) => {
        if (scope.signal?.aborted) return undefined; // the run is cancelled: the caller says so
        const why = deadline.aborted
          ? `it did not answer within ${deadlineMs / 1000} s`
          : (err as Error).message;
        logger.warn(
          `Could not list what ${store.location} holds (${why}): its weekly/monthly copies follow ` +
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
