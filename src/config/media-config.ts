import { ConfigError } from "../shared/errors.js";
import {
  BACKUP_DB_SETTINGS,
  type EncryptionSettings,
  loadEncryption,
  type MetricsSettings,
} from "./backup-db-config.js";
import {
  CLOUD_READ_SETTINGS,
  CLOUD_SETTINGS,
  type Destination,
  loadDestinations,
  parseKeyPrefix,
} from "./cloud-config.js";
import { metricsSettings } from "./metrics-config.js";

/** Looked up, not declared here: restore and verify declare BACKUP_GPG_PRIVATE_KEY among their own settings. */
const GPG_PRIVATE_KEY = {
  env: "BACKUP_GPG_PRIVATE_KEY",
  input: "gpg-private-key",
  description: "",
  parse: (raw: string) => raw,
};

import {
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

/** "10%" or "n/t" (restic's --read-data-subset): which share of the files verify reads. */
export type DataSubset =
  | { readonly kind: "percent"; readonly percent: number }
  | { readonly kind: "slice"; readonly n: number; readonly of: number };

export function parseDataSubset(raw: string, source: string): DataSubset {
  const pct = /^(\d{1,3}(?:\.\d+)?)%$/.exec(raw);
  if (pct && Number(pct[1]) > 0 && Number(pct[1]) <= 100) return { kind: "percent", percent: Number(pct[1]) };
  const slice = /^(\d+)\/(\d+)$/.exec(raw);
  if (slice) {
    const n = Number(slice[1]);
    const of = Number(slice[2]);
    if (n >= 1 && of >= 1 && n <= of && of <= 10_000) return { kind: "slice", n, of };
  }
  throw new ConfigError(
    `Invalid ${source} '${raw}'. Expected a percentage from 0 to 100 (e.g. 10%) or n/t (e.g. 1/5: the first of five slices)`,
  );
}

/** Splits MEDIA_EXCLUDE on newlines and on commas outside braces, so "*.{tmp,part}" stays one pattern. */
export function splitPatterns(raw: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const c of raw) {
    if (c === "{") depth++;
    if (c === "}" && depth > 0) depth--;
    if (c === "\n" || (c === "," && depth === 0)) {
      out.push(current);
      current = "";
    } else current += c;
  }
  out.push(current);
  return out.map((p) => p.trim()).filter((p) => p !== "");
}

/** Where media snapshots go in every configured bucket: beside the database backups, under their own prefix. */
const mediaRemotePrefix = {
  env: "MEDIA_REMOTE_PREFIX",
  input: "media-remote-prefix",
  description: "key prefix of media snapshots in every bucket/container (data/ and snapshots/ below it)",
  default: "backups/media/",
  parse: parseKeyPrefix,
} satisfies SettingSpec<string>;

const { remotePrefix: _dbPrefix, ...cloudUpload } = CLOUD_SETTINGS;
const { remotePrefix: _dbReadPrefix, ...cloudRead } = CLOUD_READ_SETTINGS;

/** The off-site half of backup-media: the database's buckets and encryption, media's own prefix. */
export const MEDIA_OFFSITE_SETTINGS = {
  ...cloudUpload,
  mediaRemotePrefix,
  mediaGcGraceHours: {
    env: "MEDIA_GC_GRACE_HOURS",
    input: "media-gc-grace-hours",
    description:
      "data in a bucket that no kept snapshot uses is removed only once two runs this far apart found it so, and it is at least this old (a backup still uploading is never robbed)",
    default: "12",
    parse: integerIn(1, 24 * 365, " (hours)"),
  },
  encrypt: shared.encrypt,
  gpgRecipient: shared.gpgRecipient,
  gpgPublicKey: shared.gpgPublicKey,
} satisfies Record<string, SettingSpec<unknown>>;

/** What verify and restore need to read media snapshots from the buckets. */
export const MEDIA_REMOTE_READ_SETTINGS = { ...cloudRead, mediaRemotePrefix } satisfies Record<
  string,
  SettingSpec<unknown>
>;

/** The settings of backup-media, named as in the runbook's backup_media.sh. */
export const BACKUP_MEDIA_SETTINGS = {
  sourceDir: {
    env: "MEDIA_SOURCE_DIR",
    input: "media-source-dir",
    description: "the media directory to back up",
    default: "/data",
    parse: parseString,
  },
  mediaBackupDir: {
    env: "MEDIA_BACKUP_DIR",
    input: "media-backup-dir",
    description: "directory that holds the media snapshots, current and logs/",
    default: "/backups/media",
    parse: parseString,
  },
  retentionDays: {
    env: "MEDIA_RETENTION_DAYS",
    input: "media-retention-days",
    description:
      "days to keep media snapshots (the newest complete one and the one current names are always kept)",
    default: "30",
    parse: integerIn(1, 36_500, " (days)"),
  },
  full: {
    env: "MEDIA_FULL",
    input: "full",
    description:
      "copy and hash every file into an independent snapshot instead of hard-linking unchanged ones",
    default: "false",
    parse: parseBoolean,
  },
  exclude: {
    env: "MEDIA_EXCLUDE",
    input: "media-exclude",
    description:
      "glob patterns left out of media snapshots, separated by commas or newlines: without '/' a name at any depth (*.tmp), with '/' a path from the source (cache/**)",
    parse: (raw: string): readonly string[] => splitPatterns(raw),
  },
  retentionDryRun: shared.retentionDryRun,
  verifyOnly: {
    ...shared.verifyOnly,
    description:
      "check the existing snapshots (manifest checksum, every file's size and SHA-256) instead of taking one",
  },
  maxAgeHours: {
    ...shared.maxAgeHours,
    description: "with verify-only: exit 2 when the newest media snapshot is older than this, or none exists",
  },
  readDataSubset: {
    env: "MEDIA_READ_DATA_SUBSET",
    input: "read-data-subset",
    description:
      "with verify-only: read and hash this share of the snapshots' files: a percentage (10%) or a slice n/t (1/5)",
    default: "100%",
    parse: parseDataSubset,
  },
  pushgatewayUrl: shared.pushgatewayUrl,
  pushgatewayJob: shared.pushgatewayJob,
  metricsTextfile: shared.metricsTextfile,
  ...MEDIA_OFFSITE_SETTINGS,
} satisfies Record<string, SettingSpec<unknown>>;

/** Where and how media snapshots are copied off-site. */
export interface MediaOffsiteConfig {
  readonly destinations: readonly Destination[];
  readonly prefix: string;
  readonly graceMs: number;
  readonly encryption: EncryptionSettings | undefined;
}

export function loadMediaOffsiteConfig(
  lookup: SettingLookup,
  env: NodeJS.ProcessEnv = process.env,
): MediaOffsiteConfig {
  const s = MEDIA_OFFSITE_SETTINGS;
  return {
    destinations: loadDestinations(lookup, env),
    prefix: require(s.mediaRemotePrefix, lookup),
    graceMs: require(s.mediaGcGraceHours, lookup) * 3600_000,
    encryption: loadEncryption(lookup),
  };
}

export interface BackupMediaConfig {
  readonly sourceDir: string;
  readonly backupDir: string;
  readonly retentionDays: number;
  readonly full: boolean;
  readonly exclude: readonly string[];
  readonly retentionDryRun: boolean;
  readonly metrics: MetricsSettings;
  /** The buckets the snapshot is copied to (none: local only). */
  readonly offsite?: MediaOffsiteConfig;
}

export function loadBackupMediaConfig(
  lookup: SettingLookup,
  env: NodeJS.ProcessEnv = process.env,
): BackupMediaConfig {
  const s = BACKUP_MEDIA_SETTINGS;
  return {
    sourceDir: require(s.sourceDir, lookup),
    backupDir: require(s.mediaBackupDir, lookup),
    retentionDays: require(s.retentionDays, lookup),
    full: require(s.full, lookup),
    exclude: resolve(s.exclude, lookup) ?? [],
    retentionDryRun: require(s.retentionDryRun, lookup),
    metrics: metricsSettings(lookup),
    offsite: loadMediaOffsiteConfig(lookup, env),
  };
}

/** What verifying media snapshots reads: backup-media --verify-only and verify --media. */
export interface VerifyMediaConfig {
  readonly backupDir: string;
  /** Every configured bucket's media area, verified beside MEDIA_BACKUP_DIR. */
  readonly remotes?: readonly MediaRemoteSource[];
  readonly gpgPrivateKey?: string | undefined;
  readonly maxAgeHours: number;
  readonly subset: DataSubset;
  readonly metrics: MetricsSettings;
}

export function loadVerifyMediaConfig(
  lookup: SettingLookup,
  env: NodeJS.ProcessEnv = process.env,
): VerifyMediaConfig {
  const s = BACKUP_MEDIA_SETTINGS;
  const prefix = require(MEDIA_REMOTE_READ_SETTINGS.mediaRemotePrefix, lookup);
  const gpgPrivateKey = lookup(GPG_PRIVATE_KEY as SettingSpec<unknown>)?.value as string | undefined;
  return {
    backupDir: require(s.mediaBackupDir, lookup),
    remotes: loadDestinations(lookup, env).map((destination) => ({ destination, prefix })),
    ...(gpgPrivateKey !== undefined ? { gpgPrivateKey } : {}),
    maxAgeHours: require(s.maxAgeHours, lookup),
    subset: require(s.readDataSubset, lookup),
    metrics: metricsSettings(lookup),
  };
}

/** The switch that turns verify and restore to media snapshots. */
export const MEDIA_SWITCH = {
  env: "LIFELINE_MEDIA",
  input: "media",
  description: "work on the media snapshots in MEDIA_BACKUP_DIR instead of the database backups",
  default: "false",
  parse: parseBoolean,
} satisfies SettingSpec<boolean>;

export const isMedia = (lookup: SettingLookup): boolean => require(MEDIA_SWITCH, lookup);

/** The settings of verify --media. */
export const VERIFY_MEDIA_SETTINGS = {
  media: MEDIA_SWITCH,
  mediaBackupDir: BACKUP_MEDIA_SETTINGS.mediaBackupDir,
  readDataSubset: {
    ...BACKUP_MEDIA_SETTINGS.readDataSubset,
    description: "with media: read and hash this share of the snapshots' files: 10% or n/t",
  },
  mediaRemotePrefix,
} satisfies Record<string, SettingSpec<unknown>>;

/** The settings of restore --media. */
export const RESTORE_MEDIA_SETTINGS = {
  media: MEDIA_SWITCH,
  mediaBackupDir: BACKUP_MEDIA_SETTINGS.mediaBackupDir,
  snapshot: {
    env: "MEDIA_SNAPSHOT",
    input: "snapshot",
    description:
      "with media: the snapshot to restore: latest (the one current names) or a name such as media_20261202_030000",
    default: "latest",
    parse: (raw: string, source: string) => {
      if (raw !== "latest" && !/^media_\d{8}_\d{6}$/.test(raw)) {
        throw new ConfigError(
          `Invalid ${source} '${raw}'. Expected latest or a snapshot name such as media_20261202_030000`,
        );
      }
      return raw;
    },
  },
  targetDir: {
    env: "MEDIA_RESTORE_TARGET",
    input: "target-dir",
    description:
      "with media: the directory to restore into (created if missing); nothing is written outside it",
    parse: parseString,
  },
  restorePath: {
    env: "MEDIA_RESTORE_PATH",
    input: "restore-path",
    description:
      "with media: restore only this path of the snapshot (a file or a directory, relative to the source)",
    parse: parseString,
  },
  overwrite: {
    env: "MEDIA_RESTORE_OVERWRITE",
    input: "overwrite",
    description:
      "with media: replace files that already exist in the target (default: refuse, nothing written)",
    default: "false",
    parse: parseBoolean,
  },
  from: {
    env: "MEDIA_RESTORE_FROM",
    input: "media-from",
    description:
      "with media: where the snapshot is read from: local (MEDIA_BACKUP_DIR) or s3, gcs, azure (the configured bucket, under MEDIA_REMOTE_PREFIX)",
    default: "local",
    parse: (raw: string, source: string) => {
      if (!(MEDIA_SOURCES as readonly string[]).includes(raw)) {
        throw new ConfigError(`Invalid ${source} '${raw}'. Expected one of: ${MEDIA_SOURCES.join(", ")}`);
      }
      return raw as MediaSource;
    },
  },
  ...MEDIA_REMOTE_READ_SETTINGS,
} satisfies Record<string, SettingSpec<unknown>>;

export const MEDIA_SOURCES = ["local", "s3", "gcs", "azure"] as const;
export type MediaSource = (typeof MEDIA_SOURCES)[number];

/** A bucket's media area, for reading: the configured destination of that kind and the media prefix. */
export interface MediaRemoteSource {
  readonly destination: Destination;
  readonly prefix: string;
}

/** The configured bucket of `kind` for reading media snapshots; refused, naming the setting, when none is. */
export function mediaRemoteSource(
  kind: Exclude<MediaSource, "local">,
  lookup: SettingLookup,
  env: NodeJS.ProcessEnv = process.env,
): MediaRemoteSource {
  const destination = loadDestinations(lookup, env).find((d) => d.kind === kind);
  if (!destination) {
    const setting = {
      s3: CLOUD_SETTINGS.s3Bucket,
      gcs: CLOUD_SETTINGS.gcsBucket,
      azure: CLOUD_SETTINGS.azureContainer,
    }[kind];
    throw new ConfigError(
      `Media snapshots are to be read from ${kind}, but no ${kind} bucket is configured: set ${namesOf(lookup).label(setting)}`,
    );
  }
  return { destination, prefix: require(MEDIA_REMOTE_READ_SETTINGS.mediaRemotePrefix, lookup) };
}

export interface RestoreMediaConfig {
  readonly backupDir: string;
  /** Set: the snapshot is read from this bucket instead of MEDIA_BACKUP_DIR. */
  readonly remote?: MediaRemoteSource;
  /** BACKUP_GPG_PRIVATE_KEY, for a bucket's encrypted snapshots. */
  readonly gpgPrivateKey?: string | undefined;
  readonly snapshot: string;
  readonly targetDir: string;
  readonly restorePath: string | undefined;
  readonly overwrite: boolean;
  readonly metrics: MetricsSettings;
}

export function loadRestoreMediaConfig(
  lookup: SettingLookup,
  env: NodeJS.ProcessEnv = process.env,
): RestoreMediaConfig {
  const s = RESTORE_MEDIA_SETTINGS;
  const from = require(s.from, lookup);
  const gpgPrivateKey = lookup(GPG_PRIVATE_KEY as SettingSpec<unknown>)?.value as string | undefined;
  return {
    backupDir: require(s.mediaBackupDir, lookup),
    ...(from === "local" ? {} : { remote: mediaRemoteSource(from, lookup, env) }),
    ...(gpgPrivateKey !== undefined ? { gpgPrivateKey } : {}),
    snapshot: require(s.snapshot, lookup),
    targetDir: require(s.targetDir, lookup, "the directory to restore the media snapshot into"),
    restorePath: resolve(s.restorePath, lookup),
    overwrite: require(s.overwrite, lookup),
    metrics: metricsSettings(lookup),
  };
}
