import { describe, expect, it } from "vitest";
import { cloudSecretsIn, loadDestinations } from "../../src/config/cloud-config.js";
import { environmentLookup } from "../../src/config/settings.js";

const load = (vars: Record<string, string>) => loadDestinations(environmentLookup(vars), vars);

describe("loadDestinations", () => {
  it("reads the runbook's three variables with their defaults", () => {
    const d = load({
      BACKUP_S3_BUCKET: "my-bucket",
      BACKUP_GCS_BUCKET: "gcs-bucket",
      BACKUP_AZURE_CONTAINER: "backups",
      AZURE_STORAGE_CONNECTION_STRING: "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k==",
    });
    expect(d.map((x) => x.kind)).toEqual(["s3", "gcs", "azure"]);
    const [s3, gcs, azure] = d;
    if (s3?.kind !== "s3" || gcs?.kind !== "gcs" || azure?.kind !== "azure") throw new Error("kinds");
    expect(s3.settings).toMatchObject({
      bucket: "my-bucket",
      prefix: "backups/postgres/",
      storageClass: "STANDARD",
      endpoint: undefined,
      forcePathStyle: false,
    });
    expect(s3.settings.transfer.partSizeBytes).toBe(8 * 1024 * 1024);
    expect(gcs.settings).toMatchObject({ bucket: "gcs-bucket", storageClass: "STANDARD" });
    expect(azure.settings).toMatchObject({ container: "backups", tier: "Hot" });
    expect(azure.settings.auth.kind).toBe("connection-string");
  });

  it("a custom S3 endpoint implies path-style addressing unless told otherwise", () => {
    const [a] = load({ BACKUP_S3_BUCKET: "b-1", AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000/" });
    expect(a?.settings).toMatchObject({ endpoint: "http://127.0.0.1:9000", forcePathStyle: true });
    const [b] = load({
      BACKUP_S3_BUCKET: "b-1",
      AWS_ENDPOINT_URL: "https://r2.example.com",
      BACKUP_S3_FORCE_PATH_STYLE: "false",
    });
    expect(b?.settings).toMatchObject({ endpoint: "https://r2.example.com", forcePathStyle: false });
    const [c] = load({
      BACKUP_S3_BUCKET: "b-1",
      BACKUP_S3_ENDPOINT: "http://minio:9000",
      AWS_ENDPOINT_URL_S3: "http://ignored:1",
    });
    expect(c?.settings).toMatchObject({ endpoint: "http://minio:9000" });
  });

  it("takes storage classes in any case and keeps the provider's spelling", () => {
    const [s3, gcs, azure] = load({
      BACKUP_S3_BUCKET: "b-1",
      BACKUP_S3_STORAGE_CLASS: "glacier",
      BACKUP_GCS_BUCKET: "b-2",
      BACKUP_GCS_STORAGE_CLASS: "nearline",
      BACKUP_AZURE_CONTAINER: "c-1",
      BACKUP_AZURE_TIER: "cool",
      AZURE_STORAGE_ACCOUNT: "acct",
      AZURE_STORAGE_KEY: "a2V5",
    });
    expect(s3?.settings).toMatchObject({ storageClass: "GLACIER" });
    expect(gcs?.settings).toMatchObject({ storageClass: "NEARLINE" });
    expect(azure?.settings).toMatchObject({ tier: "Cool" });
    if (azure?.kind !== "azure") throw new Error("kind");
    expect(azure.settings.auth).toEqual({
      kind: "shared-key",
      account: "acct",
      key: "a2V5",
      url: "https://acct.blob.core.windows.net",
    });
  });

  it.each([
    [{ BACKUP_S3_BUCKET: "s3://b" }, /Invalid BACKUP_S3_BUCKET 's3:\/\/b'.*no s3:\/\/ prefix/],
    [
      { BACKUP_S3_BUCKET: "b-1", BACKUP_S3_STORAGE_CLASS: "COLD" },
      /Invalid BACKUP_S3_STORAGE_CLASS 'COLD'. Expected one of: STANDARD/,
    ],
    [
      { BACKUP_GCS_BUCKET: "b-1", BACKUP_GCS_STORAGE_CLASS: "GLACIER" },
      /Expected one of: STANDARD, NEARLINE, COLDLINE, ARCHIVE/,
    ],
    [
      { BACKUP_S3_BUCKET: "b-1", BACKUP_S3_ENDPOINT: "minio:9000" },
      /Invalid BACKUP_S3_ENDPOINT 'minio:9000'. Expected an http\(s\) URL/,
    ],
    [{ BACKUP_AZURE_CONTAINER: "c-1" }, /no storage account is: set AZURE_STORAGE_CONNECTION_STRING/],
    [{ BACKUP_S3_BUCKET: "b-1", BACKUP_REMOTE_PREFIX: "a/../b" }, /Invalid BACKUP_REMOTE_PREFIX/],
    [
      { BACKUP_S3_BUCKET: "b-1", BACKUP_UPLOAD_PART_SIZE_MB: "4" },
      /Invalid BACKUP_UPLOAD_PART_SIZE_MB '4'. Expected a whole number from 5 to 512/,
    ],
  ])("rejects %o", (vars, message) => {
    expect(() => load(vars as Record<string, string>)).toThrow(message);
  });

  it("normalises the key prefix", () => {
    const prefix = (p: string) => load({ BACKUP_S3_BUCKET: "b-1", BACKUP_REMOTE_PREFIX: p })[0]?.settings;
    expect(prefix("/db/nightly")).toMatchObject({ prefix: "db/nightly/" });
    expect(prefix("postgres/")).toMatchObject({ prefix: "postgres/" });
  });
});

describe("cloudSecretsIn", () => {
  it("finds keys, tokens and the secret parts of a connection string", () => {
    expect(
      cloudSecretsIn({
        AWS_SECRET_ACCESS_KEY: "aws-secret",
        AWS_SESSION_TOKEN: "aws-token",
        AZURE_STORAGE_CONNECTION_STRING:
          "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vd==;BlobEndpoint=http://x",
        AZURE_STORAGE_SAS_TOKEN: "sv=2024&sig=abc",
      }).sort(),
    ).toEqual(["Eby8vd==", "aws-secret", "aws-token", "sv=2024&sig=abc"]);
  });
});

describe("STORAGE_EMULATOR_HOST", () => {
  it.each([
    ["localhost:4443", "http://localhost:4443"],
    ["http://localhost:4443/storage/v1", "http://localhost:4443"],
    ["https://gcs.test/storage/v1/", "https://gcs.test"],
  ])("%s → endpoint %s (BACKUP_GCS_ENDPOINT wins over it)", (host, endpoint) => {
    expect(load({ BACKUP_GCS_BUCKET: "b-1", STORAGE_EMULATOR_HOST: host })[0]?.settings).toMatchObject({
      endpoint,
    });
    expect(
      load({ BACKUP_GCS_BUCKET: "b-1", STORAGE_EMULATOR_HOST: host, BACKUP_GCS_ENDPOINT: "http://x:1" })[0]
        ?.settings,
    ).toMatchObject({ endpoint: "http://x:1" });
  });
});

describe("S3 part size", () => {
  it("stays as configured for small backups and grows so that twice the expected size fits in 10,000 parts", async () => {
    const { partSizeFor } = await import("../../src/storage/s3-store.js");
    const MiB = 1024 * 1024;
    expect(partSizeFor(8 * MiB, undefined)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB, 2 * 1024 * MiB)).toBe(8 * MiB);
    // 100 GiB expected: 200 GiB / 10,000 = 20.5 MiB → 21 MiB parts; 10,000 × 21 MiB ≥ 200 GiB.
    const size = partSizeFor(8 * MiB, 100 * 1024 * MiB);
    expect(size).toBe(21 * MiB);
    expect(size * 10_000).toBeGreaterThanOrEqual(200 * 1024 * MiB);
  });
});
