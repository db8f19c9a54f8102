import path from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BackupName } from "../catalog/backup-name.js";
import { readSidecar } from "../catalog/catalog.js";
import { CHECKSUM_SUFFIX } from "../catalog/manifest.js";
import { openRegularFile } from "../fs/regular-file.js";
import type { Logger } from "../log/logger.js";
import type { PromotionSchedule } from "../retention/calendar.js";
import type { RetentionPolicy } from "../retention/plan.js";
import { FanOut } from "../storage/fan-out.js";
import { LocalStore } from "../storage/local-store.js";
import type { BackupStore } from "../storage/store.js";
import { DigestTap } from "../stream/stream-taps.js";
import {
  boundCatchUp,
  type CatchUpLimits,
  type LocalBackupFile,
  listLocalBackupFiles,
  missingAt,
  newestFirst,
} from "./catch-up-plan.js";
import {
  type CatchUpReport,
  completeUploads,
  failedReport,
  type OffsiteReport,
  startUploads,
} from "./offsite.js";
import { type RemoteHoldings, withUploaded } from "./remote-holdings.js";

export interface CatchUpRun {
  /** Destinations whose own copy of today's backup arrived, with what they held before the dump. */
  readonly destinations: ReadonlyMap<BackupStore, RemoteHoldings>;
  /** BACKUP_DIR's valid backups (after today's backup, filing and retention). */
  readonly local: readonly LocalBackupFile[];
  readonly policy: RetentionPolicy;
  readonly schedule: PromotionSchedule;
  readonly now: Date;
  readonly limits: CatchUpLimits;
  /** The fingerprint of the key this run encrypts to; undefined when it does not encrypt. */
  readonly encryptTo: string | undefined;
  readonly stallTimeoutMs: number;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

interface Progress {
  readonly take: LocalBackupFile[];
  readonly uris: string[];
  readonly left: string[];
  readonly notTried: string[];
  readonly tooLarge: string[];
  readonly skipped: string[];
  readonly errors: string[];
  bytes: number;
  seconds: number;
  /** An upload failed: the destination is in trouble, the rest waits for the next run. */
  stopped: boolean;
}

const MIB = 1024 * 1024;

/**
 * Uploads to each destination, from BACKUP_DIR, the backups it is missing (`missingAt`), newest first,
 * within the bound. Each file is read once for every destination that lacks it, hashed on the way and
 * compared with its sidecar before any upload is completed; completion (manifest, checksum metadata,
 * sidecar last) is the normal upload's.
 */
export async function catchUp(run: CatchUpRun): Promise<Map<BackupStore, CatchUpReport>> {
  const { logger, limits } = run;
  const progress = new Map<BackupStore, Progress>();
  for (const [store, holdings] of run.destinations) {
    const { missing, skipped } = missingAt(
      run.local,
      holdings,
      run.policy,
      run.schedule,
      run.now,
      run.encryptTo,
    );
    const { take, left, tooLarge } = boundCatchUp(missing, limits);
    const skips = skipped.map(
      ({ file, leftover }) =>
        `${file.backup.fileName}: ${
          leftover === undefined
            ? "not encrypted to the current key: not uploaded"
            : `blocked by the leftover ${store.uri(leftover)}: delete it to let catch-up fill it`
        }`,
    );
    progress.set(store, {
      take,
      uris: [],
      left: left.map((m) => m.backup.fileName),
      notTried: [],
      tooLarge: tooLarge.map((m) => m.backup.fileName),
      skipped: skips,
      errors: [],
      bytes: 0,
      seconds: 0,
      stopped: false,
    });
    for (const skip of skips) logger.warn(`Catch-up ${store.location}: ${skip}`);
    if (missing.length === 0) {
      if (skips.length === 0) logger.info(`Catch-up ${store.location}: nothing missing`);
      continue;
    }
    logger.info(
      `Catch-up ${store.location}: ${missing.length} backup(s) missing there; uploading ${take.length} now, newest first` +
        (left.length > 0
          ? ` (${left.length} left for the next runs by BACKUP_CATCHUP_MAX_FILES=${limits.maxFiles}` +
            `${limits.maxBytes === undefined ? "" : ` / BACKUP_CATCHUP_MAX_MB=${limits.maxBytes / MIB}`})`
          : ""),
    );
    for (const m of tooLarge) {
      logger.warn(
        `Catch-up ${store.location}: ${m.backup.fileName} (${(m.sizeBytes / MIB).toFixed(1)} MiB) is larger than ` +
          "BACKUP_CATCHUP_MAX_MB on its own and is not uploaded: raise BACKUP_CATCHUP_MAX_MB to make it up",
      );
    }
  }

  // One pass per file, newest first, feeding every destination that lacks it.
  const files = new Map<string, { candidate: LocalBackupFile; stores: BackupStore[] }>();
  for (const [store, p] of progress) {
    for (const candidate of p.take) {
      const entry = files.get(candidate.file) ?? { candidate, stores: [] };
      entry.stores.push(store);
      files.set(candidate.file, entry);
    }
  }
  const order = [...files.values()].sort((a, b) => newestFirst(a.candidate, b.candidate));
  for (const { candidate, stores } of order) {
    const live = stores.filter((s) => !progress.get(s)?.stopped && !run.signal?.aborted);
    for (const s of stores) if (!live.includes(s)) progress.get(s)?.notTried.push(candidate.backup.fileName);
    if (live.length === 0) continue;
    const outcome = await uploadFromLocal(candidate, live, run);
    for (const report of outcome.reports) {
      const store = live.find((s) => s.location === report.location);
      const p = store && progress.get(store);
      if (!p) continue;
      p.bytes += report.ok ? report.bytes : 0;
      p.seconds += report.seconds;
      if (report.ok) {
        p.uris.push(...report.uris);
        continue;
      }
      p.errors.push(report.error ?? "unknown error");
      p.notTried.push(candidate.backup.fileName);
      // A bad local file is that file's problem; a failed upload is the destination's.
      if (!outcome.localProblem) p.stopped = true;
    }
  }

  const reports = new Map<BackupStore, CatchUpReport>();
  const byNameNewestFirst = (names: string[]) =>
    names.sort(
      (a, b) => (BackupName.parse(b)?.takenAt.getTime() ?? 0) - (BackupName.parse(a)?.takenAt.getTime() ?? 0),
    );
  for (const [store, p] of progress) {
    const waiting = p.left.length + p.notTried.length;
    if (p.uris.length > 0) {
      logger.info(
        `Catch-up ${store.location}: uploaded ${p.uris.length} missing backup(s), ${(p.bytes / MIB).toFixed(1)} MiB` +
          (waiting > 0 ? `; ${waiting} still missing, left for the next runs` : ""),
      );
    }
    reports.set(store, {
      uris: p.uris,
      bytes: p.bytes,
      seconds: p.seconds,
      left: p.left,
      notTried: byNameNewestFirst(p.notTried),
      tooLarge: p.tooLarge,
      skipped: p.skipped,
      ...(p.errors.length > 0 ? { error: p.errors.join("; ") } : {}),
    });
  }
  return reports;
}

/** Discards what it is given: the local file is the source here, not a destination. */
const discard = (): Writable =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });

async function uploadFromLocal(
  candidate: LocalBackupFile,
  stores: readonly BackupStore[],
  run: CatchUpRun,
): Promise<{ reports: OffsiteReport[]; localProblem: boolean }> {
  const { file, backup, manifest } = candidate;
  let sha256: string;
  try {
    // The sidecar is the record (as for verify and restore); the manifest, when there is one, must agree.
    // Read again: it may have changed since the catalog judged it.
    const sidecar = await readSidecar(new LocalStore(path.dirname(file)), path.basename(file));
    if (sidecar.state === "absent") throw new Error(`its ${CHECKSUM_SUFFIX} sidecar is gone`);
    if (sidecar.state !== "ok") throw new Error(sidecar.state === "bad" ? sidecar.problem : "unread sidecar");
    if (candidate.manifestProblem) throw new Error(candidate.manifestProblem);
    if (manifest && manifest.sha256 !== sidecar.sha256) {
      throw new Error(
        `its manifest records sha256 ${manifest.sha256}, its ${CHECKSUM_SUFFIX} sidecar ${sidecar.sha256}`,
      );
    }
    if (manifest && manifest.sizeBytes !== candidate.sizeBytes) {
      throw new Error(
        `its manifest records ${manifest.sizeBytes} bytes, the file has ${candidate.sizeBytes}`,
      );
    }
    sha256 = sidecar.sha256;
  } catch (err) {
    const error = `${file} cannot be caught up: ${(err as Error).message}; check it with 'lifeline verify'`;
    run.logger.error(error);
    return { reports: stores.map((store) => failedReport(store, error, "catch-up")), localProblem: true };
  }

  const uploads = await startUploads(
    stores.map((store) => ({ store, names: [backup.fileName] })),
    backup.name.encrypted ? "application/pgp-encrypted" : "application/octet-stream",
    run.logger,
    candidate.sizeBytes,
  );
  if (uploads.started.length === 0) return { reports: uploads.failed, localProblem: false };
  const digest = new DigestTap();
  const fanOut = new FanOut(discard(), uploads.started, {
    stallTimeoutMs: run.stallTimeoutMs,
    onBranchFailure: (uri, error) => run.logger.error(`Catch-up upload to ${uri} failed: ${error.message}`),
  });
  // The source never fails the stream (failed uploads are cut loose): a rejection is the local file's
  // (unreadable, changed) or the run's cancellation.
  let failure: Error | undefined;
  try {
    await pipeline(
      (await openRegularFile(file)).createReadStream({ highWaterMark: 1 << 20 }),
      digest,
      fanOut,
      ...(run.signal ? [{ signal: run.signal }] : []),
    );
    const actual = digest.hex();
    if (actual !== sha256) {
      throw new Error(
        `${file} no longer matches its ${CHECKSUM_SUFFIX} sidecar (read ${actual}, recorded ${sha256}): it was not ` +
          "uploaded; check it with 'lifeline verify'",
      );
    }
    // Only a file proven to be the recorded backup is stored under its final name.
    fanOut.finishUploads();
  } catch (err) {
    failure = err as Error;
    fanOut.abortUploads(failure);
    if (!run.signal?.aborted) run.logger.error(`Catch-up from ${file} stopped: ${failure.message}`);
  }
  const localProblem = failure !== undefined && !run.signal?.aborted;
  const reports = await completeUploads(
    uploads.started,
    await fanOut.outcomes(),
    { sha256, manifest },
    run.logger,
  );
  return {
    reports: [...uploads.failed, ...reports.map((r) => (r.ok ? r : { ...r, stage: "catch-up" as const }))],
    localProblem,
  };
}

/**
 * After today's uploads: makes up, at every destination where today's copy arrived and whose holdings
 * were read, what it is missing (`catchUp`), and adds the outcome to its report. A failed catch-up
 * fails the destination's report (the run exits 1); what the bound leaves is reported, not failed.
 */
export async function makeUpMissing(
  offsite: readonly OffsiteReport[],
  holdings: ReadonlyMap<BackupStore, RemoteHoldings | undefined>,
  options: Omit<CatchUpRun, "destinations" | "local"> & {
    readonly backupDir: string;
    readonly prefix: string;
  },
): Promise<OffsiteReport[]> {
  if (options.limits.maxFiles === 0) return [...offsite];
  const destinations = new Map<BackupStore, RemoteHoldings>();
  for (const report of offsite) {
    const entry = [...holdings].find(([s]) => s.location === report.location);
    if (!report.ok || !entry?.[1]) continue;
    destinations.set(
      entry[0],
      withUploaded(
        entry[1],
        report.uris.map((u) => u.slice(report.location.length)),
      ),
    );
  }
  if (destinations.size === 0) return [...offsite];
  let reports: Map<BackupStore, CatchUpReport>;
  try {
    reports = await catchUp({
      ...options,
      destinations,
      local: await listLocalBackupFiles(options.backupDir, options.prefix),
    });
  } catch (err) {
    // BACKUP_DIR could not be read (say): every destination's catch-up failed, and says so.
    const error = `${(err as Error).message}; nothing missing was made up this run`;
    options.logger.error(`Catch-up failed: ${error}`);
    reports = new Map(
      [...destinations.keys()].map((store) => [
        store,
        { uris: [], bytes: 0, seconds: 0, left: [], notTried: [], tooLarge: [], skipped: [], error },
      ]),
    );
  }
  return offsite.map((report) => {
    const c = [...reports].find(([s]) => s.location === report.location)?.[1];
    if (!c) return report;
    return c.error === undefined
      ? { ...report, catchUp: c }
      : { ...report, catchUp: c, ok: false, error: `catch-up: ${c.error}`, stage: "catch-up" as const };
  });
}
