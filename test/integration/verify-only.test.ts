import { readdir, readFile, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { formatTimestamp } from "../../src/catalog/backup-name.js";
import { main } from "../../src/cli/main.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { capturingLogger, usePostgres, usePushgateway, useTempDirs } from "../support/fixtures.js";
import { runAction } from "../support/run-action.js";

const postgres = usePostgres();
const tempDir = useTempDirs();
const gateway = usePushgateway();

const HOUR = 3_600_000;

/** `lifeline backup-db --verify-only` through src/, pushing to the test's Pushgateway under `job`. */
async function verifyOnly(dir: string, job: string, ...extra: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  const argv = ["backup-db", "--verify-only", "--backup-dir", dir, "--pushgateway-url", gateway().url];
  const code = await main([...argv, "--pushgateway-job", job, ...extra], { out, err });
  return { code, out: String(out.read() ?? ""), err: String(err.read() ?? "") };
}

/** A gauge the gateway holds for the job's database group. */
async function gauge(job: string, name: string): Promise<number | undefined> {
  const line = (await gateway().scrape())
    .split("\n")
    .find((l) => l.startsWith(`${name}{`) && l.includes(`job="${job}"`) && l.includes('type="database"'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** A backup of the cluster's `postgres` database named as taken at `at`, into `dir`'s tiers. */
async function backupAt(dir: string, at: Date): Promise<void> {
  // Weekly copies kept 10 weeks: the 40-day-old one must outlive the second backup's retention.
  const vars = { DATABASE_URL: postgres().url("postgres"), BACKUP_DIR: dir, BACKUP_RETENTION_WEEKLY: "10" };
  const { logger } = capturingLogger();
  await backupDatabase(loadBackupDbConfig(environmentLookup(vars), vars), { logger, now: () => at });
}

describe("backup-db --verify-only is verify scoped to BACKUP_DIR", () => {
  it("judges weekly and monthly ages like verify: stale ones exit 2, named in the summary and the log", async () => {
    const dir = await tempDir("vo-stale");
    const old = new Date(Date.now() - 40 * 24 * HOUR);
    await backupAt(dir, old); // the first backup: daily, weekly and monthly (its daily goes by retention)
    await backupAt(dir, new Date(Date.now() - HOUR));
    // Only the 40-day-old copies are left in weekly/ and monthly/: the daily is fresh, the others stale.
    const stamp = formatTimestamp(old);
    for (const tier of ["weekly", "monthly"]) {
      for (const f of await readdir(path.join(dir, tier))) {
        if (!f.includes(stamp)) await unlink(path.join(dir, tier, f));
      }
    }
    const r = await verifyOnly(dir, "vo-stale");
    expect(r.code, r.err).toBe(2);
    for (const [tier, limit] of [
      ["weekly", 26 + 7 * 24],
      ["monthly", 26 + 31 * 24],
    ] as const) {
      const reason = new RegExp(
        `the newest good ${tier} backup in ${dir} is 9\\d\\d\\.\\d h old, over the ${limit} h limit`,
      );
      expect(r.err).toMatch(reason);
      expect(r.out).toMatch(reason);
    }
    expect(r.err).not.toMatch(/newest good daily backup/);
    // verify's summary: the headline, and the tier-age table with the limits.
    expect(r.out).toContain("## ❌ Lifeline verify: 3 of 3 backups good, exit 2");
    expect(r.out).toMatch(
      new RegExp(`\\| ${dir} \\| daily \\| postgres_daily_\\d{8}_\\d{6}\\S* \\| .* \\| 26 h \\| ✅ \\|`),
    );
    expect(r.out).toMatch(
      new RegExp(`\\| ${dir} \\| weekly \\| postgres_weekly_${stamp}\\S* \\| .* \\| 194 h \\| ❌ \\|`),
    );
    expect(r.out).toMatch(
      new RegExp(`\\| ${dir} \\| monthly \\| postgres_monthly_${stamp}\\S* \\| .* \\| 770 h \\| ❌ \\|`),
    );
    // The metrics are verify's: status 2, the newest daily's age, no success timestamp.
    expect(await gauge("vo-stale", "backup_verify_last_status")).toBe(2);
    const age = await gauge("vo-stale", "backup_verify_newest_age_seconds");
    expect(age).toBeGreaterThan(3000);
    expect(age).toBeLessThan(2 * 3600);
    expect(await gauge("vo-stale", "backup_verify_last_success_timestamp")).toBeUndefined();
    expect(r.err).toContain(`Metrics pushed to ${gateway().url} (job vo-stale)`);

    // Within a larger max-age-hours, the same directory passes: exit 0, and a success is recorded.
    const wide = await verifyOnly(dir, "vo-stale", "--max-age-hours", "1000");
    expect(wide.code, wide.err).toBe(0);
    expect(wide.out).toContain("## ✅ Lifeline verify: 3 of 3 backups good, exit 0");
    expect(await gauge("vo-stale", "backup_verify_last_status")).toBe(0);
    const success = await gauge("vo-stale", "backup_verify_last_success_timestamp");
    expect(Math.abs(success! - Date.now() / 1000)).toBeLessThan(120);
  });

  it("a tampered sidecar fails its backup (exit 1), named in the log and the summary, and pushed", async () => {
    const dir = await tempDir("vo-sidecar");
    await backupAt(dir, new Date(Date.now() - HOUR));
    const daily = (await readdir(path.join(dir, "daily"))).find((f) => f.endsWith(".sql.gz"))!;
    const sidecar = path.join(dir, "daily", `${daily}.sha256`);
    const text = await readFile(sidecar, "utf8");
    await writeFile(
      sidecar,
      text.replace(/^[0-9a-f]/, (c) => (c === "0" ? "1" : "0")),
    );
    const r = await verifyOnly(dir, "vo-sidecar", "--json");
    expect(r.code, r.err).toBe(1);
    expect(r.err).toContain(`verify daily/${daily}: FAILED: sha256 mismatch`);
    expect(r.err).toMatch(/1 of 3 backup\(s\) failed verification/);
    // --json prints verify's report: checks carry their tier, ages and the metrics outcome are there.
    const report = JSON.parse(r.out) as {
      exitCode: number;
      checks: { file: string; tier: string; ok: boolean }[];
      ages: { tier: string; ok: boolean }[];
      metrics: { pushgateway?: string };
    };
    expect(report.exitCode).toBe(1);
    expect(report.checks.map((c) => [c.tier, c.ok])).toEqual([
      ["daily", false],
      ["weekly", true],
      ["monthly", true],
    ]);
    expect(report.ages.map((a) => a.tier)).toEqual(["daily", "weekly", "monthly"]);
    expect(report.metrics.pushgateway).toBe("pushed");
    expect(await gauge("vo-sidecar", "backup_verify_last_status")).toBe(1);

    const table = await verifyOnly(dir, "vo-sidecar");
    expect(table.out).toContain("## ❌ Lifeline verify: 2 of 3 backups good, exit 1");
    expect(table.out).toMatch(
      new RegExp(
        `\\| ${daily.replace(/\./g, "\\.")} \\| ${dir}/daily \\| daily \\| .* \\| ❌ sha256 mismatch`,
      ),
    );
  });

  it("no backups at all: exit 2 naming the daily directory; a missing weekly or monthly alone is no error", async () => {
    const empty = await tempDir("vo-empty");
    const r = await verifyOnly(empty, "vo-empty");
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain(`no good daily backup in ${path.join(empty, "daily")}`);
    expect(r.err).not.toMatch(/no good (weekly|monthly) backup/);
    expect(r.out).toContain("## ❌ Lifeline verify: 0 of 0 backups good, exit 2");
    expect(r.out).toContain("No backups found.");
    expect(await gauge("vo-empty", "backup_verify_last_status")).toBe(2);
    expect(await gauge("vo-empty", "backup_verify_newest_age_seconds")).toBeUndefined();
  });

  it("a run refused on its settings records verify's failure, not backup's", async () => {
    const r = await verifyOnly(await tempDir("vo-config"), "vo-config", "--max-age-hours", "0");
    expect(r.code, r.err).toBe(78);
    expect(await gauge("vo-config", "backup_verify_last_status")).toBe(78);
    expect(await gauge("vo-config", "backup_last_status")).toBeUndefined();
  });
});

describe("the backup-db action's verify-only, from source", () => {
  it("is verify scoped to BACKUP_DIR: verify's outputs, summary, exit code and metrics", async () => {
    const dir = await tempDir("vo-action");
    const old = new Date(Date.now() - 40 * 24 * HOUR);
    await backupAt(dir, old);
    await backupAt(dir, new Date(Date.now() - HOUR));
    const stamp = formatTimestamp(old);
    // Only the weekly is stale (the fresh monthly stays): 4 good backups, exit 2.
    for (const f of await readdir(path.join(dir, "weekly"))) {
      if (!f.includes(stamp)) await unlink(path.join(dir, "weekly", f));
    }
    const run = await runAction(
      "actions/backup-db/action.yml",
      {
        "verify-only": "true",
        "backup-dir": dir,
        "pushgateway-url": gateway().url,
        "pushgateway-job": "vo-action",
      },
      {},
      undefined,
      "src/actions/backup-db/index.ts",
    );
    expect(run.code, run.stdout).toBe(2);
    expect(run.outputs).toMatchObject({ "verified-count": "4", "failed-count": "0", "exit-code": "2" });
    expect(run.stdout).toMatch(
      /::error::the newest good weekly backup in .* is 9\d\d\.\d h old, over the 194 h limit/,
    );
    expect(run.summary).toContain("## ❌ Lifeline verify: 4 of 4 backups good, exit 2");
    expect(run.summary).toMatch(/\| weekly \| postgres_weekly_\S+ \| .* \| 194 h \| ❌ \|/);
    expect(await gauge("vo-action", "backup_verify_last_status")).toBe(2);
  });
});
