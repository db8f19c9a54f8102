import { describe, expect, it } from "vitest";
import {
  azureLifecycle,
  gcsLifecycle,
  type LifecycleOptions,
  s3Lifecycle,
} from "../../src/storage/lifecycle.js";

const options: LifecycleOptions = {
  keyPrefix: "backups/postgres/",
  backupPrefix: "transcripts",
  transitionDays: 30,
  s3Class: "GLACIER_IR",
  gcsClass: "COLDLINE",
  azureTier: "Cold",
  azureContainer: "backups",
};

describe("lifecycle policies", () => {
  it("S3: aborts incomplete multipart uploads under the prefix, moves monthly data (not sidecars) colder, expires nothing", () => {
    const policy = s3Lifecycle(options);
    expect(policy.Rules).toHaveLength(2);
    const [abort, monthly] = policy.Rules ?? [];
    expect(abort).toMatchObject({
      Status: "Enabled",
      Filter: { Prefix: "backups/postgres/" },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    });
    expect(monthly?.Filter?.And?.Prefix).toBe("backups/postgres/transcripts_monthly_");
    // Sidecars are ~100 bytes and manifests a few KiB: both below the size floor, so they stay readable.
    expect(monthly?.Filter?.And?.ObjectSizeGreaterThan).toBeGreaterThan(64 * 1024);
    expect(monthly?.Transitions).toEqual([{ Days: 30, StorageClass: "GLACIER_IR" }]);
    expect(JSON.stringify(policy)).not.toContain("Expiration");
  });

  it("GCS: the same intent with matchesPrefix and data suffixes only", () => {
    const [abort, monthly] = gcsLifecycle(options).rule;
    expect(abort).toEqual({
      action: { type: "AbortIncompleteMultipartUpload" },
      condition: { age: 1, matchesPrefix: ["backups/postgres/"] },
    });
    expect(monthly?.action).toEqual({ type: "SetStorageClass", storageClass: "COLDLINE" });
    expect(monthly?.condition.matchesPrefix).toEqual(["backups/postgres/transcripts_monthly_"]);
    expect(monthly?.condition.matchesSuffix).not.toContain(".sha256");
    expect(monthly?.condition.matchesSuffix).toEqual(
      expect.arrayContaining([".sql.gz", ".sql.zst", ".gpg", ".dump"]),
    );
  });

  it("Azure: a management policy whose prefix includes the container, to an online tier", () => {
    const [rule] = azureLifecycle(options).rules;
    expect(rule?.definition.filters.prefixMatch).toEqual(["backups/backups/postgres/transcripts_monthly_"]);
    expect(rule?.definition.actions.baseBlob).toEqual({
      tierToCold: { daysAfterModificationGreaterThan: 30 },
    });
  });
});
