import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { catchUpCell } from "../../src/backup/backup-db-summary.js";
import { makeUpMissing } from "../../src/backup/catch-up.js";
import {
  boundCatchUp,
  type LocalBackupFile,
  listLocalBackupFiles,
  missingAt,
} from "../../src/backup/catch-up-plan.js";
import type { OffsiteReport } from "../../src/backup/offsite.js";
import {
  type HoldingsScope,
  type RemoteHoldings,
  readHoldingsOf,
  readRemoteHoldings,
  tiersDueAt,
} from "../../src/backup/remote-holdings.js";
import { BackupName, type Tier } from "../../src/catalog/backup-name.js";
import { type BackupManifest, checksumLine } from "../../src/catalog/manifest.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import type { PromotionSchedule } from "../../src/retention/calendar.js";
import type { RetentionPolicy, StoredBackup } from "../../src/retention/plan.js";
import { LocalStore } from "../../src/storage/local-store.js";
import type { BackupStore } from "../../src/storage/store.js";
import { capturingLogger, useTempDirs } from "../support/fixtures.js";

const POLICY: RetentionPolicy = { daily: 7, weekly: 4, monthly: 12 };
const SCHEDULE: PromotionSchedule = { weeklyDay: 0, monthlyDay: 1 };
const MIB = 1024 * 1024;

function stored(tier: Tier, iso: string, valid = true, encrypted = false): StoredBackup {
  const name = new BackupName("ledger", tier, new Date(iso), "sql.gz", encrypted);
  return { fileName: name.toString(), name, valid, companions: [] };
}

/** A local backup; `encryptedTo` is the fingerprint its manifest records (null: not encrypted; undefined: no manifest). */
function local(tier: Tier, iso: string, sizeBytes = MIB, encryptedTo: string | null = null): LocalBackupFile {
  const backup = stored(tier, iso, true, encryptedTo !== null);
  const manifest = {
    sha256: "0".repeat(64),
    sizeBytes,
    encryption: encryptedTo === null ? null : { method: "gpg", recipient: "ops", fingerprint: encryptedTo },
  } as unknown as BackupManifest;
  return { tier, backup, file: `/backups/${tier}/${backup.fileName}`, sizeBytes, manifest };
}

/** A destination holding these complete backups (data and sidecar), plus other object names. */
function holdings(backups: StoredBackup[], extraNames: string[] = []): RemoteHoldings {
  const byTier: Record<Tier, StoredBackup[]> = { daily: [], weekly: [], monthly: [] };
  for (const b of backups) byTier[b.name.tier].push(b);
  return {
    names: new Set([...backups.flatMap((b) => [b.fileName, `${b.fileName}.sha256`]), ...extraNames]),
    backups: byTier,
  };
}

const names = (files: readonly LocalBackupFile[]) => files.map((f) => f.backup.fileName);
const missing = (...args: Parameters<typeof missingAt>) => names(missingAt(...args).missing);

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
    expect(missing(dir, bucket, POLICY, SCHEDULE, now, undefined)).toEqual([
      "ledger_daily_20261115_020000.sql.gz",
      "ledger_weekly_20261108_020000.sql.gz",
      "ledger_monthly_20261101_020000.sql.gz",
    ]);
  });

  it("sets aside, naming the leftover, a backup of which the destination has a part: data, sidecar or manifest alone", () => {
    const bucket = holdings(
      [
        stored("weekly", "2026-11-16T02:00:00Z"),
        stored("daily", "2026-11-16T02:00:00Z"),
        stored("daily", "2026-11-14T02:00:00Z"),
      ],
      [
        "ledger_daily_20261115_020000.sql.gz", // data without its sidecar
        "ledger_weekly_20261108_020000.sql.gz.sha256", // a sidecar without its data
        "ledger_monthly_20261101_020000.sql.gz.manifest.json", // a manifest without its data
      ],
    );
    const plan = missingAt(dir, bucket, POLICY, SCHEDULE, now, undefined);
    expect(names(plan.missing)).toEqual([]);
    expect(plan.skipped.map((s) => [s.file.backup.fileName, s.leftover])).toEqual([
      ["ledger_daily_20261115_020000.sql.gz", "ledger_daily_20261115_020000.sql.gz"],
      ["ledger_weekly_20261108_020000.sql.gz", "ledger_weekly_20261108_020000.sql.gz.sha256"],
      ["ledger_monthly_20261101_020000.sql.gz", "ledger_monthly_20261101_020000.sql.gz.manifest.json"],
    ]);
  });

  it("an older weekly of a period stands in for the newest when a leftover blocks that one", () => {
    const twoThisWeek = [local("weekly", "2026-11-10T02:00:00Z"), local("weekly", "2026-11-09T02:00:00Z")];
    const plan = missingAt(
      twoThisWeek,
      holdings([], ["ledger_weekly_20261110_020000.sql.gz.sha256"]),
      POLICY,
      SCHEDULE,
      now,
      undefined,
    );
    expect(names(plan.missing)).toEqual(["ledger_weekly_20261109_020000.sql.gz"]);
    expect(names(plan.skipped.map((s) => s.file))).toEqual(["ledger_weekly_20261110_020000.sql.gz"]);
  });

  it("when the run encrypts, only backups encrypted to its key go off site; the others are set aside", () => {
    const KEY = "A".repeat(40);
    const mixed = [
      local("daily", "2026-11-15T02:00:00Z", MIB, KEY.toLowerCase()),
      local("daily", "2026-11-14T02:00:00Z", MIB, "B".repeat(40)), // the key before a rotation
      local("daily", "2026-11-13T02:00:00Z"), // taken before encryption was turned on
      { ...local("daily", "2026-11-12T02:00:00Z", MIB, KEY), manifest: undefined }, // key unknown
    ];
    const encrypting = missingAt(mixed, holdings([]), POLICY, SCHEDULE, now, KEY);
    expect(names(encrypting.missing)).toEqual(["ledger_daily_20261115_020000.sql.gz.gpg"]);
    expect(encrypting.skipped.map((s) => [s.file.backup.fileName, s.leftover])).toEqual([
      ["ledger_daily_20261114_020000.sql.gz.gpg", undefined],
      ["ledger_daily_20261113_020000.sql.gz", undefined],
      ["ledger_daily_20261112_020000.sql.gz.gpg", undefined],
    ]);
    // A run that does not encrypt makes up any valid backup, encrypted or not.
    expect(missing(mixed, holdings([]), POLICY, SCHEDULE, now, undefined)).toEqual(names(mixed));
  });

  it("an empty bucket is seeded with this week's weekly from BACKUP_DIR when no upload covered it", () => {
    expect(missing(dir, holdings([]), POLICY, SCHEDULE, now, undefined)).toEqual([
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

describe("the catch-up bound", () => {
  const limits = (vars: Record<string, string>) => {
    const env = { DATABASE_URL: "postgresql://backup@db.internal/ledger", BACKUP_DIR: "/backups", ...vars };
    return loadBackupDbConfig(environmentLookup(env), env).catchUp;
  };

  it("bounds bytes by default (10 GiB per destination and run), unbounded only when asked with 0", () => {
    expect(limits({})).toEqual({ maxFiles: 10, maxBytes: 10240 * MIB });
    expect(limits({ BACKUP_CATCHUP_MAX_MB: "0" })).toEqual({ maxFiles: 10, maxBytes: undefined });
    expect(limits({ BACKUP_CATCHUP_MAX_MB: "512" }).maxBytes).toBe(512 * MIB);
  });
});

describe("what a destination holds, read before the dump", () => {
  const tempDir = useTempDirs();
  const now = new Date("2026-11-16T02:00:00Z"); // Monday
  const scope: HoldingsScope = { policy: POLICY, schedule: SCHEDULE, now };

  /** A real directory destination with 40 dailies, 8 weeklies (4 beyond retention) and 2 monthlies. */
  async function bucket(): Promise<{ store: LocalStore; reads: string[]; counting: BackupStore }> {
    const dir = await tempDir("holdings");
    const put = async (tier: Tier, at: Date) => {
      const name = new BackupName("ledger", tier, at, "sql.gz").toString();
      await writeFile(path.join(dir, name), "data");
      await writeFile(path.join(dir, `${name}.sha256`), checksumLine("0".repeat(64), name));
    };
    for (let d = 0; d < 40; d++) await put("daily", new Date(now.getTime() - d * 86_400_000));
    for (let w = 0; w < 8; w++) await put("weekly", new Date(Date.UTC(2026, 10, 15 - 7 * w, 2)));
    await put("monthly", new Date("2026-11-01T02:00:00Z"));
    await put("monthly", new Date("2025-01-01T02:00:00Z")); // beyond 12 months
    const store = new LocalStore(dir);
    const reads: string[] = [];
    const counting = new Proxy(store, {
      get(target, prop) {
        if (prop === "getText") {
          return (name: string) => {
            reads.push(name);
            return target.getText(name);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return { store, reads, counting };
  }

  it("reads the sidecars of the weekly/monthly backups the decisions need, not of every backup", async () => {
    const { reads, counting } = await bucket();
    const held = await readRemoteHoldings(counting, "ledger", scope);
    expect(held.names.size).toBe(2 * (40 + 8 + 2));
    expect(held.backups.weekly.map((b) => b.fileName).sort()).toEqual([
      "ledger_weekly_20261025_020000.sql.gz",
      "ledger_weekly_20261101_020000.sql.gz",
      "ledger_weekly_20261108_020000.sql.gz",
      "ledger_weekly_20261115_020000.sql.gz",
    ]);
    expect(held.backups.weekly.every((b) => b.valid)).toBe(true);
    expect(held.backups.monthly.map((b) => b.fileName)).toEqual(["ledger_monthly_20261101_020000.sql.gz"]);
    expect(held.backups.daily).toEqual([]);
    expect(reads).toHaveLength(5);
    expect(reads.every((n) => !n.includes("_daily_"))).toBe(true);
  });

  it("gives up on a destination that does not answer within the deadline, or when the run is cancelled", async () => {
    const { store } = await bucket();
    const hanging = new Proxy(store, {
      get(target, prop) {
        if (prop === "getText") return () => new Promise<never>(() => {});
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const { logger, lines } = capturingLogger();
    const started = Date.now();
    const late = await readHoldingsOf([hanging], "ledger", logger, { ...scope, deadlineMs: 300 });
    expect(late.get(hanging)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(lines.join("\n")).toContain(
      `Could not list what ${store.location} holds (it did not answer within 0.3 s)`,
    );

    const cancel = new AbortController();
    setTimeout(() => cancel.abort(new Error("SIGTERM")), 100);
    const cancelled = await readHoldingsOf([hanging], "ledger", logger, { ...scope, signal: cancel.signal });
    expect(cancelled.get(hanging)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(6_000);
  }, 10_000);
});

describe("how a catch-up that did not finish is reported", () => {
  const tempDir = useTempDirs();
  const report = (store: BackupStore): OffsiteReport => ({
    kind: store.kind,
    location: store.location,
    uris: [store.uri("ledger_daily_20261116_020000.sql.gz")],
    ok: true,
    bytes: 4,
    seconds: 0.1,
  });

  it("what a failure left is not blamed on the bound", () => {
    const base = { location: "s3://b/p/", kind: "s3", uris: [], ok: false, bytes: 0, seconds: 0 } as const;
    const catchUp = { uris: [], bytes: 0, seconds: 0, tooLarge: [], skipped: [], error: "s3 said no" };
    const failed = catchUpCell({
      ...base,
      catchUp: { ...catchUp, left: [], notTried: ["ledger_daily_20261115_020000.sql.gz"] },
    });
    expect(failed).toContain("1 not made up because of the failure, retried by the next run");
    expect(failed).not.toContain("BACKUP_CATCHUP_MAX_FILES");
    const bounded = catchUpCell({
      ...base,
      catchUp: { ...catchUp, left: ["ledger_daily_20261115_020000.sql.gz"], notTried: [] },
    });
    expect(bounded).toContain("1 left for the next runs (BACKUP_CATCHUP_MAX_FILES / _MB)");
  });

  it("BACKUP_DIR that cannot be listed fails each destination's catch-up, not only the log", async () => {
    const dir = await tempDir("unlistable");
    const store = new LocalStore(dir);
    const notADirectory = path.join(dir, "a-file");
    await writeFile(notADirectory, "x");
    const { logger } = capturingLogger();
    const held: RemoteHoldings = { names: new Set(), backups: { daily: [], weekly: [], monthly: [] } };
    const [out] = await makeUpMissing([report(store)], new Map([[store, held]]), {
      backupDir: notADirectory,
      prefix: "ledger",
      policy: POLICY,
      schedule: SCHEDULE,
      now: new Date("2026-11-16T02:05:00Z"),
      limits: { maxFiles: 10, maxBytes: undefined },
      encryptTo: undefined,
      stallTimeoutMs: 1_000,
      logger,
    });
    expect(out).toMatchObject({ ok: false, stage: "catch-up" });
    expect(out?.error).toMatch(/^catch-up: .*nothing missing was made up this run/);
    expect(out?.catchUp?.error).toBeDefined();
  });
});

describe("files of BACKUP_DIR that catch-up reads", () => {
  const tempDir = useTempDirs();

  it("a FIFO as a valid backup's manifest is named, never opened (it would wait for a writer forever)", async () => {
    const backupDir = await tempDir("catchup-fifo");
    const daily = path.join(backupDir, "daily");
    await mkdir(daily, { recursive: true });
    const name = new BackupName("app", "daily", new Date("2024-11-04T02:00:00Z"), "sql.gz", false).toString();
    await writeFile(path.join(daily, name), "data");
    await writeFile(path.join(daily, `${name}.sha256`), checksumLine("a".repeat(64), name));
    const manifest = path.join(daily, `${name}.manifest.json`);
    execFileSync("mkfifo", [manifest]);
    try {
      const listed = await Promise.race([
        listLocalBackupFiles(backupDir, "app"),
        sleep(5_000).then(() => "still waiting after 5 s" as const),
      ]);
      expect(listed).not.toBe("still waiting after 5 s");
      const [entry] = listed as Awaited<ReturnType<typeof listLocalBackupFiles>>;
      expect(entry?.manifest).toBeUndefined();
      expect(entry?.manifestProblem).toMatch(/is a FIFO \(named pipe\), not a regular file/);
    } finally {
      // Release a reader the old code left blocked on the FIFO, so the worker can exit.
      try {
        closeSync(openSync(manifest, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {}
    }
  });
});
