import { describe, expect, it } from "vitest";
import { BackupName, type Tier } from "../../src/backup/backup-name.js";
import { boundCatchUp, type LocalBackupFile, missingAt } from "../../src/backup/catch-up-plan.js";
import { type RemoteHoldings, tiersDueAt } from "../../src/backup/remote-holdings.js";
import type { PromotionSchedule } from "../../src/retention/calendar.js";
import type { RetentionPolicy, StoredBackup } from "../../src/retention/plan.js";

const POLICY: RetentionPolicy = { daily: 7, weekly: 4, monthly: 12 };
const SCHEDULE: PromotionSchedule = { weeklyDay: 0, monthlyDay: 1 };
const MIB = 1024 * 1024;

function stored(tier: Tier, iso: string, valid = true): StoredBackup {
  const name = new BackupName("ledger", tier, new Date(iso), "sql.gz");
  return { fileName: name.toString(), name, valid, companions: [] };
}

function local(tier: Tier, iso: string, sizeBytes = MIB): LocalBackupFile {
  const backup = stored(tier, iso);
  return { tier, backup, file: `/backups/${tier}/${backup.fileName}`, sizeBytes };
}

function holdings(backups: StoredBackup[], extraNames: string[] = []): RemoteHoldings {
  const byTier: Record<Tier, StoredBackup[]> = { daily: [], weekly: [], monthly: [] };
  for (const b of backups) byTier[b.name.tier].push(b);
  return { names: new Set([...backups.map((b) => b.fileName), ...extraNames]), backups: byTier };
}

const names = (files: readonly LocalBackupFile[]) => files.map((f) => f.backup.fileName);

describe("tiers due at a destination", () => {
  it("are judged from what the destination holds, not from BACKUP_DIR", () => {
    const monday = new Date("2026-11-16T02:00:00Z");
    // BACKUP_DIR has Sunday's weekly (nothing due locally); the bucket has only last week's.
    const bucket = holdings([
      stored("weekly", "2026-11-08T02:00:00Z"),
      stored("monthly", "2026-11-01T02:00:00Z"),
    ]);
    expect(tiersDueAt(bucket, [], monday, SCHEDULE)).toEqual(["weekly"]);
    // A broken weekly (no sidecar) of this week does not count there either.
    const broken = holdings([
      stored("weekly", "2026-11-15T02:00:00Z", false),
      stored("monthly", "2026-11-01T02:00:00Z"),
    ]);
    expect(tiersDueAt(broken, [], monday, SCHEDULE)).toEqual(["weekly"]);
    // Without a listing, BACKUP_DIR's judgement stands.
    expect(tiersDueAt(undefined, ["monthly"], monday, SCHEDULE)).toEqual(["monthly"]);
  });
});

describe("missingAt", () => {
  const now = new Date("2026-11-16T02:05:00Z"); // Monday
  const dir = [
    local("daily", "2026-11-16T02:00:00Z"),
    local("daily", "2026-11-15T02:00:00Z"),
    local("weekly", "2026-11-15T02:00:00Z"),
    local("daily", "2026-11-14T02:00:00Z"),
    local("daily", "2026-11-09T02:00:00Z"), // 7 days old: beyond BACKUP_RETENTION_DAILY
    local("weekly", "2026-11-08T02:00:00Z"),
    local("weekly", "2026-10-11T02:00:00Z"), // 5 weeks back: beyond BACKUP_RETENTION_WEEKLY
    local("monthly", "2026-11-01T02:00:00Z"),
    local("daily", "2026-12-01T02:00:00Z"), // dated in the future: left alone
  ];

  it("lists what retention keeps and the destination lacks, newest first, one weekly/monthly per period", () => {
    const bucket = holdings([
      stored("daily", "2026-11-16T02:00:00Z"),
      stored("weekly", "2026-11-16T02:00:00Z"), // today's copy, uploaded as weekly: the week is covered
      stored("daily", "2026-11-14T02:00:00Z"),
    ]);
    expect(names(missingAt(dir, bucket, POLICY, SCHEDULE, now))).toEqual([
      "ledger_daily_20261115_020000.sql.gz",
      "ledger_weekly_20261108_020000.sql.gz",
      "ledger_monthly_20261101_020000.sql.gz",
    ]);
  });

  it("skips a name the destination already has in any form (uploads never overwrite)", () => {
    const bucket = holdings(
      [stored("weekly", "2026-11-16T02:00:00Z")],
      [
        "ledger_daily_20261115_020000.sql.gz", // data without a sidecar
        "ledger_daily_20261114_020000.sql.gz",
        "ledger_daily_20261116_020000.sql.gz",
      ],
    );
    expect(names(missingAt(dir, bucket, POLICY, SCHEDULE, now))).toEqual([
      "ledger_weekly_20261108_020000.sql.gz",
      "ledger_monthly_20261101_020000.sql.gz",
    ]);
  });

  it("an empty bucket is seeded with this week's weekly from BACKUP_DIR when no upload covered it", () => {
    expect(names(missingAt(dir, holdings([]), POLICY, SCHEDULE, now))).toEqual([
      "ledger_daily_20261116_020000.sql.gz",
      // The same moment's weekly before its daily: it is kept longer.
      "ledger_weekly_20261115_020000.sql.gz",
      "ledger_daily_20261115_020000.sql.gz",
      "ledger_daily_20261114_020000.sql.gz",
      "ledger_weekly_20261108_020000.sql.gz",
      "ledger_monthly_20261101_020000.sql.gz",
    ]);
  });
});

describe("boundCatchUp", () => {
  const missing = [
    local("daily", "2026-11-15T02:00:00Z", 3 * MIB),
    local("daily", "2026-11-14T02:00:00Z", 50 * MIB),
    local("daily", "2026-11-13T02:00:00Z", 2 * MIB),
    local("daily", "2026-11-12T02:00:00Z", 1 * MIB),
  ];

  it("takes the newest up to the file count", () => {
    const { take, left } = boundCatchUp(missing, { maxFiles: 2, maxBytes: undefined });
    expect(names(take)).toEqual(names(missing.slice(0, 2)));
    expect(names(left)).toEqual(names(missing.slice(2)));
  });

  it("stops at the first that does not fit the byte bound, and sets aside one that never could", () => {
    // 10 MiB: 3 fits; 50 could never fit (set aside); 2 fits (5); 1 fits (6).
    const roomy = boundCatchUp(missing, { maxFiles: 10, maxBytes: 10 * MIB });
    expect(names(roomy.take)).toEqual(names([missing[0]!, missing[2]!, missing[3]!]));
    expect(names(roomy.tooLarge)).toEqual(names([missing[1]!]));
    // 4 MiB: 3 fits, 2 would exceed it: it and every older one wait for the next run.
    const tight = boundCatchUp(missing, { maxFiles: 10, maxBytes: 4 * MIB });
    expect(names(tight.take)).toEqual(names([missing[0]!]));
    expect(names(tight.left)).toEqual(names([missing[2]!, missing[3]!]));
    expect(tight.take.reduce((n, f) => n + f.sizeBytes, 0)).toBeLessThanOrEqual(4 * MIB);
  });
});
