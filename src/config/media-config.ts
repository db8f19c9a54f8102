import { ConfigError } from "../shared/errors.js";
import { BACKUP_DB_SETTINGS, type MetricsSettings } from "./backup-db-config.js";
import { metricsSettings } from "./metrics-config.js";
import {
  integerIn,
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
  networkTimeoutSeconds: shared.networkTimeoutSeconds,
} satisfies Record<string, SettingSpec<unknown>>;

export interface BackupMediaConfig {
  readonly sourceDir: string;
  readonly backupDir: string;
  readonly retentionDays: number;
  readonly full: boolean;
  readonly exclude: readonly string[];
  readonly retentionDryRun: boolean;
  readonly metrics: MetricsSettings;
}

export function loadBackupMediaConfig(lookup: SettingLookup): BackupMediaConfig {
  const s = BACKUP_MEDIA_SETTINGS;
  return {
    sourceDir: require(s.sourceDir, lookup),
    backupDir: require(s.mediaBackupDir, lookup),
    retentionDays: require(s.retentionDays, lookup),
    full: require(s.full, lookup),
    exclude: resolve(s.exclude, lookup) ?? [],
    retentionDryRun: require(s.retentionDryRun, lookup),
    metrics: metricsSettings(lookup),
  };
}

/** What verifying media snapshots reads: backup-media --verify-only and verify --media. */
export interface VerifyMediaConfig {
  readonly backupDir: string;
  readonly maxAgeHours: number;
  readonly subset: DataSubset;
  readonly metrics: MetricsSettings;
}

export function loadVerifyMediaConfig(lookup: SettingLookup): VerifyMediaConfig {
  const s = BACKUP_MEDIA_SETTINGS;
  return {
    backupDir: require(s.mediaBackupDir, lookup),
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
} satisfies Record<string, SettingSpec<unknown>>;

export interface RestoreMediaConfig {
  readonly backupDir: string;
  readonly snapshot: string;
  readonly targetDir: string;
  readonly restorePath: string | undefined;
  readonly overwrite: boolean;
  readonly metrics: MetricsSettings;
}

export function loadRestoreMediaConfig(lookup: SettingLookup): RestoreMediaConfig {
  const s = RESTORE_MEDIA_SETTINGS;
  return {
    backupDir: require(s.mediaBackupDir, lookup),
    snapshot: require(s.snapshot, lookup),
    targetDir: require(s.targetDir, lookup, "the directory to restore the media snapshot into"),
    restorePath: resolve(s.restorePath, lookup),
    overwrite: require(s.overwrite, lookup),
    metrics: metricsSettings(lookup),
  };
}
