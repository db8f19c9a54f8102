import { renameSync } from "node:fs";
import path from "node:path";
import { removeTree } from "../fs/remove-tree.js";
import type { Logger } from "../log/logger.js";
import { deletingName } from "./snapshot-name.js";
import { readWholeManifest, type SnapshotRef, syncDir } from "./snapshot-store.js";

const DAY_MS = 24 * 3600 * 1000;

export interface MediaRetentionPlan {
  readonly keep: readonly { readonly name: string; readonly why: string }[];
  readonly remove: readonly { readonly name: string; readonly why: string }[];
}

export interface MediaRetentionOutcome extends MediaRetentionPlan {
  readonly dryRun: boolean;
  readonly removed: readonly string[];
  readonly failed: readonly { readonly name: string; readonly error: string }[];
  readonly seconds: number;
}

/**
 * Which snapshots MEDIA_RETENTION_DAYS removes: those taken more than `days` days before `now`, but
 * never the one `current` names nor the newest complete one (a complete snapshot is one whose
 * manifest matches its checksum and recorded no error): an incomplete snapshot never counts as kept.
 */
export async function planMediaRetention(
  snapshots: readonly SnapshotRef[],
  options: { now: Date; days: number; current: string | undefined },
): Promise<MediaRetentionPlan> {
  const cutoff = options.now.getTime() - options.days * DAY_MS;
  let newestComplete: string | undefined;
  for (const s of snapshots) {
    // Newest first: the first complete one is the one never removed. Read only as far as needed.
    try {
      const { totals } = await readWholeManifest(s.dir);
      if (totals.errors === 0) {
        newestComplete = s.name;
        break;
      }
    } catch {}
  }
  const keep: { name: string; why: string }[] = [];
  const remove: { name: string; why: string }[] = [];
  for (const s of snapshots) {
    const age = `${((options.now.getTime() - s.takenAt.getTime()) / DAY_MS).toFixed(1)} days old`;
    if (s.name === options.current) keep.push({ name: s.name, why: `current names it (${age})` });
    else if (s.name === newestComplete)
      keep.push({ name: s.name, why: `the newest complete snapshot (${age})` });
    else if (s.takenAt.getTime() >= cutoff)
      keep.push({ name: s.name, why: `within ${options.days} days (${age})` });
    else remove.push({ name: s.name, why: `older than ${options.days} days (${age})` });
  }
  return { keep, remove };
}

/**
 * Applies a plan: each snapshot is first renamed to .<name>.deleting (it leaves the listing at once, and
 * an interrupted removal is finished by the next run), then removed. Failures are reported, not thrown.
 */
export function applyMediaRetention(
  backupDir: string,
  plan: MediaRetentionPlan,
  options: { dryRun: boolean; logger: Logger },
): MediaRetentionOutcome {
  const started = Date.now();
  const removed: string[] = [];
  const failed: { name: string; error: string }[] = [];
  for (const k of plan.keep) options.logger.info(`Retention: keeping ${k.name}: ${k.why}`);
  for (const r of plan.remove) {
    if (options.dryRun) {
      options.logger.info(`Retention (dry run): would remove ${r.name}: ${r.why}`);
      continue;
    }
    const doomed = path.join(backupDir, deletingName(r.name));
    try {
      renameSync(path.join(backupDir, r.name), doomed);
      syncDir(backupDir);
      removeTree(doomed);
      removed.push(r.name);
      options.logger.info(`Retention: removed ${r.name}: ${r.why}`);
    } catch (err) {
      failed.push({ name: r.name, error: (err as Error).message });
      options.logger.error(`Retention: could not remove ${r.name}: ${(err as Error).message}`);
    }
  }
  return { ...plan, dryRun: options.dryRun, removed, failed, seconds: (Date.now() - started) / 1000 };
}
