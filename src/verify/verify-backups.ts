import { randomBytes } from "node:crypto";
import path from "node:path";
import type pg from "pg";
import { BackupName, formatTimestamp, TIERS, type Tier } from "../catalog/backup-name.js";
import {
  type BackupEntry,
  expectedSha256,
  findBackup,
  listBackups,
  readManifest,
} from "../catalog/backup-source.js";
import type { MetricsSettings } from "../config/backup-db-config.js";
import type { VerifyConfig } from "../config/verify-config.js";
import { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import { NotDirectoryError } from "../fs/regular-file.js";
import type { Logger } from "../log/logger.js";
import { type PublishOutcome, publishMetrics } from "../metrics/publish.js";
import { verifySamples } from "../metrics/restore-metrics.js";
import { readCheckSql } from "../restore/check-sql.js";
import {
  connectMaintenance,
  createEmptyDatabase,
  dropDatabase,
  recordedDatabaseInfo,
} from "../restore/databases.js";
import { chooseRestoreTools, type ProveResult, restoreAndProve } from "../restore/restore-and-prove.js";
import { throwIfCancelled, UserError } from "../shared/errors.js";
import { LocalStore } from "../storage/local-store.js";
import { openStore } from "../storage/open-store.js";
import type { BackupStore } from "../storage/store.js";
import { type FileCheck, type VerifyFileOptions, verifyBackupFile } from "./verify-file.js";

/** The runbook's verify_backup.sh exit codes (backup-db --verify-only uses them too). */
export const VERIFY_EXIT = { ok: 0, failures: 1, tooOldOrMissing: 2 } as const;

/**
 * What one verification covers. `verify`: BACKUP_DIR and every configured bucket, and a test restore
 * when asked. `backup-db --verify-only`: BACKUP_DIR only, never a test restore. Everything else (the
 * checks, the age rules, the exit codes, the metrics, the summary) is the same.
 */
export type VerifyScope =
  | { readonly stores: "local"; readonly testRestore: false }
  | { readonly stores: "all"; readonly testRestore: boolean };

/** The scope of `backup-db --verify-only`. */
export const LOCAL_SCOPE = { stores: "local", testRestore: false } as const satisfies VerifyScope;

/** What a local-scope verification reads: backup-db --verify-only's settings. */
export type LocalVerifyConfig = Pick<VerifyConfig, "backupDir" | "prefix" | "maxAgeHours" | "metrics">;

/** A scope and the settings it needs: only the all-stores scope reads buckets, keys and the server. */
type VerifyTarget =
  | (typeof LOCAL_SCOPE & { readonly config: LocalVerifyConfig })
  | (Extract<VerifyScope, { stores: "all" }> & { readonly config: VerifyConfig });

/** How much older than max-age-hours each tier's newest backup may be: weekly and monthly come less often. */
export /** How far ahead of this host's clock a backup's name may be dated (clock skew between hosts). */
const FUTURE_TOLERANCE_HOURS = 1;

const TIER_GRACE_HOURS: Record<Tier, number> = { daily: 0, weekly: 7 * 24, monthly: 31 * 24 };

export interface TierAge {
  /** BACKUP_DIR, or a bucket's location such as `s3://bucket/backups/postgres/`. */
  readonly location: string;
  readonly tier: Tier;
  readonly newest: string | undefined;
  readonly ageHours: number | undefined;
  readonly limitHours: number;
  readonly ok: boolean;
}

export interface TestRestoreReport {
  readonly backup: string;
  readonly database: string;
  readonly ok: boolean;
  readonly proof: ProveResult | undefined;
  readonly problems: readonly string[];
  readonly dropped: boolean;
}

export interface VerifyBackupsReport {
  readonly checks: readonly FileCheck[];
  readonly ages: readonly TierAge[];
  readonly newestAgeHours: number | undefined;
  readonly maxAgeHours: number;
  readonly testRestore: TestRestoreReport | undefined;
  readonly exitCode: 0 | 1 | 2;
  readonly reasons: readonly string[];
  readonly durationSeconds: number;
  readonly metrics: PublishOutcome;
}

export interface VerifyBackupsOptions {
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
  /** For tests: runs in the scratch copy before the comparison (e.g. deletes rows). */
  readonly afterRestoreHook?: (client: pg.Client) => Promise<void>;
}

/**
 * The runbook's verify_backup.sh: checks every backup (sidecar SHA-256, full decompression, gpg when a
 * key is at hand, completeness, manifest) in BACKUP_DIR and every configured bucket, judges each tier's
 * newest backup's age, and with test-restore restores one into a scratch database, proves it against
 * its manifest and the extra SQL checks, and drops it. Exit code 1 for any failure, else 2 when too old
 * or missing, else 0.
 */
export function verifyBackups(
  config: VerifyConfig,
  options: VerifyBackupsOptions,
): Promise<VerifyBackupsReport> {
  return verify({ stores: "all", testRestore: config.testRestore !== undefined, config }, options);
}

/**
 * `backup-db --verify-only` (runbook: backup_db.sh --verify-only): the same verification as
 * {@link verifyBackups}, with the same age rules, exit codes, metrics and report, scoped to the tier
 * directories of `backupDir` and without a test restore. `now` fixes the clock (tests).
 */
export function verifyLocalBackups(
  backupDir: string,
  options: Omit<VerifyBackupsOptions, "now" | "afterRestoreHook"> & {
    readonly prefix?: string | undefined;
    readonly maxAgeHours: number;
    /** Where the verify metrics go; none when not given. */
    readonly metrics?: MetricsSettings | undefined;
    readonly now?: Date | undefined;
  },
): Promise<VerifyBackupsReport> {
  const { prefix, maxAgeHours, metrics, now, ...rest } = options;
  return verify(
    {
      ...LOCAL_SCOPE,
      config: {
        backupDir,
        prefix,
        maxAgeHours,
        metrics: metrics ?? { pushgatewayUrl: undefined, job: "lifeline", textfile: undefined },
      },
    },
    { ...rest, ...(now && { now: () => now }) },
  );
}

/** The one verify engine: every scope runs through here. */
async function verify(target: VerifyTarget, options: VerifyBackupsOptions): Promise<VerifyBackupsReport> {
  const { config } = target;
  const all = target.stores === "all" ? target.config : undefined;
  const testRestoreSettings = target.testRestore ? all?.testRestore : undefined;
  const now = options.now ?? (() => new Date());
  const started = now();
  const { logger } = options;
  if (testRestoreSettings) logger.addSecret(testRestoreSettings.connection.password);
  const keyring = await GpgDecryptKeyring.prepare(all?.gpgPrivateKey);
  try {
    const fileOptions = {
      gpgEnv: keyring.env(),
      requireDecryption: all?.gpgPrivateKey !== undefined,
      signal: options.signal,
    };
    const local = await verifyLocalTiers(config.backupDir, config.prefix, logger, fileOptions);
    const checks: FileCheck[] = [...local];
    const locations: { location: string; checks: FileCheck[] }[] = [
      { location: config.backupDir, checks: local },
    ];
    // Every configured bucket is checked the same way: its copies are what a lost host leaves.
    for (const destination of all?.destinations ?? []) {
      throwIfCancelled(options.signal, "The verification was cancelled");
      const store = await openStore(destination, logger, options.signal);
      const here = { location: store.location, checks: [] as FileCheck[] };
      locations.push(here);
      const entries = await listBackups([store], config.prefix); // newest first
      const chosen =
        all?.verifyRemote === "newest"
          ? entries.filter((e, i) => entries.findIndex((o) => o.tier === e.tier) === i)
          : entries;
      if (chosen.length < entries.length) {
        logger.info(
          `verify ${store.location}: ${entries.length - chosen.length} older cop${entries.length - chosen.length === 1 ? "y" : "ies"} not downloaded (BACKUP_VERIFY_REMOTE=newest)`,
        );
      }
      for (const entry of chosen) {
        here.checks.push(await verifyAndLog(store, entry.name!, entry.uri, logger, fileOptions));
      }
      checks.push(...here.checks);
    }
    const at = now();
    // A name dated ahead of the clock (a wrong clock, a renamed file) would pass as fresh for years:
    // it never counts as the newest, and it fails the run so that monitoring sees it.
    const latestCredible = at.getTime() + FUTURE_TOLERANCE_HOURS * 3_600_000;
    const future = checks.filter((c) => c.ok && c.name.takenAt.getTime() > latestCredible);
    const ages = locations.flatMap(({ location, checks: found }) =>
      TIERS.map((tier): TierAge => {
        const newest = found
          .filter((c) => c.ok && c.name.tier === tier && c.name.takenAt.getTime() <= latestCredible)
          .sort((a, b) => b.name.takenAt.getTime() - a.name.takenAt.getTime())[0];
        const ageHours = newest ? (at.getTime() - newest.name.takenAt.getTime()) / 3_600_000 : undefined;
        const limitHours = config.maxAgeHours + TIER_GRACE_HOURS[tier];
        // Weekly and monthly copies may not be due yet on a new installation: only a missing daily counts.
        const ok = ageHours === undefined ? tier !== "daily" : ageHours <= limitHours;
        return { location, tier, newest: newest?.name.toString(), ageHours, limitHours, ok };
      }),
    );

    let testRestore: TestRestoreReport | undefined;
    if (all && testRestoreSettings) {
      throwIfCancelled(options.signal, "The verification was cancelled before the test restore");
      // The newest credible backup is restored: one dated ahead of the clock is not the newest.
      const credible = checks.filter((c) => !future.includes(c));
      testRestore = await runTestRestore(all, credible, keyring, options, started);
    }
    // A cancelled run is never a success: it records no verification and no metrics of its own.
    throwIfCancelled(options.signal, "The verification was cancelled");

    const reasons: string[] = [];
    const failed = checks.filter((c) => !c.ok);
    if (failed.length) reasons.push(`${failed.length} of ${checks.length} backup(s) failed verification`);
    for (const c of future) {
      reasons.push(
        `${c.file} is dated ${c.name.takenAt.toISOString()}, ahead of this host's clock (${at.toISOString()}): ` +
          "a wrong clock where it was taken, or a renamed file; it does not count as the newest backup — fix the clock or remove the file",
      );
    }
    if (testRestore && !testRestore.ok)
      reasons.push(`test restore of ${testRestore.backup} failed: ${testRestore.problems.join("; ")}`);
    for (const a of ages.filter((x) => !x.ok)) {
      reasons.push(
        a.ageHours === undefined
          ? `no good ${a.tier} backup in ${a.location === config.backupDir ? path.join(config.backupDir, a.tier) : a.location}`
          : `the newest good ${a.tier} backup in ${a.location} is ${a.ageHours.toFixed(1)} h old, over the ${a.limitHours} h limit`,
      );
    }
    const exitCode =
      failed.length || future.length || (testRestore && !testRestore.ok)
        ? VERIFY_EXIT.failures
        : reasons.length
          ? VERIFY_EXIT.tooOldOrMissing
          : VERIFY_EXIT.ok;
    const finishedAt = now();
    const durationSeconds = (finishedAt.getTime() - started.getTime()) / 1000;
    const newestAgeHours = ages.find((a) => a.tier === "daily" && a.location === config.backupDir)?.ageHours;
    const metrics = await publishMetrics(
      config.metrics,
      { type: "database" },
      verifySamples("database", {
        ok: exitCode === 0,
        exitCode,
        finishedAt,
        durationSeconds,
        newestAgeHours,
      }),
      logger,
    );
    return {
      checks,
      ages,
      newestAgeHours,
      maxAgeHours: config.maxAgeHours,
      testRestore,
      exitCode,
      reasons,
      durationSeconds,
      metrics,
    };
  } finally {
    await keyring.dispose();
  }
}

/** Checks one backup and logs the result the way every verify run does. */
async function verifyAndLog(
  store: BackupStore,
  name: BackupName,
  label: string,
  logger: Logger,
  options: VerifyFileOptions,
): Promise<FileCheck> {
  throwIfCancelled(options.signal, "The verification was cancelled");
  const check = await verifyBackupFile(store, name, options);
  // A check cut short by the cancellation says nothing about the file: the run stops instead.
  throwIfCancelled(options.signal, "The verification was cancelled");
  const notes = check.notes.length ? ` (${check.notes.join("; ")})` : "";
  if (check.ok) logger.info(`verify ${label}: OK [${check.passed.join(", ")}]${notes}`);
  else logger.error(`verify ${label}: FAILED: ${check.problem}`);
  return check;
}

/** Checks every backup in BACKUP_DIR's tier directories (of one prefix, if given), newest first per tier. */
async function verifyLocalTiers(
  backupDir: string,
  prefix: string | undefined,
  logger: Logger,
  options: VerifyFileOptions,
): Promise<FileCheck[]> {
  const checks: FileCheck[] = [];
  for (const tier of TIERS) {
    const store = new LocalStore(path.join(backupDir, tier));
    let names: BackupName[];
    try {
      names = (await listBackups([store], prefix)).filter((e) => e.tier === tier).map((e) => e.name!);
      // Entries named like a backup that are not regular files (FIFOs, directories, links) fail by name.
      for (const other of await store.listOthers()) {
        const name = BackupName.parse(other.name);
        if (name?.tier === tier && (prefix === undefined || name.prefix === prefix)) names.push(name);
      }
    } catch (err) {
      // A tier that cannot be listed (a file in its place) is one failed check; the other tiers are still verified.
      if (!(err instanceof NotDirectoryError)) throw err;
      logger.error(`verify ${tier}: FAILED: ${err.message}`);
      // The name only carries the tier (for the summary); a failed check never counts as a backup.
      const tierName = new BackupName(prefix ?? "", tier, new Date(0), "sql.gz");
      checks.push({
        file: store.dir,
        name: tierName,
        sizeBytes: 0,
        ok: false,
        passed: [],
        notes: [],
        problem: err.message,
      });
      continue;
    }
    names.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
    for (const name of names) {
      checks.push(await verifyAndLog(store, name, `${tier}/${name.toString()}`, logger, options));
    }
  }
  return checks;
}

/** The scratch database of one verification: unique, and recognisably Lifeline's. */
export const scratchDatabaseName = (at: Date): string =>
  `lifeline_verify_${formatTimestamp(at)}_${randomBytes(3).toString("hex")}`;

async function runTestRestore(
  config: VerifyConfig,
  checks: readonly FileCheck[],
  keyring: GpgDecryptKeyring,
  options: VerifyBackupsOptions,
  started: Date,
): Promise<TestRestoreReport> {
  const settings = config.testRestore!;
  const { logger } = options;
  let entry: BackupEntry;
  if (settings.backupFile !== undefined) {
    entry = await findBackup(settings.backupFile, config.destinationForUri, config.listAdvice);
  } else {
    const newest = [...checks]
      .filter((c) => c.ok)
      .sort((a, b) => b.name.takenAt.getTime() - a.name.takenAt.getTime())[0];
    if (!newest) {
      return {
        backup: "(none)",
        database: "",
        ok: false,
        proof: undefined,
        problems: ["no good backup to restore"],
        dropped: true,
      };
    }
    entry = await findBackup(newest.file, config.destinationForUri, config.listAdvice);
  }
  const checkSql = settings.checkSql !== undefined ? await readCheckSql(settings.checkSql) : undefined;
  const manifest = await readManifest(entry);
  const database = scratchDatabaseName(started);
  const admin = await connectMaintenance(settings.connection, database);
  let created = false;
  let dropped = false;
  let proof: ProveResult | undefined;
  const problems: string[] = [];
  try {
    const tools = await chooseRestoreTools(admin, config.pgBinDir);
    // The backed-up database's encoding and locale (a SQL_ASCII dump only restores into SQL_ASCII).
    const recorded = recordedDatabaseInfo(manifest);
    await createEmptyDatabase(admin, database, recorded && { ...recorded, owner: undefined });
    created = true;
    logger.info(`Test restore of ${entry.fileName} into the scratch database "${database}"`);
    proof = await restoreAndProve({
      entry,
      expectedSha256: await expectedSha256(entry),
      manifest,
      connection: settings.connection,
      database,
      tools,
      jobs: config.jobs,
      keyring: entry.encrypted ? keyring : undefined,
      signal: options.signal,
      logger,
      checkSql,
      afterRestoreHook: options.afterRestoreHook,
    });
    problems.push(...proof.problems);
  } catch (err) {
    if (err instanceof UserError && !created) throw err;
    throwIfCancelled(options.signal, `The test restore of ${entry.fileName} was cancelled`);
    problems.push((err as Error).message);
    logger.error(`Test restore of ${entry.fileName} failed: ${(err as Error).message}`);
  } finally {
    if (created) {
      await dropDatabase(admin, database).then(
        () => {
          dropped = true;
          logger.info(`Dropped the scratch database "${database}"`);
        },
        (err: Error) =>
          logger.error(`Could not drop the scratch database "${database}" (${err.message}): drop it by hand`),
      );
    }
    await admin.end().catch(() => {});
  }
  if (!problems.length) logger.info(`Test restore of ${entry.fileName}: proven`);
  return { backup: entry.fileName, database, ok: problems.length === 0, proof, problems, dropped };
}
