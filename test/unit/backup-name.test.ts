import { describe, expect, it } from "vitest";
import { BackupName, formatTimestamp } from "../../src/catalog/backup-name.js";

describe("BackupName", () => {
  it("formats the runbook's names in UTC", () => {
    const at = new Date("2024-10-26T02:00:00Z");
    expect(new BackupName("transcripts", "daily", at, "sql.gz").toString()).toBe(
      "transcripts_daily_20241026_020000.sql.gz",
    );
    expect(new BackupName("transcripts", "weekly", at, "sql.gz", true).toString()).toBe(
      "transcripts_weekly_20241026_020000.sql.gz.gpg",
    );
  });

  it.each([
    "transcripts_daily_20241026_020000.sql.gz",
    "transcripts_weekly_20241020_020000.sql.gz.gpg",
    "transcripts_monthly_20241001_020000.sql.gz",
    "my_app_db_daily_20241001_020000.sql.zst",
    "db_monthly_20240229_235959.dump",
  ])("round-trips %s", (name) => {
    expect(BackupName.parse(name)?.toString()).toBe(name);
  });

  it("reads prefix, tier, time and encryption", () => {
    const n = BackupName.parse("my_app_daily_20241026_020000.sql.gz.gpg")!;
    expect(n.prefix).toBe("my_app");
    expect(n.tier).toBe("daily");
    expect(n.takenAt.toISOString()).toBe("2024-10-26T02:00:00.000Z");
    expect(n.encrypted).toBe(true);
    expect(n.withTier("monthly").toString()).toBe("my_app_monthly_20241026_020000.sql.gz.gpg");
  });

  it.each([
    "transcripts_daily_20241026_020000.sql.gz.sha256",
    "transcripts_daily_20241026_020000.sql.gz.manifest.json",
    ".transcripts_daily_20241026_020000.sql.gz.partial-123-abcd",
    "transcripts_hourly_20241026_020000.sql.gz",
    "transcripts_daily_20240231_020000.sql.gz",
    "transcripts_daily_20241026_250000.sql.gz",
    "transcripts_daily_20241026.sql.gz",
    "latest.sql.gz",
  ])("rejects %s", (name) => {
    expect(BackupName.parse(name)).toBeUndefined();
  });

  it("pads timestamps", () => {
    expect(formatTimestamp(new Date("2025-01-02T03:04:05Z"))).toBe("20250102_030405");
  });
});
