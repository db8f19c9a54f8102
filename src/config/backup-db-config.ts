import { type ConnectionSettings, parseDatabaseUrl, passwordsIn } from "../db/database-url.js";
import { ROW_COUNT_MODES, type RowCountMode } from "../db/snapshot.js";
import { ConfigError } from "../shared/errors.js";
import { COMPRESSIONS, type Compression, type DumpFormat, FORMATS, LEVELS } from "../stream/compression.js";
import { CLOUD_SETTINGS, cloudSecretsIn, type Destination, loadDestinations } from "./cloud-config.js";
import {
  givenAs,
  httpUrl,
  integerIn,
  namesOf,
  oneOf,
  parseBoolean,
  parseString,
  require,
  resolve,
  type SettingLookup,
  type SettingSpec,
} from "./settings.js";

/** Whether a name can start a backup file name that BackupName.parse reads back. */
export function isValidPrefix(prefix: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(prefix);
}

export { ROW_COUNT_MODES, type RowCountMode };

const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

function parseWeekday(raw: string, source: string): number {
  const value = raw.toLowerCase();
  const index = /^[0-6]$/.test(value)
    ? Number(value)
    : WEEKDAYS.findIndex((d) => d === value || d.slice(0, 3) === value);
  if (index < 0)
    throw new ConfigError(`Invalid ${source} '${raw}'. Expected a day name (sunday..saturday) or 0-6`);
  return index;
}

function parseLabelValue(raw: string, source: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(raw)) {
    throw new ConfigError(`Invalid ${source} '${raw}'. Use letters, digits, '_', '.', ':' and '-'`);
  }
  return raw;
}

/** A public key setting must not hold a secret key: refused without quoting it (it is masked too). */
function parsePublicKey(raw: string, source: string): string {
  if (SECRET_KEY_BLOCK.test(raw)) {
    throw new ConfigError(
      `${source} holds a SECRET key block (BEGIN PGP PRIVATE KEY BLOCK): it was not used and is not shown. ` +
        "Give the recipient's public key only (gpg --armor --export <recipient>) and keep the secret key off the backup host",
    );
  }
  return raw;
}

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
      if (!isValidPrefix(raw)) {
        throw new ConfigError(`Invalid ${source} '${raw}'. Use letters, digits, '.', '_' and '-' only`);
      }
      return raw;
    },
  },
  compression: {
    env: "BACKUP_COMPRESSION",
    input: "compression",
    description: "gzip (.sql.gz, the runbook's), zstd (.sql.zst) or none (.sql)",
    default: "gzip",
    parse: oneOf(COMPRESSIONS),
  },
  compressionLevel: {
    env: "BACKUP_COMPRESSION_LEVEL",
    input: "compression-level",
    description: "compression level: gzip 1-9 (default 6), zstd 1-19 (default 3)",
    parse: integerIn(0, 19),
  },
  format: {
    env: "BACKUP_FORMAT",
    input: "format",
    description:
      "plain (SQL, restored with psql) or custom (.dump, restored with pg_restore -j; compressed by pg_dump)",
    default: "plain",
    parse: oneOf(FORMATS),
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
    description: "encrypt backups with GPG to the recipient's public key (.gpg suffix)",
    default: "false",
    parse: parseBoolean,
  },
  gpgRecipient: {
    env: "BACKUP_GPG_RECIPIENT",
    input: "gpg-recipient",
    description: "GPG recipient (key id, fingerprint or email) backups are encrypted to",
    parse: parseString,
  },
  gpgPublicKey: {
    env: "BACKUP_GPG_PUBLIC_KEY",
    input: "gpg-public-key",
    description:
      "recipient's public key, ASCII-armoured (e.g. from a secret); imported into a temporary keyring",
    parse: parsePublicKey,
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
  retentionDryRun: {
    env: "BACKUP_RETENTION_DRY_RUN",
    input: "retention-dry-run",
    description: "log and summarise the retention plan without deleting anything",
    default: "false",
    parse: parseBoolean,
  },
  weeklyDay: {
    env: "BACKUP_WEEKLY_DAY",
    input: "weekly-day",
    description: "day whose backup is also filed as weekly: sunday..saturday or 0-6",
    default: "sunday",
    parse: parseWeekday,
  },
  monthlyDay: {
    env: "BACKUP_MONTHLY_DAY",
    input: "monthly-day",
    description: "day of the month whose backup is also filed as monthly, 1-28",
    default: "1",
    parse: integerIn(1, 28),
  },
  rowCounts: {
    env: "BACKUP_ROW_COUNTS",
    input: "row-counts",
    description:
      "per-table row counts in the manifest, taken in the dump's snapshot: exact, estimated (statistics) or off",
    default: "exact",
    parse: oneOf(ROW_COUNT_MODES),
  },
  verifyOnly: {
    env: "BACKUP_VERIFY_ONLY",
    input: "verify-only",
    description: "check existing backups (sidecar, full decompress, gpg) instead of taking one",
    default: "false",
    parse: parseBoolean,
  },
  maxAgeHours: {
    env: "BACKUP_MAX_AGE_HOURS",
    input: "max-age-hours",
    description:
      "with verify-only: exit 2 when the newest daily backup is older than this, or none exists; weekly and monthly get 7 and 31 days more",
    default: "26",
    parse: integerIn(1, 87600, " (hours)"),
  },
  pushgatewayUrl: {
    env: "PUSHGATEWAY_URL",
    input: "pushgateway-url",
    description: "Prometheus Pushgateway to push metrics to, e.g. http://pushgateway:9091",
    parse: httpUrl("http://pushgateway:9091"),
  },
  pushgatewayJob: {
    env: "PUSHGATEWAY_JOB",
    input: "pushgateway-job",
    description: "job label of the pushed metrics",
    default: "lifeline",
    parse: parseLabelValue,
  },
  metricsTextfile: {
    env: "BACKUP_METRICS_TEXTFILE",
    input: "metrics-textfile",
    description: "also write the metrics to this node_exporter textfile (.prom), atomically",
    parse: parseString,
  },
  catchUpMaxFiles: {
    env: "BACKUP_CATCHUP_MAX_FILES",
    input: "catchup-max-files",
    description:
      "backups a destination is missing (a failed night's, a missed weekly/monthly) uploaded to it per run from BACKUP_DIR, newest first; 0 turns catch-up off",
    default: "10",
    parse: integerIn(0, 10_000),
  },
  catchUpMaxMb: {
    env: "BACKUP_CATCHUP_MAX_MB",
    input: "catchup-max-mb",
    description:
      "at most this many MiB of catch-up uploads per destination per run, so that making up cannot run into the job's time limit before the summary and metrics; 0: no byte bound",
    default: "10240",
    parse: integerIn(0, 100_000_000, " (MiB)"),
  },
  ...CLOUD_SETTINGS,
} satisfies Record<string, SettingSpec<unknown>>;

export interface RetentionSettings {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
}

export interface EncryptionSettings {
  /** Key id, fingerprint or email; undefined when the imported public key alone names the recipient. */
  readonly recipient: string | undefined;
  readonly publicKey: string | undefined;
}

export interface MetricsSettings {
  readonly pushgatewayUrl: string | undefined;
  readonly job: string;
  readonly textfile: string | undefined;
  /** Bound of one push to the Pushgateway, retries included (BACKUP_NETWORK_TIMEOUT_SECONDS). */
  readonly timeoutMs?: number;
}

export interface BackupDbConfig {
  readonly connection: ConnectionSettings;
  readonly backupDir: string;
  readonly prefix: string | undefined;
  readonly format: DumpFormat;
  readonly compression: Compression;
  readonly compressionLevel: number;
  readonly pgBinDir: string | undefined;
  readonly encryption: EncryptionSettings | undefined;
  readonly retention: RetentionSettings;
  readonly retentionDryRun: boolean;
  readonly schedule: { readonly weeklyDay: number; readonly monthlyDay: number };
  readonly rowCounts: RowCountMode;
  readonly verifyOnly: boolean;
  readonly maxAgeHours: number;
  readonly metrics: MetricsSettings;
  /** Cloud destinations every backup is streamed to, besides BACKUP_DIR. */
  readonly destinations: readonly Destination[];
  /** Per destination and run: how many missing backups, and bytes (undefined: no bound), are made up. */
  readonly catchUp: { readonly maxFiles: number; readonly maxBytes: number | undefined };
  /**
   * A setting named for the engine's own errors the way this caller sets it, e.g. "BACKUP_PREFIX
   * (--prefix)" on the command line, "BACKUP_PREFIX (input 'prefix')" in an action.
   */
  readonly settingLabel: (setting: keyof typeof BACKUP_DB_SETTINGS) => string;
}

/** BACKUP_ENCRYPT with its recipient or public key, checked together: one without the other is refused. */
export function loadEncryption(lookup: SettingLookup): EncryptionSettings | undefined {
  const s = BACKUP_DB_SETTINGS;
  const names = namesOf(lookup);
  const given = (spec: SettingSpec<unknown>) => givenAs(spec, lookup);
  const encrypt = require(s.encrypt, lookup);
  const recipient = resolve(s.gpgRecipient, lookup);
  const publicKey = resolve(s.gpgPublicKey, lookup);
  if (encrypt && recipient === undefined && publicKey === undefined) {
    throw new ConfigError(
      `${given(s.encrypt)} is true but no recipient is given: set ${names.label(s.gpgRecipient)} to a key ` +
        `in the keyring, or give the public key in ${names.label(s.gpgPublicKey)}`,
    );
  }
  if (!encrypt && (recipient !== undefined || publicKey !== undefined)) {
    const set = [s.gpgRecipient, s.gpgPublicKey].filter((spec) => lookup(spec as SettingSpec<unknown>));
    throw new ConfigError(
      `A GPG recipient or public key is set (${set.map(given).join(", ")}) but BACKUP_ENCRYPT is not true: ` +
        `${names.enable(s.encrypt)} to encrypt, or remove ${set.map(given).join(" and ")}`,
    );
  }

  return encrypt ? { recipient, publicKey } : undefined;
}

/** Reads and validates every backup-db setting up front, so that a bad one fails before any work. */
export function loadBackupDbConfig(
  lookup: SettingLookup,
  env: NodeJS.ProcessEnv = process.env,
): BackupDbConfig {
  const s = BACKUP_DB_SETTINGS;
  const names = namesOf(lookup);
  const given = (spec: SettingSpec<unknown>) => givenAs(spec, lookup);
  const rawUrl = require(s.databaseUrl, lookup);
  const connection = parseDatabaseUrl(rawUrl, lookup(s.databaseUrl as SettingSpec<unknown>)?.source);

  const compression = require(s.compression, lookup);
  const format = require(s.format, lookup);
  const range = LEVELS[compression];
  const level = resolve(s.compressionLevel, lookup);
  if (level !== undefined && (level < range.min || level > range.max)) {
    const where = given(s.compressionLevel);
    throw new ConfigError(
      compression === "none"
        ? `Invalid ${where} '${level}': compression is none, so no level applies; unset it`
        : `Invalid ${where} '${level}'. Expected a whole number from ${range.min} to ${range.max} for ${compression}`,
    );
  }
  if (format === "custom" && compression === "zstd") {
    throw new ConfigError(
      `${given(s.format)} 'custom' with ${given(s.compression)} 'zstd' is not supported: custom-format dumps are compressed by ` +
        "pg_dump itself (gzip); use compression gzip or none with the custom format, or the plain format for zstd",
    );
  }

  const encryption = loadEncryption(lookup);

  return {
    connection,
    backupDir: require(s.backupDir, lookup),
    prefix: resolve(s.prefix, lookup),
    format,
    compression,
    compressionLevel: level ?? range.default,
    pgBinDir: resolve(s.pgBinDir, lookup),
    encryption,
    retention: {
      daily: require(s.retentionDaily, lookup),
      weekly: require(s.retentionWeekly, lookup),
      monthly: require(s.retentionMonthly, lookup),
    },
    retentionDryRun: require(s.retentionDryRun, lookup),
    schedule: { weeklyDay: require(s.weeklyDay, lookup), monthlyDay: require(s.monthlyDay, lookup) },
    rowCounts: require(s.rowCounts, lookup),
    verifyOnly: require(s.verifyOnly, lookup),
    maxAgeHours: require(s.maxAgeHours, lookup),
    metrics: {
      pushgatewayUrl: resolve(s.pushgatewayUrl, lookup),
      job: require(s.pushgatewayJob, lookup),
      textfile: resolve(s.metricsTextfile, lookup),
      timeoutMs: require(s.networkTimeoutSeconds, lookup) * 1000,
    },
    destinations: loadDestinations(lookup, env),
    catchUp: {
      maxFiles: require(s.catchUpMaxFiles, lookup),
      maxBytes: require(s.catchUpMaxMb, lookup) * 1024 * 1024 || undefined,
    },
    settingLabel: (setting) => names.label(s[setting]),
  };
}

export interface VerifyOnlyConfig {
  readonly backupDir: string;
  readonly prefix: string | undefined;
  readonly maxAgeHours: number;
}

/** Whether the run only verifies existing backups (`--verify-only`); then no database is needed. */
export function isVerifyOnly(lookup: SettingLookup): boolean {
  return require(BACKUP_DB_SETTINGS.verifyOnly, lookup);
}

/** The settings `--verify-only` uses: where the backups are and how old the newest may be. */
export function loadVerifyOnlyConfig(lookup: SettingLookup): VerifyOnlyConfig {
  const s = BACKUP_DB_SETTINGS;
  return {
    backupDir: require(s.backupDir, lookup),
    prefix: resolve(s.prefix, lookup),
    maxAgeHours: require(s.maxAgeHours, lookup),
  };
}

/**
 * Every credential the raw settings carry (DATABASE_URL's and PUSHGATEWAY_URL's passwords, PGPASSWORD,
 * cloud secrets, GPG secret keys), read before the settings are parsed, so that adapters can mask them
 * before anything is quoted. It does not depend on the URLs parsing: whatever is credential-shaped in
 * them is masked, and an unparsable value with nothing credential-shaped is masked whole.
 */
export function credentialsIn(lookup: SettingLookup, env: NodeJS.ProcessEnv = process.env): string[] {
  const s = BACKUP_DB_SETTINGS;
  const found: string[] = [];
  const url = lookup(s.databaseUrl as SettingSpec<unknown>);
  if (url) found.push(...urlCredentials(url.value, (v) => parseDatabaseUrl(v, url.source).password));
  const gateway = lookup(s.pushgatewayUrl as SettingSpec<unknown>);
  if (gateway)
    found.push(...urlCredentials(gateway.value, (v) => void s.pushgatewayUrl.parse(v, gateway.source)));
  if (env.PGPASSWORD) found.push(env.PGPASSWORD);
  found.push(...cloudSecretsIn(env));
  const secretKey = lookup(GPG_PRIVATE_KEY_LOOKUP)?.value;
  if (secretKey) found.push(...keyBlockSecrets(secretKey));
  const publicKey = lookup(s.gpgPublicKey as SettingSpec<unknown>)?.value;
  if (publicKey && SECRET_KEY_BLOCK.test(publicKey)) found.push(...keyBlockSecrets(publicKey));
  return found.filter((secret) => secret.trim() !== "");
}

/** Credential-shaped parts of a URL setting; the whole value when it does not parse and none is found. */
function urlCredentials(raw: string, parse: (value: string) => string | undefined): string[] {
  const value = raw.trim();
  const found = passwordsIn(value);
  try {
    const password = parse(value);
    if (password) found.push(password);
  } catch {
    if (found.length === 0) found.push(value);
  }
  return found;
}

/** BACKUP_GPG_PRIVATE_KEY, as restore and verify read it (their settings table builds on this one). */
const GPG_PRIVATE_KEY_LOOKUP: SettingSpec<unknown> = {
  env: "BACKUP_GPG_PRIVATE_KEY",
  input: "gpg-private-key",
  description: "secret key to decrypt .gpg backups",
  parse: parseString,
};

export const SECRET_KEY_BLOCK = /-----BEGIN PGP (PRIVATE|SECRET) KEY BLOCK-----/;

/**
 * An ASCII-armoured key, whole and line by line: a runner masks a multi-line secret only line by line.
 * Armour header lines and short lines (the checksum) are not secret.
 */
function keyBlockSecrets(block: string): string[] {
  const lines = block
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length >= 16 && !line.startsWith("-----") && !/^[A-Za-z-]+: /.test(line));
  return [block.trim(), ...lines];
}
