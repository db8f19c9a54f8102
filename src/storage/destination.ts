import type { AzureStoreSettings } from "./azure-store.js";
import type { GcsStoreSettings } from "./gcs-store.js";
import type { S3StoreSettings } from "./s3-store.js";

/** One off-site destination, as configuration describes it: which service, and how to reach it. */
export type Destination =
  | { readonly kind: "s3"; readonly settings: S3StoreSettings }
  | { readonly kind: "gcs"; readonly settings: GcsStoreSettings }
  | { readonly kind: "azure"; readonly settings: AzureStoreSettings };
