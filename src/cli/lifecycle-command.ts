import { BACKUP_DB_SETTINGS } from "../config/backup-db-config.js";
import { CLOUD_SETTINGS, loadDestinations } from "../config/cloud-config.js";
import {
  choiceOf,
  integerIn,
  require,
  resolve,
  type SettingLookup,
  type SettingSpec,
} from "../config/settings.js";
import { parseDatabaseUrl } from "../db/database-url.js";
import { COMMON_EXIT_HELP } from "../process/exit-status.js";
import { ConfigError } from "../shared/errors.js";
import { azureLifecycle, gcsLifecycle, type LifecycleOptions, s3Lifecycle } from "../storage/lifecycle.js";
import { AZURE_TIERS, GCS_STORAGE_CLASSES, S3_STORAGE_CLASSES } from "../storage/storage-classes.js";
import { settingsHelp, startCommand } from "./args.js";
import type { Command } from "./run-record.js";

export const LIFECYCLE_SETTINGS = {
  databaseUrl: { ...BACKUP_DB_SETTINGS.databaseUrl, description: "used only for the database name (prefix)" },
  prefix: BACKUP_DB_SETTINGS.prefix,
  ...CLOUD_SETTINGS,
  transitionDays: {
    env: "BACKUP_LIFECYCLE_TRANSITION_DAYS",
    input: "transition-days",
    description: "age in days at which monthly backups move to the colder class",
    default: "30",
    parse: integerIn(1, 3650, " (days)"),
  },
  s3MonthlyClass: {
    env: "BACKUP_LIFECYCLE_S3_CLASS",
    input: "s3-monthly-class",
    description: "S3 class for monthly backups (GLACIER_IR restores at once; GLACIER needs a restore first)",
    default: "GLACIER_IR",
    parse: choiceOf(S3_STORAGE_CLASSES),
  },
  gcsMonthlyClass: {
    env: "BACKUP_LIFECYCLE_GCS_CLASS",
    input: "gcs-monthly-class",
    description: "GCS class for monthly backups",
    default: "COLDLINE",
    parse: choiceOf(GCS_STORAGE_CLASSES),
  },
  azureMonthlyTier: {
    env: "BACKUP_LIFECYCLE_AZURE_TIER",
    input: "azure-monthly-tier",
    description: "Azure tier for monthly backups (Cool or Cold: Archive would make sidecars unreadable)",
    default: "Cold",
    parse: choiceOf(AZURE_TIERS.filter((t) => t !== "Archive" && t !== "Hot")),
  },
} satisfies Record<string, SettingSpec<unknown>>;

export const LIFECYCLE_HELP = `Usage: lifeline lifecycle [options] [--apply]

Prints the bucket lifecycle policies that go with Lifeline's retention (runbook: "Configure lifecycle
policy") for every configured destination (BACKUP_S3_BUCKET, BACKUP_GCS_BUCKET, BACKUP_AZURE_CONTAINER):
abort incomplete multipart uploads after 1 day, and move monthly backups to a colder class after
--transition-days. They never expire backups: Lifeline's retention deletes them, with its safety rules.
With --apply, sets them on S3 and GCS buckets (replacing the bucket's existing rules); Azure policies
belong to the storage account's management plane: apply the printed JSON with the az command shown.

Options:
${settingsHelp(LIFECYCLE_SETTINGS)}
  --apply                        set the policies on the buckets (S3, GCS)
  --help                         show this help

Exit status: 0 printed (and applied); 1 failed; ${COMMON_EXIT_HELP}
`;

const LIFECYCLE_COMMAND = { settings: LIFECYCLE_SETTINGS, switches: ["apply"], help: LIFECYCLE_HELP };

function lifecycleOptions(lookup: SettingLookup, container: string): LifecycleOptions {
  const s = LIFECYCLE_SETTINGS;
  let backupPrefix = resolve(s.prefix, lookup);
  if (backupPrefix === undefined) {
    const url = resolve(s.databaseUrl, lookup);
    if (url === undefined) {
      throw new ConfigError(
        "lifecycle needs the backups' name prefix to target monthly backups: set BACKUP_PREFIX (--prefix) or DATABASE_URL",
      );
    }
    backupPrefix = parseDatabaseUrl(url).database;
    if (backupPrefix === undefined) {
      throw new ConfigError(
        "DATABASE_URL names no database: set BACKUP_PREFIX (--prefix) to the backups' name prefix",
      );
    }
  }
  return {
    keyPrefix: require(s.remotePrefix, lookup),
    backupPrefix,
    transitionDays: require(s.transitionDays, lookup),
    s3Class: require(s.s3MonthlyClass, lookup),
    gcsClass: require(s.gcsMonthlyClass, lookup),
    azureTier: require(s.azureMonthlyTier, lookup),
    azureContainer: container,
  };
}

/** `lifeline lifecycle`: prints (and with --apply, sets) lifecycle policies. Returns the exit code. */
export const lifecycleCommand: Command = async (argv, logger, _signal, out) => {
  const started = startCommand(argv, LIFECYCLE_COMMAND, { logger, out });
  if (!started) return 0;
  const { lookup, switches } = started;
  const destinations = loadDestinations(lookup);
  if (destinations.length === 0) {
    throw new ConfigError(
      "No destination is configured: set BACKUP_S3_BUCKET, BACKUP_GCS_BUCKET or BACKUP_AZURE_CONTAINER (or their flags)",
    );
  }
  for (const d of destinations) {
    const options = lifecycleOptions(lookup, d.kind === "azure" ? d.settings.container : "");
    if (d.kind === "s3") {
      const policy = s3Lifecycle(options);
      out.write(
        `# S3 s3://${d.settings.bucket}: aws s3api put-bucket-lifecycle-configuration --bucket ${d.settings.bucket} --lifecycle-configuration file://s3-lifecycle.json\n${JSON.stringify(policy, null, 2)}\n`,
      );
      if (switches.apply) {
        const { S3Store } = await import("../storage/s3-store.js");
        const store = new S3Store(d.settings, logger);
        await store.applyLifecycle(policy);
        logger.info(
          `Applied the lifecycle configuration to s3://${d.settings.bucket} (${(await store.lifecycleRules()).length} rules now)`,
        );
      }
    } else if (d.kind === "gcs") {
      const policy = gcsLifecycle(options);
      out.write(
        `# GCS gs://${d.settings.bucket}: gcloud storage buckets update gs://${d.settings.bucket} --lifecycle-file=gcs-lifecycle.json\n${JSON.stringify(policy, null, 2)}\n`,
      );
      if (switches.apply) {
        const { GcsStore } = await import("../storage/gcs-store.js");
        const store = new GcsStore(d.settings, logger);
        await store.applyLifecycle(policy);
        logger.info(
          `Applied the lifecycle rules to gs://${d.settings.bucket} (${(await store.lifecycleRules()).length} rules now)`,
        );
      }
    } else {
      const policy = azureLifecycle(options);
      const account =
        resolve(LIFECYCLE_SETTINGS.azureAccount, lookup) ??
        (d.settings.auth.kind === "shared-key" ? d.settings.auth.account : "<account>");
      out.write(
        `# Azure container ${d.settings.container}: az storage account management-policy create --account-name ${account} --resource-group <group> --policy @azure-lifecycle.json\n${JSON.stringify(policy, null, 2)}\n`,
      );
      if (switches.apply) {
        logger.warn(
          "Azure lifecycle policies belong to the storage account (management plane) and were NOT applied: run the az command above",
        );
      }
    }
  }
  return 0;
};
