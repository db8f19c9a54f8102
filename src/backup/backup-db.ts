import type { Tier } from "../catalog/backup-name.js";
import type { BackupManifest } from "../catalog/manifest.js";
import type { BackupDbConfig } from "../config/backup-db-config.js";
import type { PgTool } from "../db/pg-tools.js";
import type { ServerInfo } from "../db/server-info.js";
import type { Logger } from "../log/logger.js";
import type { PublishOutcome } from "../metrics/publish.js";
import type { RetentionOutcome } from "../retention/apply.js";
import { throwIfCancelled } from "../shared/errors.js";
import type { OffsiteReport } from "./offsite.js";
import type { BackupRun, HeldByRun } from "./stages/context.js";
import { dump } from "./stages/dump.js";
import { fileTiers } from "./stages/file-tiers.js";
import { completeOffsite } from "./stages/off-site.js";
import { stallTimeoutOf } from "./stages/outgoing.js";
import { preflight } from "./stages/preflight.js";
import { prepare } from "./stages/prepare.js";
import { publish } from "./stages/publish.js";
import { report } from "./stages/report.js";
import { type RetainOptions, retainLocal, retainRemote } from "./stages/retain.js";

export interface BackupDbResult {
  readonly file: string;
  readonly sidecarFile: string;
  readonly manifestFile: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly dumpBytes: number | null;
  readonly durationSeconds: number;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly database: string;
  readonly server: ServerInfo;
  readonly pgDump: PgTool;
  readonly logFile: string;
  readonly manifest: BackupManifest;
  /** Every tier the backup was filed under, with its path: daily always, weekly/monthly when due. */
  readonly tiers: readonly { readonly tier: Tier; readonly file: string }[];
  /** Size of the newest earlier valid daily backup, for the size trend. */
  readonly previousSizeBytes: number | undefined;
  readonly retention: RetentionOutcome | { readonly error: string };
  /** One report per configured cloud destination; a failed one makes the run fail after the local backup. */
  readonly offsite: readonly OffsiteReport[];
  readonly metrics: PublishOutcome;
}

export interface BackupDbOptions {
  readonly logger: Logger;
  /** The clock, for tests; backup names use its UTC time. */
  readonly now?: () => Date;
  /** Aborting stops pg_dump and removes the partial file (e.g. on SIGINT/SIGTERM). */
  readonly signal?: AbortSignal;
}

/**
 * Takes one database backup (runbook: backup_db.sh): pg_dump → compression → optional GPG → file in a
 * single streamed pass, with the SHA-256 computed on the way and per-table row counts read in the
 * dump's own snapshot. The file appears under its final name only when every stage succeeded; then
 * it is filed under weekly/monthly when due, retention runs, and metrics are published either way.
 */
export async function backupDatabase(
  config: BackupDbConfig,
  options: BackupDbOptions,
): Promise<BackupDbResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  // A run that throws records its failure in the adapter (metrics/failed-run.ts), which also sees the
  // failures before this point (configuration, cancellation) and the exit status.
  const partial = await takeBackup({
    config,
    logger: options.logger,
    signal: options.signal,
    startedAt,
    now,
  });
  throwIfCancelled(options.signal, "The backup was cancelled after it was written; it is kept");
  const metrics = await report(
    "database",
    config.metrics,
    { ...partial, destinations: partial.offsite },
    options.logger,
    options.signal,
  );
  return { ...partial, metrics };
}

/**
 * The run as its stages: prepare → preflight → dump → publish → file tiers → retain (local) →
 * off-site → retain (remote). What a stage takes is released here whichever stage fails: the
 * partial file and its uploads, the GPG home, the lock; the error is kept in the day's log file.
 */
async function takeBackup(run: BackupRun): Promise<Omit<BackupDbResult, "metrics">> {
  const { config, logger, signal, startedAt, now } = run;
  logger.addSecret(config.connection.password);
  const prepared = await prepare({
    backupDir: config.backupDir,
    workDir: "daily",
    workDirWhat: "Backup directory",
    logName: "backup",
    owner: "backup-db",
    startedAt,
    logger,
  });
  const held: HeldByRun = {};
  try {
    const plan = await preflight(run, prepared.workDir, held);
    throwIfCancelled(signal, "The backup was cancelled before the dump started; nothing was written");
    const dumped = await dump(run, plan, prepared.workDir, held);
    const published = await publish(run, plan, dumped);
    const tiers = await fileTiers(
      config.backupDir,
      published.file,
      plan.name,
      plan.due,
      dumped.sha256,
      logger,
    );
    const retain: RetainOptions = {
      prefix: plan.prefix,
      policy: config.retention,
      schedule: config.schedule,
      dryRun: config.retentionDryRun,
      tiers: ["daily", "weekly", "monthly"],
      logger,
    };
    // Local retention before the off-site stage: catch-up uploads only what BACKUP_DIR still keeps.
    const retention = await retainLocal(config.backupDir, now(), retain);
    const uploaded = await completeOffsite({
      preflightFailures: plan.failures,
      outgoing: dumped.outgoing,
      record: { sha256: published.manifest.sha256, manifest: published.manifest },
      holdings: plan.holdings,
      backupDir: config.backupDir,
      prefix: plan.prefix,
      policy: config.retention,
      schedule: config.schedule,
      now,
      limits: config.catchUp,
      encryptTo: plan.encryptor?.fingerprint,
      stallTimeoutMs: stallTimeoutOf(config.destinations),
      logger,
      signal,
    });
    const offsite = await retainRemote(uploaded.reports, plan.stores, uploaded.arrived, now, retain);
    return {
      file: published.file,
      sidecarFile: published.sidecarFile,
      manifestFile: published.manifestFile,
      sha256: dumped.sha256,
      sizeBytes: dumped.sizeBytes,
      dumpBytes: dumped.dumpBytes,
      durationSeconds: published.durationSeconds,
      startedAt,
      finishedAt: published.finishedAt,
      database: plan.server.database,
      server: plan.server,
      pgDump: plan.pgDump,
      logFile: prepared.logFile,
      manifest: published.manifest,
      tiers,
      previousSizeBytes: plan.previousSizeBytes,
      retention,
      offsite,
    };
  } catch (err) {
    // The adapter reports the failure to the operator; the day's log file keeps it too, first, so
    // that nothing below can replace or lose it.
    prepared.recordFailure(err);
    // A stage that failed after the partial file was created has removed it; this makes sure.
    try {
      await held.outgoing?.abandon(err);
    } catch (cleanup) {
      logger.warn(`Could not remove the partial backup after the failure: ${(cleanup as Error).message}`);
    }
    throw err;
  } finally {
    await held.encryptor?.dispose();
    await prepared.release();
  }
}
