import type { Logger } from "../log/logger.js";
import { briefly } from "../storage/destination-error.js";
import type { MediaRetentionPlan } from "./media-retention.js";
import { encodePending, type GarbagePlan, parsePending, planGarbage } from "./remote-gc.js";
import type { ObjectsFile } from "./remote-index.js";
import { readObjectsFile } from "./remote-known.js";
import { isDataName, SNAPSHOT_PARTS } from "./remote-layout.js";
import { listRemoteSnapshots, type MediaRemote, type RemoteSnapshotRef } from "./remote-store.js";

const DAY_MS = 24 * 3600 * 1000;
const PENDING_PATTERN = /^gc-pending-(\d{8}T\d{6}Z)\.txt$/;

export interface RemoteGcOutcome {
  readonly removed: readonly string[];
  readonly removedBytes: number;
  readonly failed: readonly { readonly name: string; readonly error: string }[];
  readonly pendingObjects: number;
  readonly pendingBytes: number;
  /** Objects listed under data/ and bytes referenced by kept snapshots. */
  readonly liveObjects: number;
  readonly liveBytes: number;
}

export interface RemoteRetentionOutcome extends MediaRetentionPlan {
  readonly location: string;
  readonly dryRun: boolean;
  readonly removed: readonly string[];
  readonly failed: readonly { readonly name: string; readonly error: string }[];
  /** Parts of snapshots whose upload never completed, removed once older than the grace period. */
  readonly leftovers: readonly string[];
  readonly gc: RemoteGcOutcome | { readonly skipped: string } | { readonly plan: GarbagePlan };
  readonly seconds: number;
}

export interface RemoteRetentionOptions {
  readonly now: Date;
  readonly days: number;
  readonly dryRun: boolean;
  readonly graceMs: number;
  readonly logger: Logger;
}

/** Which remote snapshots MEDIA_RETENTION_DAYS removes: the local rules, judged on each snapshot's objects list. */
export function planRemoteRetention(
  complete: readonly { readonly ref: RemoteSnapshotRef; readonly objects: ObjectsFile | undefined }[],
  options: { readonly now: Date; readonly days: number },
): MediaRetentionPlan {
  const cutoff = options.now.getTime() - options.days * DAY_MS;
  const newestComplete = complete.find((s) => s.objects !== undefined && s.objects.errors === 0)?.ref.name;
  const keep: { name: string; why: string }[] = [];
  const remove: { name: string; why: string }[] = [];
  for (const { ref, objects } of complete) {
    const age = `${((options.now.getTime() - ref.takenAt.getTime()) / DAY_MS).toFixed(1)} days old`;
    if (ref.name === newestComplete)
      keep.push({ name: ref.name, why: `the newest complete snapshot (${age})` });
    else if (ref.takenAt.getTime() >= cutoff)
      keep.push({ name: ref.name, why: `within ${options.days} days (${age})` });
    else if (objects === undefined)
      keep.push({ name: ref.name, why: `its objects list cannot be read (${age}): run verify` });
    else remove.push({ name: ref.name, why: `older than ${options.days} days (${age})` });
  }
  return { keep, remove };
}

/**
 * MEDIA_RETENTION_DAYS in one bucket, then garbage collection of the data no kept snapshot references.
 * A snapshot is removed sums first (it stops existing at once; an interrupted removal leaves parts the
 * next run sweeps as leftovers). Collection runs only when every kept snapshot's objects list and the
 * whole data listing were read: on any doubt it removes nothing.
 */
export async function applyRemoteRetention(
  remote: MediaRemote,
  options: RemoteRetentionOptions,
): Promise<RemoteRetentionOutcome> {
  const started = Date.now();
  const { logger, now, dryRun } = options;
  const { snapshots, foreign } = await listRemoteSnapshots(remote);
  const complete: { ref: RemoteSnapshotRef; objects: ObjectsFile | undefined }[] = [];
  for (const ref of snapshots.filter((s) => s.complete)) {
    const objects = await readObjectsFile(remote, ref).catch((err: unknown) => {
      logger.warn(`${remote.location}: the objects list of ${ref.name} cannot be read: ${briefly(err)}`);
      return undefined;
    });
    complete.push({ ref, objects });
  }
  const plan = planRemoteRetention(complete, options);
  const removed: string[] = [];
  const failed: { name: string; error: string }[] = [];
  const leftovers: string[] = [];
  const deleteParts = async (ref: RemoteSnapshotRef): Promise<void> => {
    // The sums file first: from then on the snapshot does not exist, whatever else remains.
    const order = [...SNAPSHOT_PARTS].reverse();
    for (const part of order) {
      const o = ref.parts.get(part);
      if (o) await remote.snapshots.delete(o.name);
    }
  };
  if (!dryRun) {
    for (const r of plan.remove) {
      const ref = snapshots.find((s) => s.name === r.name) as RemoteSnapshotRef;
      try {
        await deleteParts(ref);
        removed.push(r.name);
        logger.info(`Removed ${remote.location}snapshots/${r.name} (${r.why})`);
      } catch (err) {
        failed.push({ name: r.name, error: briefly(err) });
        logger.error(`Could not remove ${r.name} from ${remote.location}: ${briefly(err)}`);
      }
    }
    for (const ref of snapshots.filter((s) => !s.complete)) {
      const newest = Math.max(...[...ref.parts.values()].map((o) => o.lastModified.getTime()));
      if (now.getTime() - newest < options.graceMs) continue; // an upload may still be going on
      try {
        await deleteParts(ref);
        leftovers.push(ref.name);
        logger.warn(`Removed the parts of ${ref.name} from ${remote.location}: its upload never completed`);
      } catch (err) {
        logger.warn(
          `Could not remove the leftover parts of ${ref.name}: ${briefly(err)}; the next run tries again`,
        );
      }
    }
  }
  // What still references data: every complete snapshot not removed (a dry run: as if the plan were applied).
  const gone = new Set(dryRun ? plan.remove.map((r) => r.name) : removed);
  const released = new Set<string>();
  for (const c of complete)
    if (gone.has(c.ref.name)) for (const name of c.objects?.objects.keys() ?? []) released.add(name);
  const gc = await collectGarbage(remote, {
    kept: complete.filter((c) => !gone.has(c.ref.name)),
    released,
    pendingFiles: foreign.map((o) => o.name).filter((n) => PENDING_PATTERN.test(n)),
    options,
  });
  return {
    location: remote.location,
    ...plan,
    dryRun,
    removed,
    failed,
    leftovers,
    gc,
    seconds: (Date.now() - started) / 1000,
  };
}

async function collectGarbage(
  remote: MediaRemote,
  input: {
    kept: readonly { ref: RemoteSnapshotRef; objects: ObjectsFile | undefined }[];
    released: ReadonlySet<string>;
    pendingFiles: readonly string[];
    options: RemoteRetentionOptions;
  },
): Promise<RemoteRetentionOutcome["gc"]> {
  const { logger, now, graceMs, dryRun } = input.options;
  const unreadable = input.kept.filter((k) => k.objects === undefined).map((k) => k.ref.name);
  if (unreadable.length > 0) {
    return {
      skipped: `the objects lists of ${unreadable.join(", ")} could not be read: nothing is collected until they can`,
    };
  }
  const referenced = new Set<string>();
  for (const k of input.kept)
    for (const name of (k.objects as ObjectsFile).objects.keys()) referenced.add(name);
  let listed: Awaited<ReturnType<MediaRemote["data"]["list"]>>;
  try {
    listed = await remote.data.list();
  } catch (err) {
    return {
      skipped: `the listing of ${remote.data.location} failed (${briefly(err)}): nothing is collected`,
    };
  }
  const pendingFiles = [...input.pendingFiles].sort();
  const newestPending = pendingFiles.at(-1);
  let pending = new Map<string, Date>();
  if (newestPending) {
    const text = await remote.snapshots.getText(newestPending, { maxBytes: 64 << 20 }).catch(() => undefined);
    if (text === undefined)
      return { skipped: `${remote.snapshots.uri(newestPending)} could not be read: nothing is collected` };
    pending = parsePending(text);
  }
  const plan = planGarbage({ referenced, released: input.released, listed, pending, now, graceMs });
  if (dryRun) return { plan };
  const removed: string[] = [];
  const failed: { name: string; error: string }[] = [];
  let removedBytes = 0;
  const sizes = new Map(listed.map((o) => [o.name, o.sizeBytes]));
  for (const name of plan.remove) {
    try {
      await remote.data.delete(name);
      removed.push(name);
      removedBytes += sizes.get(name) ?? 0;
    } catch (err) {
      failed.push({ name, error: briefly(err) });
      logger.error(
        `${remote.location}: could not remove the unused ${name}: ${briefly(err)}; the next run tries again`,
      );
    }
  }
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  const next = `gc-pending-${stamp}.txt`;
  try {
    if (!pendingFiles.includes(next)) await remote.snapshots.put(next, encodePending(plan.pending));
    for (const old of pendingFiles) if (old !== next) await remote.snapshots.delete(old);
  } catch (err) {
    logger.warn(
      `${remote.location}: the list of pending garbage could not be written (${briefly(err)}); the wait starts again next run`,
    );
  }
  if (removed.length > 0)
    logger.info(
      `${remote.location}: removed ${removed.length} data objects no kept snapshot uses (${removedBytes} bytes)`,
    );
  const live = listed.filter((o) => isDataName(o.name) && referenced.has(o.name));
  return {
    removed,
    removedBytes,
    failed,
    pendingObjects: plan.pending.size,
    pendingBytes: plan.pendingBytes,
    liveObjects: live.length,
    liveBytes: live.reduce((a, o) => a + o.sizeBytes, 0),
  };
}
