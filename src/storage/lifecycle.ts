import type { BucketLifecycleConfiguration, TransitionStorageClass } from "@aws-sdk/client-s3";

/**
 * Bucket lifecycle policies that go with Lifeline's own retention (runbook: "Configure lifecycle
 * policy"). Lifeline deletes expired backups itself, with its safety rules (the newest valid backup is
 * never deleted, broken ones are reported), so these policies never expire backups: they clean up
 * what a failed upload left and move monthly backups to a colder class.
 */

export interface LifecycleOptions {
  /** Key prefix in the bucket, e.g. `backups/postgres/` (ends in '/' or is empty). */
  readonly keyPrefix: string;
  /** First part of backup names (the database name by default). */
  readonly backupPrefix: string;
  /** Age in days at which monthly backups move to the colder class. */
  readonly transitionDays: number;
  readonly s3Class: string;
  readonly gcsClass: string;
  readonly azureTier: string;
  /** Azure policies name the container in their prefixes. */
  readonly azureContainer: string;
}

/** Backups are far bigger than this; sidecars and manifests far smaller (they must stay readable). */
const SIDECAR_MAX_BYTES = 128 * 1024;

const monthlyPrefix = (o: LifecycleOptions) => `${o.keyPrefix}${o.backupPrefix}_monthly_`;

/** `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://s3-lifecycle.json` */
export function s3Lifecycle(o: LifecycleOptions): BucketLifecycleConfiguration {
  return {
    Rules: [
      {
        ID: "lifeline-abort-incomplete-multipart-uploads",
        Status: "Enabled",
        Filter: { Prefix: o.keyPrefix },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      },
      {
        ID: "lifeline-monthly-to-colder-class",
        Status: "Enabled",
        // Size filter: the .sha256 and .manifest.json beside each backup stay readable at once.
        Filter: { And: { Prefix: monthlyPrefix(o), ObjectSizeGreaterThan: SIDECAR_MAX_BYTES } },
        Transitions: [{ Days: o.transitionDays, StorageClass: o.s3Class as TransitionStorageClass }],
      },
    ],
  };
}

/** `gcloud storage buckets update gs://BUCKET --lifecycle-file=gcs-lifecycle.json` */
export function gcsLifecycle(o: LifecycleOptions) {
  return {
    rule: [
      {
        action: { type: "AbortIncompleteMultipartUpload" },
        condition: { age: 1, matchesPrefix: [o.keyPrefix] },
      },
      {
        action: { type: "SetStorageClass", storageClass: o.gcsClass },
        condition: {
          age: o.transitionDays,
          matchesPrefix: [monthlyPrefix(o)],
          // Data objects only: sidecars end in .sha256, manifests in .json.
          matchesSuffix: [".sql", ".sql.gz", ".sql.zst", ".dump", ".gpg"],
        },
      },
    ],
  };
}

/**
 * `az storage account management-policy create --account-name ACCOUNT --policy @azure-lifecycle.json`.
 * Uncommitted blocks of failed uploads are dropped by Azure itself after 7 days; Azure filters cannot
 * skip small blobs, so the default tier stays online (Cold), never Archive, or sidecars turn unreadable.
 */
export function azureLifecycle(o: LifecycleOptions) {
  const tierAction = `tierTo${o.azureTier}`;
  return {
    rules: [
      {
        enabled: true,
        name: "lifeline-monthly-to-colder-tier",
        type: "Lifecycle",
        definition: {
          actions: { baseBlob: { [tierAction]: { daysAfterModificationGreaterThan: o.transitionDays } } },
          filters: { blobTypes: ["blockBlob"], prefixMatch: [`${o.azureContainer}/${monthlyPrefix(o)}`] },
        },
      },
    ],
  };
}
