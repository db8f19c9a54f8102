import { createHash } from "node:crypto";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isTierDue, PROMOTED_TIERS, type PromotionSchedule } from "../../src/backup/tiers.js";
import { BackupName, type Tier } from "../../src/catalog/backup-name.js";
import { applyLocalRetention, applyRemoteRetention } from "../../src/retention/apply.js";
import { monthPeriodStart, weekPeriodStart } from "../../src/retention/calendar.js";
import { planRetention, type RetentionPolicy, type StoredBackup } from "../../src/retention/plan.js";
import { LocalStore } from "../../src/storage/local-store.js";
import { capturingLogger, useTempDirs } from "../support/fixtures.js";

const tempDir = useTempDirs();

const POLICY: RetentionPolicy = { daily: 7, weekly: 4, monthly: 12 };
const SCHEDULE: PromotionSchedule = { weeklyDay: 0, monthlyDay: 1 };

function backup(tier: Tier, iso: string, valid = true, problem?: string): StoredBackup {
  const name = new BackupName("transcripts", tier, new Date(iso), "sql.gz");
  return {
    fileName: name.toString(),
    name,
    valid,
    companions: [`${name}.sha256`],
    ...(problem ? { problem } : {}),
  };
}

const actions = (tier: Tier, backups: StoredBackup[], now: string, policy = POLICY) =>
  Object.fromEntries(
    planRetention(tier, backups, policy, new Date(now), SCHEDULE).decisions.map((d) => [
      d.backup.fileName,
      d.action,
    ]),
  );

describe("planRetention", () => {
  it("keeps daily backups of the last 7 UTC calendar days, whatever the time of day", () => {
    const backups = [
      backup("daily", "2024-10-26T02:00:00Z"),
      backup("daily", "2024-10-20T23:59:59Z"),
      backup("daily", "2024-10-19T00:00:00Z"),
      backup("daily", "2024-10-19T23:59:59Z"),
    ];
    expect(actions("daily", backups, "2024-10-26T02:00:30Z")).toEqual({
      "transcripts_daily_20241026_020000.sql.gz": "keep",
      "transcripts_daily_20241020_235959.sql.gz": "keep",
      "transcripts_daily_20241019_235959.sql.gz": "delete",
      "transcripts_daily_20241019_000000.sql.gz": "delete",
    });
  });

  it("never deletes the newest valid backup, however old", () => {
    const backups = [backup("daily", "2023-01-01T02:00:00Z"), backup("daily", "2022-12-31T02:00:00Z")];
    expect(actions("daily", backups, "2024-10-26T02:00:00Z")).toEqual({
      "transcripts_daily_20230101_020000.sql.gz": "keep",
      "transcripts_daily_20221231_020000.sql.gz": "delete",
    });
  });

  it("does not count a broken backup as the newest: the newest valid one is kept instead, the broken one left in place", () => {
    const backups = [
      backup("daily", "2024-10-26T02:00:00Z", false, "no .sha256 sidecar"),
      backup("daily", "2024-01-01T02:00:00Z"),
      backup("daily", "2023-01-01T02:00:00Z"),
    ];
    const plan = planRetention("daily", backups, POLICY, new Date("2024-10-27T02:00:00Z"), SCHEDULE);
    expect(plan.decisions.map((d) => [d.backup.fileName, d.action, d.reason])).toEqual([
      [
        "transcripts_daily_20241026_020000.sql.gz",
        "report",
        "does not count as a backup (no .sha256 sidecar); left in place",
      ],
      ["transcripts_daily_20240101_020000.sql.gz", "keep", "newest valid daily backup; always kept"],
      ["transcripts_daily_20230101_020000.sql.gz", "delete", "665 day(s) old, beyond 7"],
    ]);
  });

  it("keeps backups dated in the future (clock skew) and does not treat them as the newest", () => {
    const backups = [backup("daily", "2030-01-01T00:00:00Z"), backup("daily", "2024-01-01T02:00:00Z")];
    expect(actions("daily", backups, "2024-10-26T02:00:00Z")).toEqual({
      "transcripts_daily_20300101_000000.sql.gz": "keep",
      "transcripts_daily_20240101_020000.sql.gz": "keep",
    });
  });

  it("counts weeks from Sunday and months from the 1st by default", () => {
    const weekly = [28, 21, 14, 7, 0].map((d) =>
      backup("weekly", new Date(Date.UTC(2024, 9, 27 - d, 2)).toISOString()),
    );
    expect(Object.values(actions("weekly", weekly, "2024-10-27T03:00:00Z"))).toEqual([
      "keep",
      "keep",
      "keep",
      "keep",
      "delete",
    ]);
    const monthly = ["2024-10-01", "2023-11-01", "2023-10-01"].map((d) =>
      backup("monthly", `${d}T02:00:00Z`),
    );
    expect(Object.values(actions("monthly", monthly, "2024-10-31T23:00:00Z"))).toEqual([
      "keep",
      "keep",
      "delete",
    ]);
  });

  it("ages a catch-up weekly by the week it stands for: keeping 4 weeks keeps exactly 4 weeklies", () => {
    // Sunday 2024-09-29's run failed; Tuesday 2024-10-01's was promoted instead (the same week).
    const weekly = ["2024-10-27", "2024-10-20", "2024-10-13", "2024-10-06", "2024-10-01"].map((d) =>
      backup("weekly", `${d}T02:00:00Z`),
    );
    for (const now of ["2024-10-27T03:00:00Z", "2024-10-28T03:00:00Z", "2024-11-02T23:59:59Z"]) {
      const plan = actions("weekly", weekly, now);
      expect(Object.values(plan).filter((a) => a === "keep")).toHaveLength(POLICY.weekly);
      expect(plan["transcripts_weekly_20241001_020000.sql.gz"]).toBe("delete");
    }
    const reasons = planRetention(
      "weekly",
      weekly,
      POLICY,
      new Date("2024-10-28T03:00:00Z"),
      SCHEDULE,
    ).decisions;
    expect(reasons.at(-1)?.reason).toBe("4 week(s) old, beyond 4");
  });

  it("counts weeks from the configured weekly day and months from the configured monthly day", () => {
    // Weekly day Wednesday: a weekly taken on Saturday 2024-10-05 stands for the week of Wednesday 10-02.
    const wednesday = { weeklyDay: 3, monthlyDay: 15 };
    const weekly = ["2024-10-30", "2024-10-23", "2024-10-16", "2024-10-09", "2024-10-05"].map((d) =>
      backup("weekly", `${d}T02:00:00Z`),
    );
    const weeklyPlan = planRetention("weekly", weekly, POLICY, new Date("2024-10-31T03:00:00Z"), wednesday);
    expect(weeklyPlan.decisions.map((d) => d.action)).toEqual(["keep", "keep", "keep", "keep", "delete"]);
    // Monthly day 15: a monthly caught up on 2024-08-02 stands for the period from July 15, not August.
    const monthly = ["2024-10-15", "2024-09-15", "2024-08-15", "2024-08-02"].map((d) =>
      backup("monthly", `${d}T02:00:00Z`),
    );
    const monthlyPlan = planRetention(
      "monthly",
      monthly,
      { ...POLICY, monthly: 3 },
      new Date("2024-10-15T03:00:00Z"),
      wednesday,
    );
    expect(monthlyPlan.decisions.map((d) => [d.action, d.reason])).toEqual([
      ["keep", "newest valid monthly backup; always kept"],
      ["keep", "1 month(s) old, within 3"],
      ["keep", "2 month(s) old, within 3"],
      ["delete", "3 month(s) old, beyond 3"],
    ]);
  });

  it("handles an empty tier", () => {
    expect(planRetention("weekly", [], POLICY, new Date(), SCHEDULE).decisions).toEqual([]);
  });
});

describe("retention of a catch-up weekly, in BACKUP_DIR and in a bucket", () => {
  it("keeps exactly BACKUP_RETENTION_WEEKLY weeklies in both, deleting the catch-up weekly of the oldest week", async () => {
    // Sunday 2024-09-29's run failed; Tuesday 2024-10-01's was promoted instead.
    const days = ["2024-10-27", "2024-10-20", "2024-10-13", "2024-10-06", "2024-10-01"];
    const names = days.map((d) => new BackupName("transcripts", "weekly", new Date(`${d}T02:00:00Z`), "sql"));
    const backupDir = await tempDir("retention-local");
    const bucketDir = await tempDir("retention-bucket");
    for (const dir of [path.join(backupDir, "weekly"), bucketDir]) {
      await mkdir(dir, { recursive: true });
      for (const name of names) {
        const body = `-- ${name}\n`;
        await writeFile(path.join(dir, name.toString()), body);
        const sha = createHash("sha256").update(body).digest("hex");
        await writeFile(path.join(dir, `${name}.sha256`), `${sha}  ${name}\n`);
      }
    }
    const now = new Date("2024-10-28T03:00:00Z"); // a Monday: the oldest week is 4 weeks back
    const options = {
      dryRun: false,
      logger: capturingLogger().logger,
      tiers: ["weekly"] as const,
      schedule: SCHEDULE,
    };
    await applyLocalRetention(backupDir, "transcripts", POLICY, now, options);
    await applyRemoteRetention(new LocalStore(bucketDir), "transcripts", POLICY, now, options);
    const kept = names
      .slice(0, POLICY.weekly)
      .flatMap((n) => [n.toString(), `${n}.sha256`])
      .sort();
    expect((await readdir(path.join(backupDir, "weekly"))).sort()).toEqual(kept);
    expect((await readdir(bucketDir)).sort()).toEqual(kept);
  });
});

describe("promotion periods", () => {
  it("weekly periods start on the weekly day at 00:00 UTC", () => {
    expect(weekPeriodStart(new Date("2024-10-27T02:00:00Z"), 0).toISOString()).toBe(
      "2024-10-27T00:00:00.000Z",
    ); // Sunday
    expect(weekPeriodStart(new Date("2024-10-26T23:59:59Z"), 0).toISOString()).toBe(
      "2024-10-20T00:00:00.000Z",
    ); // Saturday
    expect(weekPeriodStart(new Date("2024-10-26T00:00:00Z"), 6).toISOString()).toBe(
      "2024-10-26T00:00:00.000Z",
    );
  });
  it("monthly periods start on the monthly day, across year ends", () => {
    expect(monthPeriodStart(new Date("2024-01-01T00:00:00Z"), 1).toISOString()).toBe(
      "2024-01-01T00:00:00.000Z",
    );
    expect(monthPeriodStart(new Date("2024-01-14T00:00:00Z"), 15).toISOString()).toBe(
      "2023-12-15T00:00:00.000Z",
    );
  });
});

/** A tiny seeded PRNG so the simulated year is the same on every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("a simulated year of nightly runs", () => {
  it.each([
    [1, 0.0],
    [2, 0.1],
    [3, 0.3],
  ])(
    "seed %i, %f of nights missed: tiers hold exactly what the policy promises and nothing valid is lost early",
    (seed, missRate) => {
      const random = prng(seed);
      const stored: Record<Tier, StoredBackup[]> = { daily: [], weekly: [], monthly: [] };
      const deleted: StoredBackup[] = [];
      const start = Date.UTC(2024, 0, 1); // a leap year, starting on a Monday
      for (let day = 0; day < 400; day++) {
        // 02:00 UTC plus up to 20 minutes of scheduler jitter; some nights the run fails entirely.
        const at = new Date(start + day * 86_400_000 + 2 * 3_600_000 + Math.floor(random() * 1200) * 1000);
        if (random() < missRate) continue;
        // Now and then a run dies after publishing the data but before the sidecar: a broken backup.
        const broken = missRate > 0 && random() < 0.03;
        const today = backup("daily", at.toISOString(), !broken, broken ? "no .sha256 sidecar" : undefined);
        stored.daily.push(today);
        if (!broken) {
          for (const tier of PROMOTED_TIERS) {
            if (isTierDue(tier, stored[tier], at, SCHEDULE))
              stored[tier].push({
                ...today,
                name: today.name.withTier(tier),
                fileName: today.name.withTier(tier).toString(),
              });
          }
        }
        const now = new Date(at.getTime() + 60_000);
        for (const tier of ["daily", "weekly", "monthly"] as const) {
          const plan = planRetention(tier, stored[tier], POLICY, now, SCHEDULE);
          const removed = plan.decisions.filter((d) => d.action === "delete").map((d) => d.backup);
          // Never a broken file, never the newest valid backup, never one within the window.
          for (const b of removed) {
            expect(b.valid).toBe(true);
            const ageDays =
              Math.floor(now.getTime() / 86_400_000) - Math.floor(b.name.takenAt.getTime() / 86_400_000);
            if (tier === "daily") expect(ageDays).toBeGreaterThanOrEqual(POLICY.daily);
            // A weekly is as old as the week it stands for: whole weeks between the Sundays that start them.
            const weeks =
              (weekPeriodStart(now, SCHEDULE.weeklyDay).getTime() -
                weekPeriodStart(b.name.takenAt, SCHEDULE.weeklyDay).getTime()) /
              (7 * 86_400_000);
            if (tier === "weekly") expect(weeks).toBeGreaterThanOrEqual(POLICY.weekly);
          }
          const newestValid = [...stored[tier]]
            .filter((b) => b.valid)
            .sort((a, b) => +b.name.takenAt - +a.name.takenAt)[0];
          if (newestValid) expect(removed).not.toContain(newestValid);
          deleted.push(...removed);
          stored[tier] = stored[tier].filter((b) => !removed.includes(b));
        }
        // The daily tier holds every valid backup of the last 7 calendar days.
        const validDaily = stored.daily.filter((b) => b.valid);
        expect(validDaily.length).toBeLessThanOrEqual(POLICY.daily);
        expect(validDaily.length).toBeGreaterThanOrEqual(1);
        // At most one weekly per weekly period and one monthly per month, and never more than the policy's
        // count: a catch-up weekly (the weekly day was missed) is aged by the week it stands for.
        const weekStarts = stored.weekly.map((b) =>
          weekPeriodStart(b.name.takenAt, SCHEDULE.weeklyDay).getTime(),
        );
        expect(new Set(weekStarts).size).toBe(stored.weekly.length);
        expect(stored.weekly.length).toBeLessThanOrEqual(POLICY.weekly);
        expect(stored.monthly.length).toBeLessThanOrEqual(POLICY.monthly);
        expect(new Set(stored.monthly.map((b) => b.name.takenAt.toISOString().slice(0, 7))).size).toBe(
          stored.monthly.length,
        );
      }
      // After a full year with no failures every tier is full, on the scheduled days.
      if (missRate === 0) {
        expect(stored.daily.filter((b) => b.valid).length).toBeGreaterThanOrEqual(6);
        expect(stored.weekly.length).toBe(POLICY.weekly);
        expect(stored.monthly.length).toBe(POLICY.monthly);
        // Weekly copies are Sundays when no night is missed.
        for (const b of stored.weekly) expect(b.name.takenAt.getUTCDay()).toBe(0);
        for (const b of stored.monthly) expect(b.name.takenAt.getUTCDate()).toBe(1);
      }
      if (missRate > 0) expect(stored.weekly.length).toBeGreaterThanOrEqual(POLICY.weekly - 1);
      // Broken backups are never deleted: they stay to be looked at.
      expect(deleted.every((b) => b.valid)).toBe(true);
    },
  );
});
