import { preflightDestinations } from "../backup/offsite.js";
import type { MediaOffsiteConfig } from "../config/media-config.js";
import { GpgEncryptor } from "../crypto/gpg.js";
import type { Logger } from "../log/logger.js";
import { briefly } from "../storage/destination-error.js";
import { loadKnown, recheckKnown, writeCache } from "./remote-known.js";
import { applyRemoteRetention, type RemoteRetentionOutcome } from "./remote-retention.js";
import { listRemoteSnapshots, type MediaRemote, openMediaRemote } from "./remote-store.js";
import { packingFor, uploadSnapshot } from "./remote-upload.js";

/** How one bucket fared with a media snapshot. */
export interface MediaOffsiteReport {
  readonly kind: MediaRemote["kind"];
  readonly location: string;
  readonly ok: boolean;
  readonly error?: string;
  /** Where it failed: the check before the upload, the upload itself, or retention afterwards. */
  readonly stage?: "preflight" | "upload" | "retention";
  /** The snapshot now complete in the bucket (absent when the upload failed). */
  readonly snapshot?: string;
  /** Data objects (packs, large files) and their bytes written by this run; everything else was there. */
  readonly objects: number;
  readonly bytes: number;
  readonly reusedContents: number;
  readonly reusedObjects: number;
  readonly metadataBytes: number;
  readonly seconds: number;
  /** What deduplication went by: the local cache, the bucket's newest index, or nothing (a first run). */
  readonly knownFrom?: string;
  readonly retention?: RemoteRetentionOutcome | { readonly error: string } | { readonly skipped: string };
}

export interface SendOffsiteInput {
  readonly config: MediaOffsiteConfig;
  readonly backupDir: string;
  readonly snapshotDir: string;
  readonly snapshot: string;
  /** --full: the bucket's index is not trusted either; its data is listed and what is missing is sent again. */
  readonly recheck: boolean;
  /** Retention runs only after a snapshot with no unreadable entry, as locally. */
  readonly clean: boolean;
  readonly retentionDays: number;
  readonly dryRun: boolean;
  readonly now: () => Date;
  readonly logger: Logger;
  readonly signal?: AbortSignal | undefined;
  readonly onBytes?: (bytes: number) => void;
  /** At most once a second: contents read for the buckets so far, of how many planned. */
  readonly onProgress?: (p: OffsiteProgress) => void;
}

export interface OffsiteProgress {
  readonly bytes: number;
  readonly of: number;
  readonly buckets: number;
  readonly elapsedSeconds: number;
}

/**
 * Copies a finished local snapshot to every configured bucket, at once: each gets only the contents it
 * lacks, and its own retention and garbage collection afterwards. A bucket that fails is reported with
 * the stage and the reason; the others go on, and the local snapshot stays as it is.
 */
export async function sendOffsite(input: SendOffsiteInput): Promise<MediaOffsiteReport[]> {
  const { config, logger, signal } = input;
  if (config.destinations.length === 0) return [];
  const remotes = await Promise.all(
    config.destinations.map((d) => openMediaRemote(d, config.prefix, logger, signal)),
  );
  const timeoutMs = config.destinations[0]?.settings.transfer.preflightTimeoutMs;
  const { ready, failed } = await preflightDestinations(
    remotes.map((r) => r.data),
    logger,
    { signal, ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
  );
  const reports: MediaOffsiteReport[] = failed.map((f) => ({
    kind: f.kind,
    location: remotes.find((r) => r.data.location === f.location)?.location ?? f.location,
    ok: false,
    error: f.error ?? "the destination could not be checked",
    stage: "preflight",
    ...EMPTY,
  }));
  const started = Date.now();
  const progress = { bytes: 0, of: 0, last: 0 };
  const tell = (n: number) => {
    progress.bytes += n;
    input.onBytes?.(n);
    if (input.onProgress && Date.now() - progress.last >= 1000) {
      progress.last = Date.now();
      input.onProgress({
        bytes: progress.bytes,
        of: progress.of,
        buckets: ready.length,
        elapsedSeconds: (Date.now() - started) / 1000,
      });
    }
  };
  const counted: CountedInput = {
    ...input,
    onBytes: tell,
    onPlanned: (n) => {
      progress.of += n;
    },
  };
  const live = remotes.filter((r) => ready.includes(r.data));
  let encryptor: GpgEncryptor | undefined;
  try {
    encryptor = config.encryption
      ? await GpgEncryptor.prepare({
          recipient: config.encryption.recipient,
          publicKey: config.encryption.publicKey,
        })
      : undefined;
  } catch (err) {
    // The local snapshot stands; no bucket gets an unencrypted copy instead.
    logger.error(`No off-site copy is made: ${briefly(err)}`);
    for (const r of live) {
      reports.push({
        kind: r.kind,
        location: r.location,
        ok: false,
        error: briefly(err),
        stage: "preflight",
        ...EMPTY,
      });
    }
    return reports;
  }
  try {
    reports.push(...(await Promise.all(live.map((remote) => sendOne(remote, counted, encryptor)))));
  } finally {
    await encryptor?.dispose();
  }
  return reports;
}

const EMPTY = { objects: 0, bytes: 0, reusedContents: 0, reusedObjects: 0, metadataBytes: 0, seconds: 0 };

/** The input as each bucket's upload sees it: byte counts go to the run's one progress. */
interface CountedInput extends SendOffsiteInput {
  readonly onPlanned: (bytes: number) => void;
}

async function sendOne(
  remote: MediaRemote,
  input: CountedInput,
  encryptor: GpgEncryptor | undefined,
): Promise<MediaOffsiteReport> {
  const { logger, config } = input;
  const started = Date.now();
  let knownFrom: string | undefined;
  let uploaded: Awaited<ReturnType<typeof uploadSnapshot>> | undefined;
  try {
    const { snapshots } = await listRemoteSnapshots(remote);
    const complete = snapshots.filter((s) => s.complete);
    if (complete.some((s) => s.name === input.snapshot)) {
      logger.info(`${remote.location}: ${input.snapshot} is complete there already`);
    } else {
      const loaded = await loadKnown(remote, complete, input.backupDir, logger);
      const known = input.recheck ? await recheckKnown(remote, loaded, logger) : loaded;
      knownFrom = known.source;
      logger.info(
        `Uploading ${input.snapshot} to ${remote.location} (what the bucket holds: ${known.source})`,
      );
      const transfer = config.destinations[0]?.settings.transfer;
      uploaded = await uploadSnapshot(remote, {
        snapshotDir: input.snapshotDir,
        snapshot: input.snapshot,
        known,
        rule: packingFor(transfer?.partSizeBytes ?? 8 << 20, config.destinations.length),
        encryptor,
        logger,
        signal: input.signal,
        onBytes: input.onBytes,
        onPlanned: input.onPlanned,
      });
      logger.info(
        `Off-site ${remote.location}: snapshot ${input.snapshot} complete, ${uploaded.objects} objects (${uploaded.bytes} bytes) ` +
          `uploaded in ${uploaded.seconds.toFixed(1)} s; ${uploaded.reusedContents} contents were there already`,
      );
      try {
        await writeCache(
          input.backupDir,
          remote.location,
          input.snapshot,
          uploaded.indexText,
          uploaded.indexSha256,
        );
      } catch (err) {
        logger.warn(
          `The local index cache of ${remote.location} could not be written: ${briefly(err)}; the next run reads the bucket's`,
        );
      }
    }
  } catch (err) {
    const error = briefly(err);
    if (!input.signal?.aborted) {
      logger.error(
        `Off-site ${remote.location}: ${error} — the snapshot is not complete there; the local snapshot stands, and the next run uploads what is missing`,
      );
    }
    return {
      kind: remote.kind,
      location: remote.location,
      ok: false,
      error,
      stage: "upload",
      ...EMPTY,
      seconds: (Date.now() - started) / 1000,
      ...(knownFrom ? { knownFrom } : {}),
    };
  }
  const seconds = (Date.now() - started) / 1000;
  let retention: MediaOffsiteReport["retention"];
  if (!input.clean) retention = { skipped: "the snapshot recorded unreadable entries" };
  else {
    try {
      retention = await applyRemoteRetention(remote, {
        now: input.now(),
        days: input.retentionDays,
        dryRun: input.dryRun,
        graceMs: config.graceMs,
        logger,
      });
    } catch (err) {
      retention = { error: briefly(err) };
      logger.error(`Retention in ${remote.location} failed: ${briefly(err)}`);
    }
  }
  const retentionFailed =
    retention !== undefined &&
    ("error" in retention ||
      ("failed" in retention &&
        (retention.failed.length > 0 || ("failed" in retention.gc && retention.gc.failed.length > 0))));
  return {
    kind: remote.kind,
    location: remote.location,
    ok: !retentionFailed,
    ...(retentionFailed
      ? { error: `retention: ${retentionError(retention)}`, stage: "retention" as const }
      : {}),
    snapshot: input.snapshot,
    objects: uploaded?.objects ?? 0,
    bytes: uploaded?.bytes ?? 0,
    reusedContents: uploaded?.reusedContents ?? 0,
    reusedObjects: uploaded?.reusedObjects ?? 0,
    metadataBytes: uploaded?.metadataBytes ?? 0,
    seconds,
    ...(knownFrom ? { knownFrom } : {}),
    retention,
  };
}

function retentionError(r: MediaOffsiteReport["retention"]): string {
  if (r === undefined || "skipped" in r) return "";
  if ("error" in r) return r.error;
  const failed = [...r.failed, ...("failed" in r.gc ? r.gc.failed : [])];
  return `${failed.length} removal(s) failed: ${failed
    .slice(0, 5)
    .map((f) => `${f.name}: ${f.error}`)
    .join("; ")}`;
}
