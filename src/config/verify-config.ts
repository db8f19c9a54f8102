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
import { metricsSettings, RESTORE_COMMON_SETTINGS } from "./restore-config.js";
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

export interface VerifyConfig {
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
  readonly jobs: number;
  readonly gpgPrivateKey: string | undefined;
  readonly pgBinDir: string | undefined;
  readonly metrics: MetricsSettings;
  /** Configured buckets, listed (and verified) beside BACKUP_DIR. */
  readonly destinations: readonly Destination[];
  /** Opens the bucket of a cloud URI given as BACKUP_FILE. */
  readonly destinationForUri: DestinationForUri;
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
    jobs: resolve(s.jobs, lookup) ?? availableParallelism(),
    gpgPrivateKey: resolve(s.gpgPrivateKey, lookup),
    pgBinDir: resolve(s.pgBinDir, lookup),
    metrics: metricsSettings(lookup),
    ...loadCloudReading(lookup),
  };
}
