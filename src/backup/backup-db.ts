import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { BackupName, formatTimestamp, type Tier } from "../catalog/backup-name.js";
import { listLocalBackups } from "../catalog/local-catalog.js";
import {
  type BackupManifest,
  CHECKSUM_SUFFIX,
  checksumLine,
  MANIFEST_SUFFIX,
  MANIFEST_VERSION,
} from "../catalog/manifest.js";
import { type BackupDbConfig, isValidPrefix } from "../config/backup-db-config.js";
import { GpgEncryptor } from "../crypto/gpg.js";
import { sealText } from "../crypto/sealed-text.js";
import type { DatabaseProperties } from "../db/database-properties.js";
import { describeTarget, libpqEnvironment } from "../db/database-url.js";
import { choosePgTool, type PgTool } from "../db/pg-tools.js";
import { inspectServer, type ServerInfo } from "../db/server-info.js";
import { ExportedSnapshot, type SnapshotCatalog } from "../db/snapshot.js";
import {
  AtomicFile,
  ensureWritableDirectory,
  publishWithCompanions,
  removeOrphanCompanions,
  removeStalePartials,
} from "../fs/atomic-file.js";
import { DirectoryLock } from "../fs/dir-lock.js";
import { FileSink, type Logger } from "../log/logger.js";
import { backupSamples } from "../metrics/backup-metrics.js";
import { type PublishOutcome, publishMetrics } from "../metrics/publish.js";
import { applyLocalRetention, type RetentionOutcome } from "../retention/apply.js";
import { applyRemoteRetention } from "../retention/remote-apply.js";
import { ConfigError, throwIfCancelled, UserError } from "../shared/errors.js";
import { FanOut } from "../storage/fan-out.js";
import { openStore } from "../storage/open-store.js";
import { DEFAULT_TRANSFER } from "../storage/transfer.js";
import { extensionFor } from "../stream/compression.js";
import { LIFELINE_VERSION } from "../version.js";
import { makeUpMissing } from "./catch-up.js";
import { runDumpPipeline } from "./dump-pipeline.js";
import { assertNamesFit, assertNamesFree } from "./name-check.js";
import { completeUploads, type OffsiteReport, preflightDestinations, startUploads } from "./offsite.js";
import { readHoldingsOf, uploadTargets } from "./remote-holdings.js";
import { fileUnderTier, tiersDue } from "./tiers.js";

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

/** The properties with their settings encrypted to the backup's recipient (the manifest is in the clear). */
async function sealSettings(
  properties: DatabaseProperties,
  encryptor: GpgEncryptor,
  logger: Logger,
): Promise<DatabaseProperties> {
  if (properties.error || properties.settings.length === 0) return properties;
  try {
    return {
      ...properties,
      settings: [],
      sealedSettings: await sealText(encryptor, JSON.stringify(properties.settings)),
    };
  } catch (err) {
    const error = `the database settings could not be encrypted for the manifest: ${(err as Error).message}`;
    logger.warn(`${error}; the backup continues, and a restore will not re-apply the database's properties`);
    return { ...properties, settings: [], error };
  }
}

const ymd = (at: Date): string => formatTimestamp(at).slice(0, 8);

/** The snapshot's catalog with each table's rows as counted in the dump stream. */
function withStreamCounts(catalog: SnapshotCatalog, counts: ReadonlyMap<string, number>): SnapshotCatalog {
  if (catalog.error) return catalog;
  return {
    ...catalog,
    rowCounts: "exact",
    rowCountSource: "dump stream",
    tables: catalog.tables.map((t) => ({ name: t.name, rows: counts.get(t.name) ?? null })),
  };
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
  const partial = await takeBackup(config, options, startedAt, now);
  throwIfCancelled(options.signal, "The backup was cancelled after it was written; it is kept");
  const metrics = await publishMetrics(
    config.metrics,
    { type: "database" },
    backupSamples(
      "database",
      {
        ok: partial.offsite.every((o) => o.ok),
        finishedAt: partial.finishedAt,
        durationSeconds: partial.durationSeconds,
        sizeBytes: partial.sizeBytes,
      },
      partial.offsite,
    ),
    options.logger,
    options.signal,
  );
  return { ...partial, metrics };
}

async function takeBackup(
  config: BackupDbConfig,
  options: BackupDbOptions,
  startedAt: Date,
  now: () => Date,
): Promise<Omit<BackupDbResult, "metrics">> {
  const { logger } = options;
  logger.addSecret(config.connection.password);

  const dailyDir = path.join(config.backupDir, "daily");
  const logsDir = path.join(config.backupDir, "logs");
  await ensureWritableDirectory(config.backupDir, "BACKUP_DIR");
  await ensureWritableDirectory(dailyDir, "Backup directory");
  await ensureWritableDirectory(logsDir, "Log directory");
  const logFile = path.join(logsDir, `backup_${ymd(startedAt)}.log`);
  const fileSink = new FileSink(logFile);
  logger.addSink(fileSink);

  let lock: DirectoryLock | undefined;
  let encryptor: GpgEncryptor | undefined;
  try {
    lock = await DirectoryLock.acquire(config.backupDir, "backup-db", logger);
    const target = describeTarget(config.connection);
    logger.info(`Backing up ${target} into ${dailyDir}`);
    // Everything that can be refused is checked before the dump: key, server, pg_dump version.
    if (config.encryption) {
      encryptor = await GpgEncryptor.prepare(config.encryption);
      logger.info(`Encrypting to GPG key ${encryptor.fingerprint} (${encryptor.recipient})`);
    }
    const server = await inspectServer(config.connection, options.signal);
    const pgDump = await choosePgTool("pg_dump", server.major, config.pgBinDir);
    logger.info(`Server PostgreSQL ${server.version}; using pg_dump ${pgDump.version} (${pgDump.path})`);

    for (const stale of await removeStalePartials(dailyDir)) {
      logger.warn(`Removed a partial file left by an earlier run that died: ${stale}`);
    }
    // Companions published before a crash kept their backup from being published; we hold the lock, so
    // none is being published now: any older than this moment whose backup is missing is such an orphan.
    const isBackup = (file: string) => BackupName.parse(file) !== undefined;
    const suffixes = [MANIFEST_SUFFIX, CHECKSUM_SUFFIX];
    for (const orphan of await removeOrphanCompanions(dailyDir, suffixes, new Date(), isBackup)) {
      logger.warn(`Removed ${orphan}: its backup file is missing (an earlier run died while publishing it)`);
    }
    const prefix = config.prefix ?? server.database;
    if (!isValidPrefix(prefix)) {
      // Files named after it could not be read back: retention, tiers and verify would not see them.
      throw new ConfigError(
        `The database name '${server.database}' cannot start a backup file name (letters, digits, '.', '_' and '-' only, ` +
          "starting with a letter or digit): set BACKUP_PREFIX (input 'prefix') to a name that can",
      );
    }
    const name = new BackupName(
      prefix,
      "daily",
      startedAt,
      extensionFor(config.format, config.compression),
      !!encryptor,
    );
    await assertNamesFit(dailyDir, name, config.prefix !== undefined);
    const previous = (await listLocalBackups(dailyDir, "daily", prefix))
      .filter((b) => b.valid)
      .sort((a, b) => b.name.takenAt.getTime() - a.name.takenAt.getTime())[0];
    const previousSizeBytes = previous
      ? (await stat(path.join(dailyDir, previous.fileName))).size
      : undefined;
    // Decided before the dump so that the clouds receive the weekly/monthly copies in the same pass.
    const due = await tiersDue(config.backupDir, prefix, startedAt, config.schedule);
    // A clash with a backup of the same second is refused before anything slow (preflight, dump).
    await assertNamesFree(config.backupDir, name, ["daily", ...due]);
    // Every destination is proven usable before the dump; one that is not is reported and skipped.
    const stores = await Promise.all(config.destinations.map((d) => openStore(d, logger, options.signal)));
    const { ready, failed: preflightFailures } = await preflightDestinations(stores, logger, {
      timeoutMs: config.destinations[0]?.settings.transfer.preflightTimeoutMs,
      signal: options.signal,
    });
    // Each destination is judged on what it holds: a weekly/monthly it missed is due there even when
    // BACKUP_DIR has one, and what else it lacks is made up after today's backup.
    const holdings = await readHoldingsOf(ready, prefix, logger, {
      policy: config.retention,
      schedule: config.schedule,
      now: startedAt,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    throwIfCancelled(options.signal, "The backup was cancelled before the dump started; nothing was written");

    const file = path.join(dailyDir, name.toString());
    const output = await AtomicFile.create(file);
    const uploads = await startUploads(
      uploadTargets(holdings, due, name, config.schedule, logger),
      encryptor ? "application/pgp-encrypted" : "application/octet-stream",
      logger,
      previousSizeBytes,
    );
    const fanOut =
      uploads.started.length > 0
        ? new FanOut(output.stream, uploads.started, {
            stallTimeoutMs:
              config.destinations[0]?.settings.transfer.stallTimeoutMs ?? DEFAULT_TRANSFER.stallTimeoutMs,
            onBranchFailure: (uri, error) =>
              logger.error(`Upload to ${uri} failed: ${error.message}; the local backup continues`),
          })
        : undefined;
    // A failed backup leaves nothing: the partial file is removed and the uploads are aborted with
    // their leftovers (multipart parts, sessions, staged blocks); none was ended, so no object of it
    // exists in any bucket.
    const abandon = async (err: unknown) => {
      await output.abort();
      if (fanOut) {
        fanOut.abortUploads(err as Error);
        await fanOut.outcomes();
      }
    };
    let snapshot: ExportedSnapshot | undefined;
    let pipelineResult: Awaited<ReturnType<typeof runDumpPipeline>>;
    let catalog: BackupManifest["catalog"];
    let sizeBytes: number;
    let databaseProperties: BackupManifest["databaseProperties"];
    try {
      snapshot = await ExportedSnapshot.open(config.connection, options.signal);
      const dumpArgs =
        config.format === "custom"
          ? ["--format=custom", `--compress=${config.compression === "none" ? 0 : config.compressionLevel}`]
          : ["--format=plain"];
      // Plain dumps are counted from the stream itself (exactly what the file holds, no load on the
      // live database); custom archives cannot be read in flight, so they are counted in the snapshot.
      const countInStream = config.format === "plain" && config.rowCounts === "exact";
      // What the manifest records is read on its own connection in the same snapshot: a catalog that
      // cannot be read (permissions, a cancelled query) is a warning, and never touches the dump.
      const described = snapshot.describe(countInStream ? "off" : config.rowCounts).then((d) => {
        if (d.catalog.error)
          logger.warn(
            `Could not read the catalog for the manifest: ${d.catalog.error}; the backup continues without it`,
          );
        if (d.database.error)
          logger.warn(
            `Could not read the database's properties (ACL, comment, settings) for the manifest: ${d.database.error}; ` +
              "the backup continues, and a restore will not re-apply them",
          );
        return d;
      });
      const [dumped, description] = await Promise.all([
        runDumpPipeline({
          pgDump,
          args: [...dumpArgs, `--snapshot=${snapshot.id}`],
          env: libpqEnvironment(config.connection),
          format: config.format,
          compression: config.compression,
          level: config.compressionLevel,
          threads: availableParallelism(),
          countRows: countInStream,
          encryptor,
          output,
          ...(fanOut ? { sink: fanOut } : {}),
          backupDir: config.backupDir,
          ...(options.signal ? { signal: options.signal } : {}),
        }),
        described,
      ]);
      const sqlCatalog = description.catalog;
      databaseProperties = encryptor
        ? await sealSettings(description.database, encryptor, logger)
        : description.database;
      pipelineResult = dumped;
      catalog = countInStream ? withStreamCounts(sqlCatalog, dumped.rowCounts ?? new Map()) : sqlCatalog;
      logger.info(`Dumped ${dumped.dumpBytes ?? "an unreported number of"} bytes via ${dumped.topology}`);
      await output.sync(); // published below, after its manifest and sidecar
      sizeBytes = (await stat(output.tempPath)).size;
    } catch (err) {
      await abandon(err);
      throw err;
    } finally {
      await snapshot?.close();
    }

    const finishedAt = now();
    const durationSeconds = Math.max(0.001, (finishedAt.getTime() - startedAt.getTime()) / 1000);
    const manifest: BackupManifest = {
      manifestVersion: MANIFEST_VERSION,
      tool: { name: "lifeline", version: LIFELINE_VERSION },
      file: name.toString(),
      tier: "daily",
      database: server.database,
      server: { version: server.version, versionNum: server.versionNum, target },
      pgDump: { version: pgDump.version, path: pgDump.path },
      format: config.format,
      extension: name.extension,
      compression: {
        algorithm: config.compression,
        level: config.compression === "none" ? 0 : config.compressionLevel,
      },
      encryption: encryptor
        ? { method: "gpg", recipient: encryptor.recipient, fingerprint: encryptor.fingerprint }
        : null,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds,
      dumpBytes: pipelineResult.dumpBytes,
      sizeBytes,
      sha256: pipelineResult.sha256,
      catalog,
      databaseProperties,
    };
    const manifestFile = `${file}${MANIFEST_SUFFIX}`;
    const sidecarFile = `${file}${CHECKSUM_SUFFIX}`;
    // The data is published last, beside its manifest and sidecar: a backup never exists under its
    // final name without them, and if either cannot be written nothing of this backup is left.
    try {
      await publishWithCompanions(
        [
          { path: manifestFile, data: `${JSON.stringify(manifest, null, 2)}\n` },
          { path: sidecarFile, data: checksumLine(pipelineResult.sha256, name.toString()) },
        ],
        () => output.publish(),
      );
    } catch (err) {
      await abandon(err);
      if (!(err instanceof UserError)) throw err;
      throw new UserError(`${err.message}; this backup was not kept, earlier backups are untouched`, {
        cause: err,
      });
    }
    // Only now is the dump known complete (exit statuses, trailer) and safe on disk: the uploads may
    // store their objects under the final names.
    fanOut?.finishUploads();
    logger.info(
      `Backup written: ${file} (${sizeBytes} bytes, ${pipelineResult.dumpBytes ?? "?"} bytes dumped, ${durationSeconds.toFixed(1)} s, sha256 ${pipelineResult.sha256})`,
    );

    const tiers: { tier: Tier; file: string }[] = [{ tier: "daily", file }];
    // Filing weekly/monthly copies and retention come after the daily backup is safely in place; their
    // failure is loud (log, summary) but never undoes or fails that backup.
    try {
      for (const tier of due) {
        const tierFile = await fileUnderTier(config.backupDir, file, name, tier, pipelineResult.sha256);
        tiers.push({ tier, file: tierFile });
        logger.info(`Filed as ${tier}: ${tierFile}`);
      }
    } catch (err) {
      logger.error(
        `Could not file the backup under weekly/monthly: ${(err as Error).message}; the daily backup is intact`,
      );
    }

    // Retention only after the new backup is safely in place; its failure is loud but does not undo the backup.
    let retention: RetentionOutcome | { error: string };
    try {
      retention = await applyLocalRetention(config.backupDir, prefix, config.retention, now(), {
        dryRun: config.retentionDryRun,
        logger,
        tiers: ["daily", "weekly", "monthly"],
        schedule: config.schedule,
      });
    } catch (err) {
      retention = { error: (err as Error).message };
      logger.error(`Retention failed, nothing more was deleted: ${(err as Error).message}`);
    }

    const uploaded: OffsiteReport[] = [
      ...preflightFailures,
      ...uploads.failed,
      ...(fanOut
        ? await completeUploads(
            uploads.started,
            await fanOut.outcomes(),
            { sha256: manifest.sha256, manifest },
            logger,
          )
        : []),
    ];
    const arrived = new Set(uploaded.filter((o) => o.ok).map((o) => o.location));
    const offsite = await makeUpMissing(uploaded, holdings, {
      backupDir: config.backupDir,
      prefix,
      policy: config.retention,
      schedule: config.schedule,
      now: now(),
      limits: config.catchUp,
      encryptTo: encryptor?.fingerprint,
      stallTimeoutMs:
        config.destinations[0]?.settings.transfer.stallTimeoutMs ?? DEFAULT_TRANSFER.stallTimeoutMs,
      logger,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // Remote retention, like local, only where today's backup safely arrived.
    for (const [i, report] of offsite.entries()) {
      const store = stores.find((s) => s.location === report.location);
      if (!arrived.has(report.location) || !store) continue;
      try {
        const outcome = await applyRemoteRetention(store, prefix, config.retention, now(), {
          dryRun: config.retentionDryRun,
          logger,
          tiers: ["daily", "weekly", "monthly"],
          schedule: config.schedule,
        });
        offsite[i] = { ...report, retention: outcome };
      } catch (err) {
        logger.error(
          `Retention in ${report.location} failed, nothing more was deleted there: ${(err as Error).message}`,
        );
        offsite[i] = { ...report, retention: { error: (err as Error).message } };
      }
    }

    return {
      file,
      sidecarFile,
      manifestFile,
      sha256: pipelineResult.sha256,
      sizeBytes,
      dumpBytes: pipelineResult.dumpBytes,
      durationSeconds,
      startedAt,
      finishedAt,
      database: server.database,
      server,
      pgDump,
      logFile,
      manifest,
      tiers,
      previousSizeBytes,
      retention,
      offsite,
    };
  } catch (err) {
    // The adapter reports the failure to the operator; the day's log file keeps it too.
    try {
      fileSink.write("error", logger.redact((err as Error).message), new Date());
    } catch {} // a log file that cannot be written (full disk) must not hide the run's own error
    throw err;
  } finally {
    await encryptor?.dispose();
    await lock?.release();
    logger.removeSink(fileSink);
  }
}
