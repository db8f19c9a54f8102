import type pg from "pg";
import {
  type BackupEntry,
  backupStores,
  expectedSha256,
  findBackup,
  listBackups,
  readManifest,
} from "../catalog/backup-source.js";
import type { RestoreConfig } from "../config/restore-config.js";
import { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import type { Logger } from "../log/logger.js";
import { type PublishOutcome, publishMetrics } from "../metrics/publish.js";
import { restoreSamples } from "../metrics/restore-metrics.js";
import { throwIfCancelled, UserError } from "../shared/errors.js";
import {
  connectMaintenance,
  createEmptyDatabase,
  describeDatabase,
  dropDatabase,
  previousDatabaseName,
  recordedDatabaseInfo,
  restoreDatabaseName,
  swapInto,
} from "./databases.js";
import { newestBefore, noBackupBeforeTarget } from "./pitr.js";
import { requireRestrictablePsql } from "./psql-guard.js";
import { chooseRestoreTools, type ProveResult, restoreAndProve } from "./restore-and-prove.js";

export interface RestoreResult {
  readonly database: string;
  readonly source: BackupEntry;
  readonly sha256: string;
  readonly topology: string;
  readonly proof: ProveResult;
  /** Where the replaced database is kept; undefined when there was none or it was dropped. */
  readonly previousDatabase: string | undefined;
  readonly droppedPrevious: boolean;
  readonly durationSeconds: number;
  readonly metrics: PublishOutcome;
}

export interface RestoreOptions {
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
  /** For tests: runs in the new database after the data is in, before the comparison. */
  readonly afterRestoreHook?: (client: pg.Client) => Promise<void>;
}

/** A restore that failed, with the proof so far (for the summary's comparison table). */
export class RestoreFailedError extends UserError {
  constructor(
    message: string,
    readonly proof: ProveResult | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The backup a restore uses: `--backup-file`, or with `--pitr` the newest taken before the target. */
export async function chooseBackup(config: RestoreConfig): Promise<BackupEntry> {
  if (config.backupFile !== undefined)
    return findBackup(config.backupFile, config.destinationForUri, config.settingEnable("listBackups"));
  const target = config.pitrTarget!;
  const all = await listBackups(await backupStores(config.backupDir, config.destinations), config.prefix);
  const chosen = newestBefore(all, target);
  if (!chosen) {
    const buckets = config.destinations.map((d) => d.kind).join(", ");
    const where = `${config.backupDir}${buckets ? ` (and the ${buckets} bucket(s))` : ""}`;
    throw noBackupBeforeTarget(all, target, where, config.database, {
      targetTime: config.settingName("targetTime"),
      backupFile: config.settingName("backupFile"),
      listBackups: config.settingEnable("listBackups"),
    });
  }
  return chosen;
}

/**
 * Restores a backup over a live database without ever risking it (runbook: restore_db.sh): the backup is
 * restored into a new database, proven (SHA-256 against the sidecar, catalog and row counts against the
 * manifest), and only then swapped in by renaming; the old database is kept as `<db>_pre_restore_<time>`
 * unless `dropOld`. Any failure before the swap drops the new database and leaves the live one as it was.
 * The caller has obtained the operator's confirmation.
 */
export async function restoreDatabase(
  config: RestoreConfig,
  entry: BackupEntry,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const now = options.now ?? (() => new Date());
  const started = now();
  const { logger } = options;
  logger.addSecret(config.connection.password);
  // A restore that throws records its failure in the adapter (metrics/failed-run.ts), which also sees
  // the refusals and configuration errors before this point, and the exit status.
  const result = await restore(config, entry, options, started);
  const finishedAt = now();
  const durationSeconds = (finishedAt.getTime() - started.getTime()) / 1000;
  const metrics = await publishMetrics(
    config.metrics,
    { type: "database" },
    restoreSamples("database", { ok: true, finishedAt, durationSeconds }),
    logger,
  );
  return { ...result, durationSeconds, metrics };
}

async function restore(
  config: RestoreConfig,
  entry: BackupEntry,
  options: RestoreOptions,
  started: Date,
): Promise<Omit<RestoreResult, "durationSeconds" | "metrics">> {
  const { logger } = options;
  const live = config.database;
  // Everything that can be refused is refused before a database is created.
  const sha256 = await expectedSha256(entry);
  const manifest = await readManifest(entry);
  throwIfCancelled(options.signal, `The restore was cancelled before it started; "${live}" was not touched`);
  const admin = await connectMaintenance(config.connection, live);
  const fresh = restoreDatabaseName(live, started);
  let created = false;
  let swapped = false;
  let proof: ProveResult | undefined;
  // Prepared inside the try whose finally disposes it: its gpg-agent holds the secret key.
  let keyring: GpgDecryptKeyring | undefined;
  try {
    if (entry.encrypted) keyring = await GpgDecryptKeyring.prepare(config.gpgPrivateKey);
    const tools = await chooseRestoreTools(admin, config.pgBinDir);
    if (entry.format === "plain") requireRestrictablePsql(tools.psql, entry.uri);
    const liveInfo = await describeDatabase(admin, live);
    logger.info(
      liveInfo
        ? `Restoring ${entry.uri} over "${live}": into "${fresh}" first; "${live}" is untouched until the restore is proven`
        : `Restoring ${entry.uri} as "${live}" (it does not exist yet), via "${fresh}"`,
    );
    // Over a live database: its encoding, locale and owner; otherwise those the backup recorded (a
    // SQL_ASCII dump only restores into a SQL_ASCII database).
    await createEmptyDatabase(admin, fresh, liveInfo ?? recordedDatabaseInfo(manifest));
    created = true;
    try {
      proof = await restoreAndProve({
        entry,
        expectedSha256: sha256,
        manifest,
        connection: config.connection,
        database: fresh,
        tools,
        jobs: config.jobs,
        keyring,
        signal: options.signal,
        logger,
        afterRestoreHook: options.afterRestoreHook,
      });
    } catch (err) {
      throwIfCancelled(options.signal, `The restore was cancelled; "${live}" was not touched`);
      throw new RestoreFailedError(
        `Restoring ${entry.fileName} failed: ${(err as Error).message}. "${live}" was not touched`,
        undefined,
        { cause: err },
      );
    }
    if (proof.problems.length) {
      throw new RestoreFailedError(
        `The restored copy of ${entry.fileName} is not trustworthy, so it was not swapped in: ${proof.problems.join("; ")}. "${live}" was not touched`,
        proof,
      );
    }
    throwIfCancelled(options.signal, `The restore was cancelled before the swap; "${live}" was not touched`);
    const previous = previousDatabaseName(live, started);
    const swap = await swapInto(admin, { live, fresh, previous });
    swapped = true;
    logger.info(
      swap.previous
        ? `Swapped: "${live}" is now the restored database; the old one is kept as "${swap.previous}"` +
            (swap.terminated ? ` (${swap.terminated} session(s) on it were ended)` : "")
        : `"${live}" now holds the restored database`,
    );
    let droppedPrevious = false;
    if (swap.previous && config.dropOld) {
      await dropDatabase(admin, swap.previous);
      droppedPrevious = true;
      logger.info(`Dropped the replaced database "${swap.previous}" (drop-old)`);
    }
    return {
      database: live,
      source: entry,
      sha256: proof.sha256,
      topology: proof.topology,
      proof,
      previousDatabase: droppedPrevious ? undefined : swap.previous,
      droppedPrevious,
    };
  } finally {
    if (created && !swapped) {
      await dropUnfinished(config, admin, fresh, logger);
    }
    await admin.end().catch(() => {});
    await keyring?.dispose();
  }
}

const RECONNECT_ATTEMPTS = 20;

/**
 * Drops the half-restored database. After a server crash the old connection is gone and the server
 * is still recovering, so this reconnects for a while before giving up and saying what to drop by hand.
 */
async function dropUnfinished(
  config: RestoreConfig,
  admin: pg.Client,
  fresh: string,
  logger: Logger,
): Promise<void> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < RECONNECT_ATTEMPTS; attempt++) {
    const client =
      attempt === 0
        ? admin
        : await connectMaintenance(config.connection, config.database).catch(() => undefined);
    if (client) {
      try {
        await dropDatabase(client, fresh);
        logger.info(`Dropped the unfinished database "${fresh}"`);
        return;
      } catch (err) {
        lastError = err as Error;
      } finally {
        if (client !== admin) await client.end().catch(() => {});
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  logger.error(`Could not drop the unfinished database "${fresh}" (${lastError?.message}): drop it by hand`);
}
