import { BackupName } from "../catalog/backup-name.js";
import type { BackupManifest } from "../catalog/manifest.js";
import { CHECKSUM_SUFFIX, checksumLine, MANIFEST_SUFFIX } from "../catalog/manifest.js";
import type { Logger } from "../log/logger.js";
import { withDeadline } from "../net/deadline.js";
import type { RetentionOutcome } from "../retention/apply.js";
import { briefly } from "../storage/destination-error.js";
import type { BranchOutcome } from "../storage/fan-out.js";
import type { BackupStore, StreamUpload } from "../storage/store.js";
import { DEFAULT_TRANSFER, PREFLIGHT_TIMEOUT_SETTING } from "../storage/transfer.js";

/** How one cloud destination fared in a backup run. */
export interface OffsiteReport {
  readonly kind: BackupStore["kind"];
  readonly location: string;
  /** URIs of the data objects written (the daily one, plus weekly/monthly when due). */
  readonly uris: readonly string[];
  readonly ok: boolean;
  readonly error?: string;
  /** When it failed: before the dump (misconfigured), while/after uploading, or making up for earlier runs. */
  readonly stage?: "preflight" | "upload" | "catch-up";
  readonly bytes: number;
  readonly seconds: number;
  /** Backups the destination was missing, uploaded from BACKUP_DIR after today's (absent when not tried). */
  readonly catchUp?: CatchUpReport;
  readonly retention?: RetentionOutcome | { readonly error: string };
}

/** What a run made up for at one destination: earlier backups it lacked, uploaded from BACKUP_DIR. */
export interface CatchUpReport {
  /** URIs of the backups uploaded, newest first. */
  readonly uris: readonly string[];
  readonly bytes: number;
  readonly seconds: number;
  /** Names still missing there, left for the next runs by the bound (BACKUP_CATCHUP_MAX_FILES / _MB). */
  readonly left: readonly string[];
  /** Names still missing there because an upload failed (or the run was cancelled): the next run retries. */
  readonly notTried: readonly string[];
  /** Names larger on their own than the byte bound: not caught up until it is raised. */
  readonly tooLarge: readonly string[];
  /** Missing backups never tried, each with why and what to do (a leftover object, another key). */
  readonly skipped: readonly string[];
  readonly error?: string;
}

/** The report of a destination that received nothing at this stage. */
export function failedReport(
  store: BackupStore,
  error: string,
  stage: OffsiteReport["stage"],
): OffsiteReport {
  return {
    kind: store.kind,
    location: store.location,
    uris: [],
    ok: false,
    error,
    stage,
    bytes: 0,
    seconds: 0,
  };
}

/** The objects one destination receives in a streamed pass: the daily name, plus weekly/monthly when due there. */
export interface UploadTarget {
  readonly store: BackupStore;
  readonly names: readonly string[];
}

export interface StartedUpload {
  readonly store: BackupStore;
  readonly upload: StreamUpload;
  readonly uri: string;
}

/**
 * Proves every destination usable before the dump (bucket exists, credentials work, we may write),
 * all at once, each within `timeoutMs`: one that fails or does not answer in time is reported and
 * skipped, and the local backup goes ahead without it. `signal` (the run's) ends every check at once.
 */
export async function preflightDestinations(
  stores: readonly BackupStore[],
  logger: Logger,
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal | undefined } = {},
): Promise<{ ready: BackupStore[]; failed: OffsiteReport[] }> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TRANSFER.preflightTimeoutMs;
  const results = await Promise.all(
    stores.map(async (store) => {
      try {
        await withDeadline(`The check of ${store.location}`, timeoutMs, (signal) => store.preflight(signal), {
          signal: options.signal,
          setting: PREFLIGHT_TIMEOUT_SETTING,
        });
        logger.info(`Destination ready: ${store.location}`);
        return { store, error: undefined };
      } catch (err) {
        // Cancelled: the caller stops the run; no destination failed.
        if (!options.signal?.aborted) {
          logger.error(`${briefly(err)} — this destination is skipped; the local backup goes ahead`);
        }
        return { store, error: briefly(err) };
      }
    }),
  );
  return {
    ready: results.filter((r) => r.error === undefined).map((r) => r.store),
    failed: results
      .filter((r) => r.error !== undefined)
      .map((r) => ({
        kind: r.store.kind,
        location: r.store.location,
        uris: [],
        ok: false,
        error: r.error,
        stage: "preflight" as const,
        bytes: 0,
        seconds: 0,
      })),
  };
}

/** Starts one streamed upload per destination and name; those that cannot start are reported. */
export async function startUploads(
  targets: readonly UploadTarget[],
  contentType: string,
  logger: Logger,
  expectedBytes?: number,
): Promise<{ started: StartedUpload[]; failed: OffsiteReport[] }> {
  const started: StartedUpload[] = [];
  const failed: OffsiteReport[] = [];
  for (const { store, names } of targets) {
    const mine: StartedUpload[] = [];
    try {
      for (const name of names) {
        mine.push({
          store,
          upload: await store.upload(name, { contentType, expectedBytes }),
          uri: store.uri(name),
        });
      }
      started.push(...mine);
    } catch (err) {
      for (const m of mine) await m.upload.abort(err as Error);
      logger.error(`${briefly(err)} — this destination is skipped; the local backup goes ahead`);
      failed.push(failedReport(store, briefly(err), "upload"));
    }
  }
  return { started, failed };
}

/**
 * After the data objects are stored: per object its manifest (when the backup has one: a backup made
 * by hand has only its sidecar, there as here), the checksum on the object itself, and the sidecar last
 * (as locally, the sidecar marks a complete backup). Groups outcomes by destination.
 */
export async function completeUploads(
  started: readonly StartedUpload[],
  outcomes: readonly BranchOutcome[],
  record: { readonly sha256: string; readonly manifest: BackupManifest | undefined },
  logger: Logger,
): Promise<OffsiteReport[]> {
  const { sha256, manifest } = record;
  const byStore = new Map<
    BackupStore,
    { uris: string[]; errors: string[]; bytes: number; seconds: number }
  >();
  for (const [i, s] of started.entries()) {
    const outcome = outcomes[i];
    const entry = byStore.get(s.store) ?? { uris: [], errors: [], bytes: 0, seconds: 0 };
    byStore.set(s.store, entry);
    if (!outcome) continue;
    entry.bytes += outcome.bytes;
    entry.seconds = Math.max(entry.seconds, outcome.seconds);
    if (outcome.error) {
      entry.errors.push(briefly(outcome.error));
      continue;
    }
    const name = s.upload.name;
    try {
      if (manifest) {
        const tier = BackupName.parse(name)?.tier ?? manifest.tier;
        await s.store.put(
          `${name}${MANIFEST_SUFFIX}`,
          `${JSON.stringify({ ...manifest, sha256, file: name, tier }, null, 2)}\n`,
          { contentType: "application/json" },
        );
      }
      // The checksum on the object is an extra (the sidecar is the record): its failure is a warning.
      await s.store.recordChecksum(name, sha256).catch((err: unknown) => {
        logger.warn(`${briefly(err)} — the .sha256 sidecar still records it`);
      });
      await s.store.put(`${name}${CHECKSUM_SUFFIX}`, checksumLine(sha256, name));
      entry.uris.push(s.uri);
      logger.info(`Uploaded ${s.uri} (${outcome.bytes} bytes, sha256 ${sha256})`);
    } catch (err) {
      entry.errors.push(briefly(err));
      // Without its sidecar the copy is not a backup: remove it rather than leave an orphan that
      // verify and retention would report every night.
      for (const orphan of [name, ...(manifest ? [`${name}${MANIFEST_SUFFIX}`] : [])]) {
        await s.store.delete(orphan).catch((e: unknown) => {
          logger.error(`Could not remove the incomplete copy ${s.store.uri(orphan)}: ${briefly(e)}`);
        });
      }
    }
  }
  return [...byStore.entries()].map(([store, e]) => {
    for (const error of e.errors) logger.error(`Off-site copy failed: ${error}`);
    return {
      kind: store.kind,
      location: store.location,
      uris: e.uris,
      ok: e.errors.length === 0,
      ...(e.errors.length > 0 ? { error: e.errors.join("; "), stage: "upload" as const } : {}),
      bytes: e.bytes,
      seconds: e.seconds,
    };
  });
}
