import type pg from "pg";
import type { BackupEntry } from "../catalog/backup-source.js";
import type { BackupManifest } from "../catalog/manifest.js";
import type { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import { openSealedText } from "../crypto/sealed-text.js";
import {
  type DatabaseProperties,
  type DatabaseRoleSetting,
  readDatabaseProperties,
} from "../db/database-properties.js";
import { type ConnectionSettings, libpqEnvironment } from "../db/database-url.js";
import { choosePgTool, type PgTool } from "../db/pg-tools.js";
import { connectClient } from "../db/server-info.js";
import { readCatalog } from "../db/snapshot.js";
import type { Logger } from "../log/logger.js";
import { UserError } from "../shared/errors.js";
import { type CatalogComparison, compareCatalogs } from "./catalog-compare.js";
import { runSqlChecks, type SqlCheckResult } from "./check-sql.js";
import { applyProperties, compareProperties } from "./database-properties.js";
import { psqlCanRestrict } from "./psql-guard.js";
import { streamBackupInto } from "./restore-stream.js";

/**
 * Re-applies the database's own properties recorded in the manifest (pg_dump without --create leaves
 * them out) to the new database; undefined when there are none to apply, which is said.
 */
async function reapplyProperties(
  client: pg.Client,
  options: ProveOptions,
): Promise<{ recorded: DatabaseProperties; missingRoles: string[] } | undefined> {
  const { manifest, logger, entry } = options;
  if (!manifest) return undefined;
  const recorded = manifest.databaseProperties;
  if (!recorded) {
    logger.warn(
      `The manifest of ${entry.fileName} does not record the database's properties (it predates them): its ACL, ` +
        `comment and ALTER DATABASE/ROLE ... SET settings were not re-applied to "${options.database}"; set them by hand if it had any`,
    );
    return undefined;
  }
  if (recorded.error) {
    logger.warn(
      `The database's properties could not be read when ${entry.fileName} was taken (${recorded.error}): ` +
        `its ACL, comment and settings were not re-applied to "${options.database}"; set them by hand`,
    );
    return undefined;
  }
  const wanted = await unsealSettings(recorded, options);
  const { missingRoles, applied } = await applyProperties(client, options.database, wanted);
  for (const role of missingRoles)
    logger.warn(
      `Role "${role}" does not exist on this server: its privileges on and settings in the database were not ` +
        `re-applied (the restored database grants less, never more); create the role and grant them by hand`,
    );
  logger.info(`Re-applied the database's properties to "${options.database}" (${applied} statements)`);
  return { recorded: wanted, missingRoles };
}

/** The recorded properties with an encrypted backup's settings decrypted with the restore's keyring. */
async function unsealSettings(
  recorded: DatabaseProperties,
  options: ProveOptions,
): Promise<DatabaseProperties> {
  if (recorded.sealedSettings === undefined) return recorded;
  const fail = (why: string, cause?: unknown) =>
    new UserError(
      `The database settings in the manifest of ${options.entry.fileName} are encrypted and ${why}: ` +
        "give the backup's secret key (BACKUP_GPG_PRIVATE_KEY or GNUPGHOME), or restore without the manifest by moving it away",
      { cause },
    );
  if (!options.keyring) throw fail("there is no key to decrypt them with");
  let settings: unknown;
  try {
    settings = JSON.parse(await openSealedText(options.keyring, recorded.sealedSettings));
  } catch (err) {
    throw fail(`could not be decrypted (${(err as Error).message})`, err);
  }
  const valid =
    Array.isArray(settings) &&
    settings.every(
      (s: { role?: unknown; settings?: unknown }) =>
        (s.role === null || typeof s.role === "string") &&
        Array.isArray(s.settings) &&
        s.settings.every((x) => typeof x === "string"),
    );
  if (!valid) throw fail("do not decrypt to a list of settings");
  return { ...recorded, settings: settings as DatabaseRoleSetting[] };
}

export interface RestoreTools {
  readonly serverMajor: number;
  readonly psql: PgTool;
  readonly pgRestore: PgTool;
}

/**
 * psql and pg_restore for the server: at least its major version, the closest one (as for pg_dump); a
 * psql that can be put in restricted mode is preferred (plain backups are refused without one).
 */
export async function chooseRestoreTools(
  client: pg.Client,
  pgBinDir: string | undefined,
): Promise<RestoreTools> {
  const num = Number(
    (await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v,
  );
  const serverMajor = Math.floor(num / 10000);
  const [psql, pgRestore] = await Promise.all([
    choosePgTool("psql", serverMajor, pgBinDir, psqlCanRestrict),
    choosePgTool("pg_restore", serverMajor, pgBinDir),
  ]);
  return { serverMajor, psql, pgRestore };
}

export interface ProveOptions {
  readonly entry: BackupEntry;
  readonly expectedSha256: string;
  readonly manifest: BackupManifest | undefined;
  readonly connection: ConnectionSettings;
  /** An empty database created for this restore; never the live one. */
  readonly database: string;
  readonly tools: RestoreTools;
  readonly jobs: number;
  readonly keyring: GpgDecryptKeyring | undefined;
  readonly tempDir?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly logger: Logger;
  /** Extra SQL checks (verify --check-sql), run in the restored copy. */
  readonly checkSql?: readonly string[] | undefined;
  /** For tests: runs after the data is in and before it is compared (e.g. deletes rows). */
  readonly afterRestoreHook?: ((client: pg.Client) => Promise<void>) | undefined;
}

export interface ProveResult {
  readonly sha256: string;
  readonly topology: string;
  /** Cautions for the summary (e.g. a restoring role that can reach beyond the new database). */
  readonly warnings: readonly string[];
  /** Undefined when the backup has no manifest (the runbook's shell backups) or an unreadable catalog. */
  readonly comparison: CatalogComparison | undefined;
  readonly checks: readonly SqlCheckResult[];
  /** Every reason the restored copy must not be trusted; empty when proven. */
  readonly problems: readonly string[];
  readonly restoreSeconds: number;
}

/**
 * A caution when the role restoring is a superuser or has CREATEROLE: the guard refuses the statements
 * pg_dump never writes, but what an allowed statement runs (a function called by a default, a CHECK
 * constraint or an index expression while the data goes in) runs with this role's rights, and can then
 * reach beyond the new database. Undefined for an ordinary role.
 */
async function privilegedRoleWarning(options: ProveOptions): Promise<string | undefined> {
  const client = await connectClient(
    { ...options.connection, database: options.database },
    "lifeline-restore-role",
  );
  try {
    const { rows } = await client.query<{ name: string; superuser: boolean; createrole: boolean }>(
      "SELECT rolname AS name, rolsuper AS superuser, rolcreaterole AS createrole FROM pg_roles WHERE rolname = current_user",
    );
    const role = rows[0];
    if (!role || !(role.superuser || role.createrole)) return undefined;
    return (
      `The restoring role "${role.name}" is ${role.superuser ? "a superuser" : "allowed to CREATEROLE"}: Lifeline refuses ` +
      "psql meta-commands and every statement pg_dump never writes, but a tampered backup can still reach beyond the new " +
      "database through functions its allowed statements call (defaults, CHECK constraints, index expressions), which " +
      "run with this role's rights. Restore with a dedicated role that has CREATEDB only (and owns nothing else)"
    );
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Restores a backup into `database` and proves it: the file's SHA-256 against its sidecar, then the
 * catalog (schemas, tables and row counts, sequences, extensions) against the manifest, then any
 * extra SQL checks. Restore errors throw; proof failures come back as `problems`.
 */
export async function restoreAndProve(options: ProveOptions): Promise<ProveResult> {
  const { entry, logger } = options;
  const started = performance.now();
  logger.info(`Restoring ${entry.uri} into the new database "${options.database}"`);
  const privileged = await privilegedRoleWarning(options);
  if (privileged) logger.warn(privileged);
  const streamed = await streamBackupInto({
    entry,
    env: libpqEnvironment({ ...options.connection, database: options.database }),
    psql: options.tools.psql,
    pgRestore: options.tools.pgRestore,
    jobs: options.jobs,
    keyring: options.keyring,
    tempDir: options.tempDir,
    signal: options.signal,
  });
  const restoreSeconds = (performance.now() - started) / 1000;
  logger.info(
    `Restored ${streamed.bytesRead} bytes in ${restoreSeconds.toFixed(1)} s via ${streamed.topology}`,
  );
  const problems: string[] = [];
  if (streamed.sha256 !== options.expectedSha256) {
    problems.push(
      `sha256 mismatch: ${entry.fileName} has ${streamed.sha256}, its sidecar says ${options.expectedSha256}`,
    );
    return {
      sha256: streamed.sha256,
      topology: streamed.topology,
      warnings: privileged ? [privileged] : [],
      comparison: undefined,
      checks: [],
      problems,
      restoreSeconds,
    };
  }
  logger.info(`sha256 ${streamed.sha256} matches the sidecar`);

  const client = await connectClient(
    { ...options.connection, database: options.database },
    "lifeline-restore-check",
  );
  try {
    const recordedProperties = await reapplyProperties(client, options);
    await options.afterRestoreHook?.(client);
    let comparison: CatalogComparison | undefined;
    const expected = options.manifest?.catalog;
    if (!options.manifest) {
      logger.warn(
        `${entry.fileName} has no manifest: nothing to compare the restore with beyond psql's success`,
      );
    } else if (!expected || expected.error) {
      logger.warn(
        `The manifest of ${entry.fileName} has no readable catalog (${expected?.error ?? "missing"}): not compared`,
      );
    } else {
      const actual = await readCatalog(client, expected.rowCounts === "exact" ? "exact" : "off", "restored");
      comparison = compareCatalogs(expected, actual);
      if (comparison.ok) {
        logger.info(
          `The restore matches the manifest: ${expected.schemas.length} schemas, ${expected.tables.length} tables, ` +
            `${expected.sequences.length} sequences, ${expected.extensions.length} extensions`,
        );
      }
    }
    if (recordedProperties) {
      const restored = await readDatabaseProperties(client);
      const props = compareProperties(recordedProperties.recorded, restored, recordedProperties.missingRoles);
      const mismatches = props.rows
        .filter((r) => !r.ok)
        .map((r) => `database ${r.name}: ${r.expected} in the manifest, ${r.actual} in the restore`);
      if (!mismatches.length)
        logger.info("The database's ACL, comment, connection limit and settings match the manifest");
      comparison = {
        ok: (comparison?.ok ?? true) && mismatches.length === 0,
        rows: [...(comparison?.rows ?? []), ...props.rows],
        notes: [...(comparison?.notes ?? []), ...props.notes],
        mismatches: [...(comparison?.mismatches ?? []), ...mismatches],
      };
    }
    for (const note of comparison?.notes ?? []) logger.info(`compare: ${note}`);
    for (const m of comparison?.mismatches ?? []) {
      problems.push(`restore differs from the manifest: ${m}`);
      logger.error(`compare: ${m}`);
    }
    const checks = options.checkSql?.length ? await runSqlChecks(client, options.checkSql) : [];
    for (const c of checks) {
      if (c.ok) logger.info(`check OK: ${c.sql} → ${c.detail}`);
      else {
        problems.push(`SQL check failed: ${c.sql} → ${c.detail}`);
        logger.error(`check FAILED: ${c.sql} → ${c.detail}`);
      }
    }
    return {
      sha256: streamed.sha256,
      topology: streamed.topology,
      warnings: privileged ? [privileged] : [],
      comparison,
      checks,
      problems,
      restoreSeconds,
    };
  } finally {
    await client.end().catch(() => {});
  }
}
