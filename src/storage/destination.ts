import type { AzureStoreSettings } from "./azure-store.js";
import type { GcsStoreSettings } from "./gcs-store.js";
import type { S3StoreSettings } from "./s3-store.js";

/** One off-site destination, as configuration describes it: which service, and how to reach it. */
export type Destination =
  | { readonly kind: "s3"; readonly settings: S3StoreSettings }
  | { readonly kind: "gcs"; readonly settings: GcsStoreSettings }
  | { readonly kind: "azure"; readonly settings: AzureStoreSettings };

/** The same destination with another key prefix (e.g. media's `backups/media/data/` beside its database backups). */
export function withPrefix(destination: Destination, prefix: string): Destination {
  switch (destination.kind) {
    case "s3":
      return { kind: "s3", settings: { ...destination.settings, prefix } };
    case "gcs":
      return { kind: "gcs", settings: { ...destination.settings, prefix } };
    case "azure":
      return { kind: "azure", settings: { ...destination.settings, prefix } };
  }
}
