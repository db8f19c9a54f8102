import { ConfigError } from "../shared/errors.js";
import type { AzureAuth } from "../storage/azure-store.js";
import type { Destination } from "../storage/destination.js";
import { AZURE_TIERS, GCS_STORAGE_CLASSES, S3_STORAGE_CLASSES } from "../storage/storage-classes.js";
import {
  DEFAULT_TRANSFER,
  MIB,
  NETWORK_TIMEOUT_SETTING,
  PREFLIGHT_TIMEOUT_SETTING,
  type TransferSettings,
} from "../storage/transfer.js";
import {
  choiceOf,
  givenAs,
  httpUrl,
  integerIn,
  namesOf,
  parseBoolean,
  parseString,
  require,
  resolve,
  type SettingLookup,
  type SettingSpec,
  withNames,
} from "./settings.js";

const parseEndpoint = httpUrl("http://127.0.0.1:9000");

/** `backups/postgres` → `backups/postgres/`; an empty prefix means the bucket's top level. */
export function parseKeyPrefix(raw: string, source: string): string {
  const trimmed = raw.replace(/^\/+/, "");
  if (/(^|\/)\.\.?(\/|$)/.test(trimmed) || /\/\//.test(trimmed)) {
    throw new ConfigError(`Invalid ${source} '${raw}'. Expected a key prefix such as backups/postgres/`);
  }
  return trimmed === "" || trimmed.endsWith("/") ? trimmed : `${trimmed}/`;
}

function parseBucket(raw: string, source: string): string {
  if (!/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/.test(raw)) {
    throw new ConfigError(
      `Invalid ${source} '${raw}'. Expected a bucket/container name: lower-case letters, digits, '.', '-' (no s3:// prefix)`,
    );
  }
  return raw;
}

/** Settings of the cloud destinations, shared by backup-db, verify and restore. */
export type { Destination };

export const CLOUD_SETTINGS = {
  s3Bucket: {
    env: "BACKUP_S3_BUCKET",
    input: "s3-bucket",
    description: "S3 bucket for off-site copies (credentials: the AWS SDK chain, e.g. AWS_* or a role)",
    parse: parseBucket,
  },
  s3StorageClass: {
    env: "BACKUP_S3_STORAGE_CLASS",
    input: "s3-storage-class",
    description: `S3 storage class: ${S3_STORAGE_CLASSES.join(", ")}`,
    default: "STANDARD",
    parse: choiceOf(S3_STORAGE_CLASSES),
  },
  s3Region: {
    env: "BACKUP_S3_REGION",
    input: "s3-region",
    description: "bucket region; default AWS_REGION / the profile's (us-east-1 with a custom endpoint)",
    parse: parseString,
  },
  s3Endpoint: {
    env: "BACKUP_S3_ENDPOINT",
    input: "s3-endpoint",
    description:
      "S3-compatible endpoint (MinIO, R2, Ceph); default AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS",
    parse: parseEndpoint,
  },
  s3ForcePathStyle: {
    env: "BACKUP_S3_FORCE_PATH_STYLE",
    input: "s3-force-path-style",
    description: "path-style bucket addressing; default true with a custom endpoint, false for AWS",
    parse: parseBoolean,
  },
  gcsBucket: {
    env: "BACKUP_GCS_BUCKET",
    input: "gcs-bucket",
    description:
      "GCS bucket for off-site copies (credentials: GOOGLE_APPLICATION_CREDENTIALS or workload identity)",
    parse: parseBucket,
  },
  gcsStorageClass: {
    env: "BACKUP_GCS_STORAGE_CLASS",
    input: "gcs-storage-class",
    description: `GCS storage class: ${GCS_STORAGE_CLASSES.join(", ")}`,
    default: "STANDARD",
    parse: choiceOf(GCS_STORAGE_CLASSES),
  },
  gcsEndpoint: {
    env: "BACKUP_GCS_ENDPOINT",
    input: "gcs-endpoint",
    description:
      "GCS API endpoint override (an emulator); default STORAGE_EMULATOR_HOST (with or without /storage/v1)",
    parse: parseEndpoint,
  },
  azureContainer: {
    env: "BACKUP_AZURE_CONTAINER",
    input: "azure-container",
    description:
      "Azure Blob container for off-site copies (AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with a key, SAS or Entra ID)",
    parse: parseBucket,
  },
  azureTier: {
    env: "BACKUP_AZURE_TIER",
    input: "azure-tier",
    description: `Azure access tier: ${AZURE_TIERS.join(", ")}`,
    default: "Hot",
    parse: choiceOf(AZURE_TIERS),
  },
  azureAccount: {
    env: "AZURE_STORAGE_ACCOUNT",
    input: "azure-account",
    description: "storage account name, when no connection string is given",
    parse: parseString,
  },
  azureEndpoint: {
    env: "BACKUP_AZURE_ENDPOINT",
    input: "azure-endpoint",
    description: "blob service URL; default https://<account>.blob.core.windows.net",
    parse: parseEndpoint,
  },
  remotePrefix: {
    env: "BACKUP_REMOTE_PREFIX",
    input: "remote-prefix",
    description: "key prefix of backups in every bucket/container",
    default: "backups/postgres/",
    parse: parseKeyPrefix,
  },
  uploadPartSizeMb: {
    env: "BACKUP_UPLOAD_PART_SIZE_MB",
    input: "upload-part-size-mb",
    description:
      "multipart part / resumable chunk / block size in MiB; memory per upload ≈ size × (concurrency + 1)",
    default: "8",
    parse: integerIn(5, 512, " (MiB)"),
  },
  uploadConcurrency: {
    env: "BACKUP_UPLOAD_CONCURRENCY",
    input: "upload-concurrency",
    description: "parts in flight per upload",
    default: "2",
    parse: integerIn(1, 16),
  },
  networkTimeoutSeconds: {
    env: NETWORK_TIMEOUT_SETTING,
    input: "network-timeout-seconds",
    description:
      "a request to a bucket or the Pushgateway that gets no answer this long fails; so does a whole listing page, sidecar, delete or download start, retries included",
    default: "120",
    parse: integerIn(1, 3600, " (seconds)"),
  },
  preflightTimeoutSeconds: {
    env: PREFLIGHT_TIMEOUT_SETTING,
    input: "preflight-timeout-seconds",
    description:
      "longest check of one destination before the dump (all are checked at once); one that does not answer in time is skipped and the local backup starts",
    default: "30",
    parse: integerIn(1, 3600, " (seconds)"),
  },
} satisfies Record<string, SettingSpec<unknown>>;

const firstSet = (env: NodeJS.ProcessEnv, ...names: string[]): string | undefined =>
  names.map((n) => env[n]).find((v) => v !== undefined && v !== "");

function azureAuth(lookup: SettingLookup, env: NodeJS.ProcessEnv): AzureAuth {
  const s = CLOUD_SETTINGS;
  const connectionString = firstSet(env, "AZURE_STORAGE_CONNECTION_STRING");
  if (connectionString) return { kind: "connection-string", connectionString };
  const account = resolve(s.azureAccount, lookup);
  const endpoint = resolve(s.azureEndpoint, lookup);
  const names = namesOf(lookup);
  if (!account && !endpoint) {
    throw new ConfigError(
      `${givenAs(s.azureContainer, lookup)} is set but no storage account is: set AZURE_STORAGE_CONNECTION_STRING, ` +
        `or ${names.label(s.azureAccount)} with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or an Entra ID sign-in`,
    );
  }
  const url = endpoint ?? `https://${account}.blob.core.windows.net`;
  const key = firstSet(env, "AZURE_STORAGE_KEY");
  if (key) {
    if (!account) {
      throw new ConfigError(
        `AZURE_STORAGE_KEY needs the name of its storage account: set ${names.ways(s.azureAccount)}`,
      );
    }
    return { kind: "shared-key", account, key, url };
  }
  const sas = firstSet(env, "AZURE_STORAGE_SAS_TOKEN");
  if (sas) return { kind: "sas", url, sas };
  return { kind: "default-credential", url };
}

/** The configured cloud destinations (none, one or several), validated before any work. */
export function loadDestinations(lookup: SettingLookup, env: NodeJS.ProcessEnv = process.env): Destination[] {
  const s = CLOUD_SETTINGS;
  const prefix = require(s.remotePrefix, lookup);
  const transfer: TransferSettings = {
    ...DEFAULT_TRANSFER,
    partSizeBytes: require(s.uploadPartSizeMb, lookup) * MIB,
    concurrency: require(s.uploadConcurrency, lookup),
    requestTimeoutMs: require(s.networkTimeoutSeconds, lookup) * 1000,
    preflightTimeoutMs: require(s.preflightTimeoutSeconds, lookup) * 1000,
  };
  const destinations: Destination[] = [];
  const s3Bucket = resolve(s.s3Bucket, lookup);
  if (s3Bucket) {
    const endpoint =
      resolve(s.s3Endpoint, lookup) ??
      (() => {
        const fromEnv = firstSet(env, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
        return fromEnv ? parseEndpoint(fromEnv, "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL") : undefined;
      })();
    destinations.push({
      kind: "s3",
      settings: {
        bucket: s3Bucket,
        prefix,
        storageClass: require(s.s3StorageClass, lookup),
        region: resolve(s.s3Region, lookup),
        endpoint,
        // Custom endpoints (MinIO, Ceph) rarely have per-bucket DNS names.
        forcePathStyle: resolve(s.s3ForcePathStyle, lookup) ?? endpoint !== undefined,
        transfer,
      },
    });
  }
  const gcsBucket = resolve(s.gcsBucket, lookup);
  if (gcsBucket) {
    destinations.push({
      kind: "gcs",
      settings: {
        bucket: gcsBucket,
        prefix,
        storageClass: require(s.gcsStorageClass, lookup),
        endpoint:
          resolve(s.gcsEndpoint, lookup) ??
          (() => {
            const host = firstSet(env, "STORAGE_EMULATOR_HOST");
            if (!host) return undefined;
            const url = /^https?:\/\//.test(host) ? host : `http://${host}`;
            return parseEndpoint(url.replace(/\/storage\/v1\/?$/, ""), "STORAGE_EMULATOR_HOST");
          })(),
        projectId: firstSet(env, "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"),
        transfer,
      },
    });
  }
  const azureContainer = resolve(s.azureContainer, lookup);
  if (azureContainer) {
    destinations.push({
      kind: "azure",
      settings: {
        container: azureContainer,
        prefix,
        tier: require(s.azureTier, lookup),
        auth: azureAuth(lookup, env),
        transfer,
      },
    });
  }
  return destinations;
}

/** Cloud secrets found in the environment, for masking before anything is logged. */
export function cloudSecretsIn(env: NodeJS.ProcessEnv): string[] {
  const secrets: string[] = [];
  for (const name of [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
  ]) {
    const v = env[name];
    if (v) secrets.push(v);
  }
  const cs = env.AZURE_STORAGE_CONNECTION_STRING;
  if (cs) {
    for (const part of cs.split(";")) {
      const m = /^(AccountKey|SharedAccessSignature)=(.+)$/i.exec(part.trim());
      if (m?.[2]) secrets.push(m[2]);
    }
  }
  return secrets;
}

/** The cloud settings that reading backups needs (no upload tuning, no storage classes). */
export const CLOUD_READ_SETTINGS = {
  s3Bucket: CLOUD_SETTINGS.s3Bucket,
  s3Region: CLOUD_SETTINGS.s3Region,
  s3Endpoint: CLOUD_SETTINGS.s3Endpoint,
  s3ForcePathStyle: CLOUD_SETTINGS.s3ForcePathStyle,
  gcsBucket: CLOUD_SETTINGS.gcsBucket,
  gcsEndpoint: CLOUD_SETTINGS.gcsEndpoint,
  azureContainer: CLOUD_SETTINGS.azureContainer,
  azureAccount: CLOUD_SETTINGS.azureAccount,
  azureEndpoint: CLOUD_SETTINGS.azureEndpoint,
  remotePrefix: CLOUD_SETTINGS.remotePrefix,
  networkTimeoutSeconds: CLOUD_SETTINGS.networkTimeoutSeconds,
} satisfies Record<string, SettingSpec<unknown>>;

/** Opens the destination behind a backup URI's bucket and key prefix, with the configured endpoints and credentials. */
export type DestinationForUri = (kind: Destination["kind"], bucket: string, keyPrefix: string) => Destination;

/**
 * The configured destinations for reading, and a way to reach any other bucket named by a URI
 * (`s3://other-bucket/path/x.sql.gz`) with the same endpoint and credential settings.
 */
export function loadCloudReading(
  lookup: SettingLookup,
  env: NodeJS.ProcessEnv = process.env,
): { destinations: Destination[]; destinationForUri: DestinationForUri } {
  const s = CLOUD_SETTINGS;
  const bucketSpec = { s3: s.s3Bucket, gcs: s.gcsBucket, azure: s.azureContainer };
  return {
    destinations: loadDestinations(lookup, env),
    destinationForUri: (kind, bucket, keyPrefix) => {
      const source = "the backup URI";
      const override = withNames(namesOf(lookup), (spec) => {
        if (spec.env === bucketSpec[kind].env) return { value: bucket, source };
        if (spec.env === s.remotePrefix.env) return { value: keyPrefix === "" ? "/" : keyPrefix, source };
        if (Object.values(bucketSpec).some((b) => b.env === spec.env)) return undefined;
        return lookup(spec);
      });
      const [destination] = loadDestinations(override, env);
      if (!destination) throw new ConfigError(`Cannot open ${kind}://${bucket}/${keyPrefix}`);
      return destination;
    },
  };
}
