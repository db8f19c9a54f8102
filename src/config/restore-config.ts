import { availableParallelism } from "node:os";
import { type ConnectionSettings, parseDatabaseUrl } from "../db/database-url.js";
import { ConfigError } from "../shared/errors.js";
import { BACKUP_DB_SETTINGS, type MetricsSettings } from "./backup-db-config.js";
import {
  CLOUD_READ_SETTINGS,
  type Destination,
  type DestinationForUri,
  loadCloudReading,
} from "./cloud-config.js";
import { RESTORE_MEDIA_SETTINGS } from "./media-config.js";
import {
  givenAs,
  integerIn,
  namesOf,
  parseBoolean,
  parseString,
  require,
  resolve,
  type SettingLookup,
  type SettingSpec,
} from "./settings.js";

const shared = BACKUP_DB_SETTINGS;

/**
 * Parses the runbook's `--target-time '2024-10-26 01:30:00'`: ISO-like, UTC unless an offset is given
 * (backup names are UTC too, so the two compare without a time-zone guess).
 */
export function parseTargetTime(raw: string, source: string): Date {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2}|UTC)?$/i.exec(
    raw.trim(),
  );
  const zone = m?.[3] === undefined || /^(z|utc)$/i.test(m[3]) ? "Z" : m[3];
  const at = m ? new Date(`${m[1]}T${m[2]}${zone}`) : undefined;
  if (!at || Number.isNaN(at.getTime())) {
    throw new ConfigError(
      `Invalid ${source} '${raw}'. Expected a time such as '2024-10-26 01:30:00' (UTC) or '2024-10-26 03:30:00+02:00'`,
    );
  }
  return at;
}

/** The settings shared by restore and verify's test restore. */
export const RESTORE_COMMON_SETTINGS = {
  backupFile: {
    env: "BACKUP_FILE",
    input: "backup-file",
    description:
      "the backup to restore: a path such as /backups/daily/transcripts_daily_20241026_020000.sql.gz",
    parse: parseString,
  },
  jobs: {
    env: "RESTORE_JOBS",
    input: "jobs",
    description: "parallel jobs of pg_restore -j for custom-format backups; default: the number of CPU cores",
    parse: integerIn(1, 64),
  },
  gpgPrivateKey: {
    env: "BACKUP_GPG_PRIVATE_KEY",
    input: "gpg-private-key",
    description:
      "secret key to decrypt .gpg backups, ASCII-armoured and without passphrase (e.g. from a secret); else GNUPGHOME's keys",
    parse: parseString,
  },
} satisfies Record<string, SettingSpec<unknown>>;

/** What reading backups needs, restoring them and reporting the run: the last settings of restore and verify. */
export const BACKUP_READING_SETTINGS = {
  jobs: RESTORE_COMMON_SETTINGS.jobs,
  gpgPrivateKey: RESTORE_COMMON_SETTINGS.gpgPrivateKey,
  pgBinDir: {
    ...shared.pgBinDir,
    description: "directory holding psql and pg_restore; by default PATH and /usr/lib/postgresql/*/bin",
  },
  ...CLOUD_READ_SETTINGS,
  pushgatewayUrl: shared.pushgatewayUrl,
  pushgatewayJob: shared.pushgatewayJob,
  metricsTextfile: shared.metricsTextfile,
} satisfies Record<string, SettingSpec<unknown>>;

/** The configuration BACKUP_READING_SETTINGS gives. */
export interface BackupReading {
  readonly jobs: number;
  readonly gpgPrivateKey: string | undefined;
  readonly pgBinDir: string | undefined;
  readonly metrics: MetricsSettings;
  /** Configured buckets, listed (and verified) beside BACKUP_DIR. */
  readonly destinations: readonly Destination[];
  /** Opens the bucket of a cloud URI given as BACKUP_FILE. */
  readonly destinationForUri: DestinationForUri;
}

/** Reads BACKUP_READING_SETTINGS. */
export function loadBackupReading(lookup: SettingLookup): BackupReading {
  const s = BACKUP_READING_SETTINGS;
  return {
    jobs: resolve(s.jobs, lookup) ?? availableParallelism(),
    gpgPrivateKey: resolve(s.gpgPrivateKey, lookup),
    pgBinDir: resolve(s.pgBinDir, lookup),
    metrics: metricsSettings(lookup),
    ...loadCloudReading(lookup),
  };
}

/** The settings of restore, named as in the runbook's restore_db.sh. */
export const RESTORE_SETTINGS = {
  databaseUrl: {
    ...shared.databaseUrl,
    description:
      "the database to restore, e.g. postgresql://user:password@host:5432/transcripts (replaced by the backup)",
  },
  backupDir: shared.backupDir,
  prefix: { ...shared.prefix, description: "only backups whose names start with this; default: all" },
  listBackups: {
    env: "RESTORE_LIST_BACKUPS",
    input: "list-backups",
    description: "list the backups, newest first, and restore nothing",
    default: "false",
    parse: parseBoolean,
  },
  backupFile: RESTORE_COMMON_SETTINGS.backupFile,
  pitr: {
    env: "RESTORE_PITR",
    input: "pitr",
    description: "restore the newest backup taken before target-time, then print how to replay WAL to it",
    default: "false",
    parse: parseBoolean,
  },
  targetTime: {
    env: "RESTORE_TARGET_TIME",
    input: "target-time",
    description:
      "with pitr: the time to recover to, e.g. '2024-10-26 01:30:00' (UTC unless an offset is given)",
    parse: parseTargetTime,
  },
  confirm: {
    env: "RESTORE_CONFIRM",
    input: "confirm",
    description: "the target database's name, typed out: the restore refuses unless it matches",
    parse: parseString,
  },
  force: {
    env: "RESTORE_FORCE",
    input: "force",
    description: "skip the confirmation (runbook: --force); the action always requires confirm",
    default: "false",
    parse: parseBoolean,
    cliOnly: true,
  },
  dropOld: {
    env: "RESTORE_DROP_OLD",
    input: "drop-old",
    description:
      "drop the replaced database after a proven swap instead of keeping it as <db>_pre_restore_<time>",
    default: "false",
    parse: parseBoolean,
  },
  dryRun: {
    env: "RESTORE_DRY_RUN",
    input: "dry-run",
    description:
      "print the plan (which backup, target, new database, swap, what is kept; with pitr the WAL guidance) and change nothing",
    default: "false",
    parse: parseBoolean,
  },
  ...BACKUP_READING_SETTINGS,
  ...RESTORE_MEDIA_SETTINGS,
} satisfies Record<string, SettingSpec<unknown>>;

export interface RestoreConfig extends BackupReading {
  readonly connection: ConnectionSettings;
  /** The database to replace, from DATABASE_URL (or libpq's defaults). */
  readonly database: string;
  readonly backupDir: string;
  readonly prefix: string | undefined;
  readonly backupFile: string | undefined;
  readonly pitrTarget: Date | undefined;
  readonly confirm: string | undefined;
  readonly force: boolean;
  readonly dropOld: boolean;
  /** Only print the plan; change nothing (no confirmation needed). */
  readonly dryRun: boolean;
  /** How this caller names a setting in advice: "--target-time" on the command line, "input 'target-time'" in an action. */
  readonly settingName: (setting: keyof typeof RESTORE_SETTINGS) => string;
  /** How this caller turns a switch on: "add --list-backups", "set the input 'list-backups' to true". */
  readonly settingEnable: (setting: keyof typeof RESTORE_SETTINGS) => string;
}

/** The database a connection names, as libpq would pick it. */
export function targetDatabase(
  connection: ConnectionSettings,
  env: NodeJS.ProcessEnv = process.env,
  setting = "DATABASE_URL",
): string {
  const name = connection.database ?? env.PGDATABASE ?? connection.user ?? env.PGUSER;
  if (!name)
    throw new ConfigError(
      `${setting} names no database: give one, e.g. postgresql://user@host:5432/transcripts`,
    );
  return name;
}

import { metricsSettings } from "./metrics-config.js";

export { metricsSettings };

/** Whether the run only lists backups; then no database is needed. */
export function isListOnly(lookup: SettingLookup): boolean {
  return require(RESTORE_SETTINGS.listBackups, lookup);
}

/** Reads and validates every restore setting before anything is touched. */
export function loadRestoreConfig(lookup: SettingLookup): RestoreConfig {
  const s = RESTORE_SETTINGS;
  const names = namesOf(lookup);
  const given = (spec: SettingSpec<unknown>) => givenAs(spec, lookup);
  const connection = parseDatabaseUrl(
    require(s.databaseUrl, lookup),
    lookup(s.databaseUrl as SettingSpec<unknown>)?.source,
  );
  const pitr = require(s.pitr, lookup);
  const targetTime = resolve(s.targetTime, lookup);
  const backupFile = resolve(s.backupFile, lookup);
  if (pitr && targetTime === undefined) {
    throw new ConfigError(
      `${given(s.pitr)} needs the time to recover to: set ${names.label(s.targetTime)}, e.g. '2024-10-26 01:30:00'`,
    );
  }
  if (!pitr && targetTime !== undefined) {
    throw new ConfigError(
      `${names.label(s.targetTime)} is only used with ${names.name(s.pitr)}: ${names.enable(s.pitr)}, or unset it`,
    );
  }
  if (pitr && backupFile !== undefined) {
    throw new ConfigError(
      `${names.name(s.pitr)} picks the backup itself (the newest before ${names.name(s.targetTime)}): ` +
        `remove ${given(s.backupFile)}, or ${given(s.pitr)}`,
    );
  }
  if (!pitr && backupFile === undefined) {
    throw new ConfigError(
      `Nothing to restore: give ${names.label(s.backupFile)}, or ${names.name(s.pitr)} with ${names.name(s.targetTime)}; ` +
        `list candidates with ${names.name(s.listBackups)}`,
    );
  }
  return {
    connection,
    database: targetDatabase(connection, process.env, given(s.databaseUrl)),
    backupDir: require(s.backupDir, lookup),
    prefix: resolve(s.prefix, lookup),
    backupFile,
    pitrTarget: pitr ? targetTime : undefined,
    confirm: resolve(s.confirm, lookup),
    force: require(s.force, lookup),
    dropOld: require(s.dropOld, lookup),
    dryRun: require(s.dryRun, lookup),
    ...loadBackupReading(lookup),
    settingName: (setting) => names.name(s[setting]),
    settingEnable: (setting) => names.enable(s[setting]),
  };
}

/** What `--list-backups` needs: where to look (BACKUP_DIR and the configured buckets) and for what. */
export function loadListConfig(lookup: SettingLookup): {
  backupDir: string;
  prefix: string | undefined;
  destinations: Destination[];
} {
  return {
    backupDir: require(RESTORE_SETTINGS.backupDir, lookup),
    prefix: resolve(RESTORE_SETTINGS.prefix, lookup),
    destinations: loadCloudReading(lookup).destinations,
  };
}
