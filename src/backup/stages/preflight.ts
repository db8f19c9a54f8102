import { stat } from "node:fs/promises";
import path from "node:path";
import { BackupName, type Tier } from "../../catalog/backup-name.js";
import { listLocalBackups } from "../../catalog/catalog.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX } from "../../catalog/manifest.js";
import { isValidPrefix } from "../../config/backup-db-config.js";
import { GpgEncryptor } from "../../crypto/gpg.js";
import { describeTarget } from "../../db/database-url.js";
import { choosePgTool, type PgTool } from "../../db/pg-tools.js";
import { inspectServer, type ServerInfo } from "../../db/server-info.js";
import type { Logger } from "../../log/logger.js";
import { ConfigError } from "../../shared/errors.js";
import type { Destination } from "../../storage/destination.js";
import { openStore } from "../../storage/open-store.js";
import type { BackupStore } from "../../storage/store.js";
import { extensionFor } from "../../stream/compression.js";
import { assertNamesFit, assertNamesFree } from "../name-check.js";
import { type OffsiteReport, preflightDestinations } from "../offsite.js";
import { type HoldingsScope, type RemoteHoldings, readHoldingsOf } from "../remote-holdings.js";
import { tiersDue } from "../tiers.js";
import type { BackupRun, HeldByRun } from "./context.js";
import { removeLeftovers } from "./prepare.js";

/** The database side, checked: its server, the pg_dump that can dump it, the key to encrypt to. */
export interface CheckedSource {
  readonly target: string;
  readonly encryptor: GpgEncryptor | undefined;
  readonly server: ServerInfo;
  readonly pgDump: PgTool;
}

/** Today's backup, named and placed: what it follows and which tiers it is filed under. */
export interface NamedBackup {
  readonly prefix: string;
  readonly name: BackupName;
  /** Size of the newest earlier valid daily backup, for the size trend. */
  readonly previousSizeBytes: number | undefined;
  /** The weekly/monthly tiers this backup is filed under in BACKUP_DIR. */
  readonly due: readonly Tier[];
}

/** The cloud destinations, checked: those ready, those refused (reported), and what each holds. */
export interface CheckedDestinations {
  readonly stores: readonly BackupStore[];
  readonly ready: readonly BackupStore[];
  readonly failures: readonly OffsiteReport[];
  readonly holdings: Map<BackupStore, RemoteHoldings | undefined>;
}

/** Everything the dump needs, decided before it starts. */
export interface Preflight extends CheckedSource, NamedBackup, CheckedDestinations {}

/**
 * The second stage: everything that can be refused is checked before the dump (key, server, pg_dump
 * version, file name, destinations), so that a refusal costs nothing and leaves nothing. The GPG
 * home it prepares is put in `held` at once, for the run to remove whatever fails next.
 */
export async function preflight(run: BackupRun, workDir: string, held: HeldByRun): Promise<Preflight> {
  const source = await checkSource(run, workDir, held);
  await removeLeftovers(
    workDir,
    [MANIFEST_SUFFIX, CHECKSUM_SUFFIX],
    (file) => BackupName.parse(file) !== undefined,
    run.logger,
  );
  const named = await nameBackup(run, workDir, source);
  const destinations = await checkDestinations(run.config.destinations, named.prefix, run.logger, {
    policy: run.config.retention,
    schedule: run.config.schedule,
    now: run.startedAt,
    ...(run.signal ? { signal: run.signal } : {}),
  });
  return { ...source, ...named, ...destinations };
}

/** The key, the server and the pg_dump for its version. */
async function checkSource(run: BackupRun, workDir: string, held: HeldByRun): Promise<CheckedSource> {
  const { config, logger } = run;
  const target = describeTarget(config.connection);
  logger.info(`Backing up ${target} into ${workDir}`);
  if (config.encryption) {
    held.encryptor = await GpgEncryptor.prepare({
      ...config.encryption,
      names: {
        publicKey: config.settingLabel("gpgPublicKey"),
        recipient: config.settingLabel("gpgRecipient"),
      },
    });
    logger.info(`Encrypting to GPG key ${held.encryptor.fingerprint} (${held.encryptor.recipient})`);
  }
  const server = await inspectServer(config.connection, run.signal);
  const pgDump = await choosePgTool("pg_dump", server.major, config.pgBinDir);
  logger.info(`Server PostgreSQL ${server.version}; using pg_dump ${pgDump.version} (${pgDump.path})`);
  return { target, encryptor: held.encryptor, server, pgDump };
}

/** Today's name (refused when it could not be read back or is taken), the previous size, the tiers due. */
async function nameBackup(run: BackupRun, workDir: string, source: CheckedSource): Promise<NamedBackup> {
  const { config, startedAt } = run;
  const { server } = source;
  const prefix = config.prefix ?? server.database;
  if (!isValidPrefix(prefix)) {
    // Files named after it could not be read back: retention, tiers and verify would not see them.
    throw new ConfigError(
      `The database name '${server.database}' cannot start a backup file name (letters, digits, '.', '_' and '-' only, ` +
        `starting with a letter or digit): set ${config.settingLabel("prefix")} to a name that can`,
    );
  }
  const name = new BackupName(
    prefix,
    "daily",
    startedAt,
    extensionFor(config.format, config.compression),
    !!source.encryptor,
  );
  await assertNamesFit(
    workDir,
    name,
    config.prefix !== undefined ? config.settingLabel("prefix") : undefined,
  );
  const previous = (await listLocalBackups(workDir, "daily", prefix))
    .filter((b) => b.valid)
    .sort((a, b) => b.name.takenAt.getTime() - a.name.takenAt.getTime())[0];
  const previousSizeBytes = previous ? (await stat(path.join(workDir, previous.fileName))).size : undefined;
  // Decided before the dump so that the clouds receive the weekly/monthly copies in the same pass.
  const due = await tiersDue(config.backupDir, prefix, startedAt, config.schedule);
  // A clash with a backup of the same second is refused before anything slow (preflight, dump).
  await assertNamesFree(config.backupDir, name, ["daily", ...due]);
  return { prefix, name, previousSizeBytes, due };
}

/**
 * Opens every destination and proves it usable (one that is not is reported and skipped), then reads
 * what each ready one holds under `prefix`: a weekly/monthly it missed is due there even when
 * BACKUP_DIR has one, and what else it lacks is made up after today's backup.
 */
export async function checkDestinations(
  destinations: readonly Destination[],
  prefix: string,
  logger: Logger,
  scope: HoldingsScope,
): Promise<CheckedDestinations> {
  const stores = await Promise.all(destinations.map((d) => openStore(d, logger, scope.signal)));
  const { ready, failed } = await preflightDestinations(stores, logger, {
    timeoutMs: destinations[0]?.settings.transfer.preflightTimeoutMs,
    signal: scope.signal,
  });
  const holdings = await readHoldingsOf(ready, prefix, logger, scope);
  return { stores, ready, failures: failed, holdings };
}
