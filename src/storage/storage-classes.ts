/** Storage classes / access tiers each provider accepts (kept apart so config does not load the SDKs). */
export const S3_STORAGE_CLASSES = [
  "STANDARD",
  "REDUCED_REDUNDANCY",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "GLACIER_IR",
  "GLACIER",
  "DEEP_ARCHIVE",
] as const;
export type S3StorageClass = (typeof S3_STORAGE_CLASSES)[number];

export const GCS_STORAGE_CLASSES = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"] as const;
export type GcsStorageClass = (typeof GCS_STORAGE_CLASSES)[number];

export const AZURE_TIERS = ["Hot", "Cool", "Cold", "Archive"] as const;
export type AzureTier = (typeof AZURE_TIERS)[number];
