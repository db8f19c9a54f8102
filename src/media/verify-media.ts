import { existsSync } from "node:fs";
import path from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { VerifyMediaConfig } from "../config/media-config.js";
import { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import type { Logger } from "../log/logger.js";
import { type PublishOutcome, publishMetrics } from "../metrics/publish.js";
import { verifySamples } from "../metrics/restore-metrics.js";
import { throwIfCancelled, UserError } from "../shared/errors.js";
import { openMediaRemote } from "./remote-store.js";
import { type RemoteMediaCheck, verifyRemoteMedia } from "./remote-verify.js";
import { CURRENT_LINK } from "./snapshot-name.js";
import { listSnapshots, readCurrent, type SnapshotRef } from "./snapshot-store.js";
import { type MediaSnapshotCheck, ReadInodes, verifySnapshot } from "./snapshot-verify.js";

export type { MediaSnapshotCheck } from "./snapshot-verify.js";

/** The runbook's exit codes, as for the database backups: 1 (a failure) wins over 2 (too old or none). */
export const MEDIA_VERIFY_EXIT = { ok: 0, failures: 1, tooOldOrMissing: 2 } as const;
/** How far ahead of this host's clock a snapshot's name may be dated (clock skew), as for databases. */
const FUTURE_TOLERANCE_HOURS = 1;
/** How often the sync parts yield to the event loop (signals, progress). */
const YIELD_EVERY_MS = 50;
const CANCELLED = "The media verification was cancelled";

export interface MediaVerifyReport {
  readonly backupDir: string;
  /** Newest first. */
  readonly snapshots: readonly MediaSnapshotCheck[];
  /** The snapshot `current` names, if it names one. */
  readonly current: string | undefined;
  /** Age of the newest snapshot that verified OK and is complete, from its name's time. */
  readonly newestAgeHours: number | undefined;
  readonly maxAgeHours: number;
  readonly exitCode: 0 | 1 | 2;
  readonly reasons: readonly string[];
  readonly durationSeconds: number;
  /** Each configured bucket's media snapshots, verified after the local ones. */
  readonly remotes: readonly RemoteMediaCheck[];
  readonly metrics: PublishOutcome;
}

/** What a verify run reports while it runs, at most once a second. */
export interface MediaVerifyProgress {
  readonly snapshot: string;
  /** 1-based position of `snapshot` among `snapshots`. */
  readonly index: number;
  readonly snapshots: number;
  readonly entries: number;
  readonly bytesRead: number;
  readonly elapsedSeconds: number;
}

export interface VerifyMediaOptions {
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  readonly onProgress?: (p: MediaVerifyProgress) => void;
}

/**
 * Verifies every media snapshot in MEDIA_BACKUP_DIR (backup-media --verify-only, verify --media): each
 * manifest against its checksum, each tree against its manifest, the content of the files in the
 * subset (a file shared by hard links is read once); that `current` names a good snapshot; and the
 * newest complete snapshot's age. Exit 1 for any failure, else 2 when none or too old, else 0.
 */
export async function verifyMedia(
  config: VerifyMediaConfig,
  options: VerifyMediaOptions,
): Promise<MediaVerifyReport> {
  const { logger, signal } = options;
  const now = options.now ?? (() => new Date());
  const started = now();
  const startedMs = Date.now();
  const { refs, missingDir } = list(config.backupDir);

  const progress = { entries: 0, bytesRead: 0 };
  let position = { snapshot: "", index: 0 };
  let lastYield = Date.now();
  let lastProgress = Date.now();
  const pause = async () => {
    await nextTurn();
    lastYield = Date.now();
    throwIfCancelled(signal, CANCELLED);
    if (options.onProgress && Date.now() - lastProgress >= 1000) {
      lastProgress = Date.now();
      options.onProgress({
        ...position,
        snapshots: refs.length,
        ...progress,
        elapsedSeconds: (Date.now() - startedMs) / 1000,
      });
    }
  };
  const ctx = {
    subset: config.subset,
    inodes: new ReadInodes(),
    progress,
    pace: () => (Date.now() - lastYield >= YIELD_EVERY_MS ? pause() : undefined),
  };

  const snapshots: MediaSnapshotCheck[] = [];
  for (const [i, ref] of refs.entries()) {
    throwIfCancelled(signal, CANCELLED);
    position = { snapshot: ref.name, index: i + 1 };
    const check = await verifySnapshot(ref, i === 0, ctx);
    // Retention (a backup run) may remove an old snapshot while it is read: gone is not damaged.
    if (!check.ok && !existsSync(ref.dir)) {
      logger.info(`verify media ${ref.name}: removed while it was verified (retention); not counted`);
      continue;
    }
    logCheck(check, logger);
    snapshots.push(check);
  }
  throwIfCancelled(signal, CANCELLED); // a cancelled run is never a success, and records no metrics

  const remotes = await verifyRemotes(config, { logger, signal, now });
  throwIfCancelled(signal, CANCELLED);

  const at = now();
  const reasons: string[] = [];
  // A name dated ahead of the clock would pass as fresh for years: it fails, and never counts as newest.
  const latestCredible = at.getTime() + FUTURE_TOLERANCE_HOURS * 3_600_000;
  const judged = snapshots.map((c) => (c.takenAt.getTime() > latestCredible ? inFuture(c, at) : c));
  const failed = judged.filter((c) => !c.ok);
  if (failed.length) {
    reasons.push(
      `${failed.length} of ${judged.length} media snapshot(s) failed verification: ${failed.map((c) => c.name).join(", ")}`,
    );
  }
  const current = readCurrent(config.backupDir);
  const currentProblem = judgeCurrent(config.backupDir, current, judged);
  if (currentProblem) reasons.push(currentProblem);

  const newest = judged.find((c) => c.ok && !c.incomplete);
  const newestAgeHours = newest ? (at.getTime() - newest.takenAt.getTime()) / 3_600_000 : undefined;
  if (!judged.length && missingDir && remotes.length > 0) {
    logger.info(
      `verify media: MEDIA_BACKUP_DIR ${config.backupDir} does not exist here; the buckets' snapshots are verified`,
    );
  } else if (!judged.length) {
    reasons.push(
      missingDir
        ? `MEDIA_BACKUP_DIR ${config.backupDir} does not exist: no media snapshot to verify`
        : `no media snapshot in ${config.backupDir}`,
    );
  } else if (!newest) {
    reasons.push(`no complete media snapshot in ${config.backupDir} verified OK`);
  } else if ((newestAgeHours as number) > config.maxAgeHours) {
    reasons.push(
      `the newest complete media snapshot ${newest.name} is ${(newestAgeHours as number).toFixed(1)} h old, ` +
        `over the ${config.maxAgeHours} h limit: check that backup-media runs`,
    );
  }
  let remoteFailed = false;
  for (const r of remotes) {
    const bad = r.snapshots.filter((c) => !c.ok);
    if (r.error) reasons.push(`${r.location} could not be verified: ${r.error}`);
    if (bad.length)
      reasons.push(
        `${bad.length} of ${r.snapshots.length} media snapshot(s) in ${r.location} failed verification: ${bad.map((c) => c.name).join(", ")}`,
      );
    if (r.error || bad.length) remoteFailed = true;
    else if (r.newestAgeHours === undefined)
      reasons.push(`no complete media snapshot in ${r.location} verified OK`);
    else if (r.newestAgeHours > config.maxAgeHours) {
      reasons.push(
        `the newest complete media snapshot in ${r.location} is ${r.newestAgeHours.toFixed(1)} h old, over the ${config.maxAgeHours} h limit`,
      );
    }
  }
  const exitCode =
    failed.length || currentProblem || remoteFailed
      ? MEDIA_VERIFY_EXIT.failures
      : reasons.length
        ? MEDIA_VERIFY_EXIT.tooOldOrMissing
        : MEDIA_VERIFY_EXIT.ok;
  for (const r of reasons) (exitCode === 1 ? logger.error : logger.warn).call(logger, `verify media: ${r}`);
  logger.info(
    `verify media: ${judged.length - failed.length} of ${judged.length} snapshot(s) OK, exit ${exitCode}`,
  );

  const finishedAt = now();
  const durationSeconds = (finishedAt.getTime() - started.getTime()) / 1000;
  const metrics = await publishMetrics(
    config.metrics,
    { type: "media" },
    verifySamples("media", { ok: exitCode === 0, exitCode, finishedAt, durationSeconds, newestAgeHours }),
    logger,
    signal,
  );
  return {
    backupDir: config.backupDir,
    snapshots: judged,
    current: current.name,
    newestAgeHours,
    maxAgeHours: config.maxAgeHours,
    exitCode,
    reasons,
    durationSeconds,
    remotes,
    metrics,
  };
}

/** Every configured bucket, one after another (each reads its own objects), with the key if one is given. */
async function verifyRemotes(
  config: VerifyMediaConfig,
  o: { logger: Logger; signal: AbortSignal | undefined; now: () => Date },
): Promise<RemoteMediaCheck[]> {
  const sources = config.remotes ?? [];
  if (sources.length === 0) return [];
  const keyring = await GpgDecryptKeyring.prepare(config.gpgPrivateKey);
  try {
    const out: RemoteMediaCheck[] = [];
    for (const source of sources) {
      const remote = await openMediaRemote(source.destination, source.prefix, o.logger, o.signal);
      out.push(
        await verifyRemoteMedia(remote, {
          subset: config.subset,
          keyring,
          logger: o.logger,
          signal: o.signal,
          now: o.now(),
          stallMs: source.destination.settings.transfer.requestTimeoutMs,
        }),
      );
    }
    return out;
  } finally {
    await keyring.dispose();
  }
}

/** The snapshots, newest first; a missing MEDIA_BACKUP_DIR is "no snapshot" (exit 2), anything else an error. */
function list(backupDir: string): { refs: SnapshotRef[]; missingDir: boolean } {
  try {
    return { refs: listSnapshots(backupDir), missingDir: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { refs: [], missingDir: true };
    throw new UserError(
      `MEDIA_BACKUP_DIR ${backupDir} cannot be listed: ${(err as Error).message}. Set it to the directory that holds the media snapshots`,
      { cause: err },
    );
  }
}

function inFuture(c: MediaSnapshotCheck, at: Date): MediaSnapshotCheck {
  const problem =
    `${c.name}: dated ${c.takenAt.toISOString()}, ahead of this host's clock (${at.toISOString()}): a wrong clock ` +
    "where it was taken, or a renamed directory; it does not count as the newest snapshot — fix the clock or remove it";
  return { ...c, ok: false, problems: [problem, ...c.problems], problemCount: c.problemCount + 1 };
}

/** Why `current` is wrong, or undefined: it must name a snapshot that is there and verified OK. */
function judgeCurrent(
  backupDir: string,
  current: { name?: string; problem?: string },
  checks: readonly MediaSnapshotCheck[],
): string | undefined {
  const link = path.join(backupDir, CURRENT_LINK);
  const fix = `point it at the newest good snapshot (ln -sfn <snapshot> ${link}), or run backup-media`;
  if (current.problem) return `${current.problem}; ${fix}`;
  if (current.name === undefined) return checks.length ? `${link} does not exist; ${fix}` : undefined;
  const named = checks.find((c) => c.name === current.name);
  if (!named) return `${link} points at ${current.name}, which is not a snapshot in ${backupDir}; ${fix}`;
  if (!named.ok) return `${link} points at ${current.name}, which failed verification; ${fix}`;
  return undefined;
}

function logCheck(c: MediaSnapshotCheck, logger: Logger): void {
  const counts = `${c.filesChecked} files read (${c.bytesRead} bytes), ${c.filesNotRead} not read`;
  if (c.ok) {
    logger.info(`verify media ${c.name}: OK, ${counts}`);
    for (const p of c.problems) logger.warn(`verify media ${p}`);
    return;
  }
  logger.error(`verify media ${c.name}: FAILED, ${c.problemCount} problem(s); ${counts}`);
  for (const p of c.problems) logger.error(`verify media ${p}`);
  if (c.problemCount > c.problems.length) {
    logger.error(`verify media ${c.name}: … and ${c.problemCount - c.problems.length} more`);
  }
}
