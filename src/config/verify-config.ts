import { type ConnectionSettings, parseDatabaseUrl } from "../db/database-url.js";
import { ConfigError } from "../shared/errors.js";
import { BACKUP_DB_SETTINGS } from "./backup-db-config.js";
import { VERIFY_MEDIA_SETTINGS } from "./media-config.js";
import {
  BACKUP_READING_SETTINGS,
  type BackupReading,
  loadBackupReading,
  RESTORE_COMMON_SETTINGS,
  RESTORE_SETTINGS,
} from "./restore-config.js";
import {
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

const shared = BACKUP_DB_SETTINGS;

/** The settings of verify, named as in the runbook's verify_backup.sh. */
export const VERIFY_SETTINGS = {
  databaseUrl: {
    ...shared.databaseUrl,
    description:
      "with test-restore: the server the scratch database is created on (the live database is not touched)",
  },
  backupDir: shared.backupDir,
  prefix: { ...shared.prefix, description: "only backups whose names start with this; default: all" },
  maxAgeHours: {
    env: "BACKUP_MAX_AGE_HOURS",
    input: "max-age-hours",
    description:
      "exit 2 when the newest daily backup is older than this, or none exists; weekly and monthly get 7 and 31 days more",
    default: "26",
    parse: integerIn(1, 87600, " (hours)"),
  },
  testRestore: {
    env: "BACKUP_TEST_RESTORE",
    input: "test-restore",
    description:
      "restore the newest good backup into a scratch database, compare it with its manifest, drop it",
    default: "false",
    parse: parseBoolean,
  },
  backupFile: {
    ...RESTORE_COMMON_SETTINGS.backupFile,
    description: "with test-restore: the backup to restore instead of the newest good one",
  },
  checkSql: {
    env: "BACKUP_CHECK_SQL",
    input: "check-sql",
    description:
      "with test-restore: file of extra SQL checks, each ended by ';'; each must return a first value that is not false, NULL or empty",
    parse: parseString,
  },
  verifyRemote: {
    env: "BACKUP_VERIFY_REMOTE",
    input: "verify-remote",
    description:
      "which copies in the buckets are downloaded and checked: all, or the newest of each tier (less egress)",
    default: "all",
    parse: oneOf(["all", "newest"] as const),
  },
  ...BACKUP_READING_SETTINGS,
  ...VERIFY_MEDIA_SETTINGS,
} satisfies Record<string, SettingSpec<unknown>>;

export interface VerifyConfig extends BackupReading {
  /** How this caller lists backups, for advice: "run restore and add --list-backups" (CLI) or with the input (action). */
  readonly listAdvice: string;
  readonly backupDir: string;
  readonly prefix: string | undefined;
  readonly maxAgeHours: number;
  /** Set with test-restore: where the scratch database is created. */
  readonly testRestore:
    | {
        readonly connection: ConnectionSettings;
        readonly backupFile: string | undefined;
        readonly checkSql: string | undefined;
      }
    | undefined;
  /** Which bucket copies verify downloads: every one, or each tier's newest. */
  readonly verifyRemote: "all" | "newest";
}

export function loadVerifyConfig(lookup: SettingLookup): VerifyConfig {
  const s = VERIFY_SETTINGS;
  const names = namesOf(lookup);
  const testRestore = require(s.testRestore, lookup);
  const backupFile = resolve(s.backupFile, lookup);
  const checkSql = resolve(s.checkSql, lookup);
  if (!testRestore && (backupFile !== undefined || checkSql !== undefined)) {
    throw new ConfigError(
      `${names.label(backupFile !== undefined ? s.backupFile : s.checkSql)} only applies with ${names.name(s.testRestore)}: ` +
        `${names.enable(s.testRestore)}, or unset it`,
    );
  }
  return {
    backupDir: require(s.backupDir, lookup),
    prefix: resolve(s.prefix, lookup),
    maxAgeHours: require(s.maxAgeHours, lookup),
    testRestore: testRestore
      ? {
          connection: parseDatabaseUrl(
            require(s.databaseUrl, lookup, ` — ${names.name(s.testRestore)} needs a server to create the scratch database on`),
            lookup(s.databaseUrl as SettingSpec<unknown>)?.source,
          ),
          backupFile,
          checkSql,
        }
      : undefined,
    verifyRemote: require(s.verifyRemote, lookup),
    ...loadBackupReading(lookup),
    listAdvice: `run restore and ${names.enable(RESTORE_SETTINGS.listBackups)}`,
  };
}
