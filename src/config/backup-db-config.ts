import { type ConnectionSettings, parseDatabaseUrl } from "./database-url.js";
import { ConfigError } from "./errors.js";
import {
  integerIn,
  parseBoolean,
  parseString,
  require,
  resolve,
  type SettingLookup,
  type SettingSpec,
} from "./settings.js";

/** The settings of backup-db, named as in the runbook's backup_db.sh. */
export const BACKUP_DB_SETTINGS = {
  databaseUrl: {
    env: "DATABASE_URL",
    input: "database-url",
    description: "PostgreSQL connection string, e.g. postgresql://user:password@host:5432/transcripts",
    parse: parseString,
  },
  backupDir: {
    env: "BACKUP_DIR",
    input: "backup-dir",
    description: "directory that holds daily/, weekly/, monthly/ and logs/",
    default: "/backups",
    parse: parseString,
  },
  prefix: {
    env: "BACKUP_PREFIX",
    input: "prefix",
    description: "first part of backup file names; defaults to the database name",
    parse: (raw: string, source: string) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(raw)) {
        throw new ConfigError(`Invalid ${source} '${raw}'. Use letters, digits, '.', '_' and '-' only`);
      }
      return raw;
    },
  },
  compressionLevel: {
    env: "BACKUP_COMPRESSION_LEVEL",
    input: "compression-level",
    description: "gzip level, 1 (fastest) to 9 (smallest)",
    default: "6",
    parse: integerIn(1, 9),
  },
  pgBinDir: {
    env: "PG_BIN_DIR",
    input: "pg-bin-dir",
    description: "directory holding pg_dump; by default PATH and /usr/lib/postgresql/*/bin are searched",
    parse: parseString,
  },
  encrypt: {
    env: "BACKUP_ENCRYPT",
    input: "encrypt",
    description: "encrypt backups with GPG (not in this version yet: true fails the run)",
    default: "false",
    parse: parseBoolean,
  },
  gpgRecipient: {
    env: "BACKUP_GPG_RECIPIENT",
    input: "gpg-recipient",
    description: "GPG recipient (key id or email) backups are encrypted to (not in this version yet)",
    parse: parseString,
  },
  retentionDaily: {
    env: "BACKUP_RETENTION_DAILY",
    input: "retention-daily",
    description: "days to keep daily backups",
    default: "7",
    parse: integerIn(1, 36500, " (days)"),
  },
  retentionWeekly: {
    env: "BACKUP_RETENTION_WEEKLY",
    input: "retention-weekly",
    description: "weeks to keep weekly backups",
    default: "4",
    parse: integerIn(1, 5200, " (weeks)"),
  },
  retentionMonthly: {
    env: "BACKUP_RETENTION_MONTHLY",
    input: "retention-monthly",
    description: "months to keep monthly backups",
    default: "12",
    parse: integerIn(1, 1200, " (months)"),
  },
  s3Bucket: {
    env: "BACKUP_S3_BUCKET",
    input: "s3-bucket",
    description: "S3 bucket for remote copies (not in this version yet: setting it fails the run)",
    parse: parseString,
  },
  gcsBucket: {
    env: "BACKUP_GCS_BUCKET",
    input: "gcs-bucket",
    description: "GCS bucket for remote copies (not in this version yet: setting it fails the run)",
    parse: parseString,
  },
  azureContainer: {
    env: "BACKUP_AZURE_CONTAINER",
    input: "azure-container",
    description: "Azure Blob container for remote copies (not in this version yet: setting it fails the run)",
    parse: parseString,
  },
} satisfies Record<string, SettingSpec<unknown>>;

export interface RetentionSettings {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
}

export interface BackupDbConfig {
  readonly connection: ConnectionSettings;
  readonly backupDir: string;
  readonly prefix: string | undefined;
  readonly compressionLevel: number;
  readonly pgBinDir: string | undefined;
  readonly retention: RetentionSettings;
}

/** Reads and validates every backup-db setting up front, so that a bad one fails before any work. */
export function loadBackupDbConfig(lookup: SettingLookup): BackupDbConfig {
  const s = BACKUP_DB_SETTINGS;
  const rawUrl = require(s.databaseUrl, lookup);
  const connection = parseDatabaseUrl(rawUrl, lookup(s.databaseUrl as SettingSpec<unknown>)?.source);

  // Features of later milestones are refused rather than silently ignored: an operator who asked
  // for encryption or an off-site copy must not believe they have one.
  if (resolve(s.encrypt, lookup) || resolve(s.gpgRecipient, lookup) !== undefined) {
    throw new ConfigError(
      "BACKUP_ENCRYPT / BACKUP_GPG_RECIPIENT: GPG encryption is not available in this version of Lifeline yet; " +
        "unset them to take an unencrypted backup",
    );
  }
  for (const spec of [s.s3Bucket, s.gcsBucket, s.azureContainer]) {
    if (resolve(spec, lookup) !== undefined) {
      throw new ConfigError(
        `${spec.env}: cloud uploads are not available in this version of Lifeline yet; unset it to back up locally`,
      );
    }
  }

  return {
    connection,
    backupDir: require(s.backupDir, lookup),
    prefix: resolve(s.prefix, lookup),
    compressionLevel: require(s.compressionLevel, lookup),
    pgBinDir: resolve(s.pgBinDir, lookup),
    retention: {
      daily: require(s.retentionDaily, lookup),
      weekly: require(s.retentionWeekly, lookup),
      monthly: require(s.retentionMonthly, lookup),
    },
  };
}
