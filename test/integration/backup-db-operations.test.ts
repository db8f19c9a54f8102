import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { backupDbSummary } from "../../src/backup/backup-db-summary.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { LOCK_FILE } from "../../src/fs/dir-lock.js";
import { verifyLocalBackups } from "../../src/verify/verify-backups.js";
import { capturingLogger, listTree, shell, usePostgres, useTempDirs } from "../support/fixtures.js";
import { makeGpgHome, makeGpgKey } from "../support/gpg.js";
import { type Pushgateway, startPushgateway } from "../support/services/pushgateway.js";
import { execFileAsync, freePort } from "../support/services/service.js";

const postgres = usePostgres();
const tempDir = useTempDirs();
let gateway: Pushgateway;
beforeAll(async () => {
  gateway = await startPushgateway();
});
afterAll(async () => {
  await gateway?.stop();
});

const config = (vars: Record<string, string>) => loadBackupDbConfig(environmentLookup(vars));

/** Writes a backup file with a valid sidecar (what a past run would have left). */
async function pastBackup(dir: string, tier: string, fileName: string, options: { sidecar?: boolean } = {}) {
  await mkdir(path.join(dir, tier), { recursive: true });
  await writeFile(path.join(dir, tier, fileName), `old backup ${fileName}`);
  if (options.sidecar !== false) {
    const { stdout } = await execFileAsync("sha256sum", [fileName], { cwd: path.join(dir, tier) });
    await writeFile(path.join(dir, tier, `${fileName}.sha256`), stdout);
  }
  await writeFile(path.join(dir, tier, `${fileName}.manifest.json`), "{}");
}

describe("tiers and retention on disk", () => {
  /** A backup dir as it would look on Sunday 2024-11-03 before the 02:00 run. */
  async function populated(label: string) {
    const dir = await tempDir(label);
    for (const day of [
      "20241025",
      "20241026",
      "20241027",
      "20241028",
      "20241029",
      "20241030",
      "20241031",
      "20241101",
      "20241102",
    ]) {
      await pastBackup(dir, "daily", `app_daily_${day}_020000.sql.gz`);
    }
    await pastBackup(dir, "daily", "app_daily_20241020_020000.sql.gz", { sidecar: false }); // broken: never counted, never deleted
    await pastBackup(dir, "daily", "other_daily_20240101_020000.sql.gz"); // another prefix: not ours to prune
    for (const day of ["20241006", "20241013", "20241020", "20241027"])
      await pastBackup(dir, "weekly", `app_weekly_${day}_020000.sql.gz`);
    await pastBackup(dir, "monthly", "app_monthly_20241101_020000.sql.gz");
    await pastBackup(dir, "monthly", "app_monthly_20231101_020000.sql.gz");
    return dir;
  }

  it("files Sunday's backup as weekly, keeps the policy's window, removes sidecars and manifests with their backup", async () => {
    const pg = postgres();
    const dir = await populated("tiers");
    const { logger, lines } = capturingLogger();
    const result = await backupDatabase(
      config({ DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir, BACKUP_PREFIX: "app" }),
      {
        logger,
        now: () => new Date("2024-11-03T02:00:00Z"),
      },
    );
    expect(result.tiers.map((t) => t.tier)).toEqual(["daily", "weekly"]); // November's monthly exists already
    const files = await listTree(dir);
    const data = files.filter((f) => /\.sql\.gz$/.test(f));
    expect(data).toEqual([
      "daily/app_daily_20241020_020000.sql.gz",
      "daily/app_daily_20241028_020000.sql.gz",
      "daily/app_daily_20241029_020000.sql.gz",
      "daily/app_daily_20241030_020000.sql.gz",
      "daily/app_daily_20241031_020000.sql.gz",
      "daily/app_daily_20241101_020000.sql.gz",
      "daily/app_daily_20241102_020000.sql.gz",
      "daily/app_daily_20241103_020000.sql.gz",
      "daily/other_daily_20240101_020000.sql.gz",
      "monthly/app_monthly_20241101_020000.sql.gz",
      "weekly/app_weekly_20241013_020000.sql.gz",
      "weekly/app_weekly_20241020_020000.sql.gz",
      "weekly/app_weekly_20241027_020000.sql.gz",
      "weekly/app_weekly_20241103_020000.sql.gz",
    ]);
    expect(
      files.filter(
        (f) =>
          f.includes("20241025") ||
          f.includes("20241026") ||
          (f.includes("20241027_020000.sql.gz.") && f.startsWith("daily")),
      ),
    ).toEqual([]);
    expect(files).not.toContain("weekly/app_weekly_20241006_020000.sql.gz.sha256");
    expect(files).not.toContain("daily/app_daily_20241026_020000.sql.gz.manifest.json");
    expect(files).not.toContain(LOCK_FILE);
    expect(lines).toContain(
      "info: retention monthly: delete app_monthly_20231101_020000.sql.gz: 12 month(s) old, beyond 12",
    );
    // The weekly copy is the same bytes (a hard link) with its own sidecar.
    const weekly = path.join(dir, "weekly/app_weekly_20241103_020000.sql.gz");
    expect((await readFile(weekly)).equals(await readFile(result.file))).toBe(true);
    await execFileAsync("sha256sum", ["-c", "app_weekly_20241103_020000.sql.gz.sha256"], {
      cwd: path.join(dir, "weekly"),
    });

    expect(lines).toContain(
      "warn: retention daily: report app_daily_20241020_020000.sql.gz: does not count as a backup (no .sha256 sidecar); left in place",
    );
    expect(lines).toContain(
      "info: retention daily: delete app_daily_20241027_020000.sql.gz: 7 day(s) old, beyond 7",
    );
    const summary = backupDbSummary({ result });
    expect(summary).toContain(
      "| daily | app_daily_20241026_020000.sql.gz | delete | 8 day(s) old, beyond 7 |",
    );
    expect(summary).toContain(
      "| weekly | app_weekly_20241006_020000.sql.gz | delete | 4 week(s) old, beyond 4 |",
    );
    expect(summary).toMatch(
      /Tiers written \| daily: app_daily_20241103_020000\.sql\.gz; weekly: app_weekly_20241103_020000\.sql\.gz/,
    );
  });

  it("deletes nothing in a dry run, and says what it would delete", async () => {
    const pg = postgres();
    const dir = await populated("dry");
    const before = await listTree(dir);
    const { logger, lines } = capturingLogger();
    const result = await backupDatabase(
      config({
        DATABASE_URL: pg.url("postgres"),
        BACKUP_DIR: dir,
        BACKUP_PREFIX: "app",
        BACKUP_RETENTION_DRY_RUN: "true",
      }),
      { logger, now: () => new Date("2024-11-03T02:00:00Z") },
    );
    const after = await listTree(dir);
    expect(before.every((f) => after.includes(f))).toBe(true);
    expect(lines).toContain(
      "info: retention daily: would delete app_daily_20241025_020000.sql.gz: 9 day(s) old, beyond 7",
    );
    expect(backupDbSummary({ result })).toContain("### Retention (dry run: nothing deleted)");
  });
});

describe("the lock on BACKUP_DIR", () => {
  it("makes a second run fail fast naming the holder, and takes over a stale lock with a warning", async () => {
    const pg = postgres();
    const dir = await tempDir("lock");
    await mkdir(dir, { recursive: true });
    const sleeper = spawn("sleep", ["30"]);
    try {
      const { hostname } = await import("node:os");
      const { ownIdentity } = await import("../../src/process/process-identity.js");
      await writeFile(
        path.join(dir, LOCK_FILE),
        JSON.stringify({
          ...ownIdentity(),
          procStart: undefined,
          pid: sleeper.pid,
          host: hostname(),
          startedAt: "2024-11-03T02:00:00.000Z",
          command: "backup-db",
          token: "x",
        }),
      );
      const { logger } = capturingLogger();
      await expect(
        backupDatabase(config({ DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir }), { logger }),
      ).rejects.toThrow(
        new RegExp(
          `Another Lifeline run holds ${dir}: pid ${sleeper.pid} on .*, started 2024-11-03T02:00:00.000Z \\(backup-db\\)`,
        ),
      );
      expect((await listTree(path.join(dir, "daily"))).length).toBe(0);
    } finally {
      sleeper.kill();
    }
    await new Promise((r) => sleeper.once("exit", r));
    const { logger, lines } = capturingLogger();
    const result = await backupDatabase(config({ DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir }), {
      logger,
    });
    expect(result.file).toMatch(/postgres_daily_/);
    expect(lines.some((l) => /^warn: Taking over a stale lock .*is no longer running/.test(l))).toBe(true);
    expect(await listTree(dir)).not.toContain(LOCK_FILE);
  });
});

describe("metrics", () => {
  const series = (text: string, name: string) =>
    text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes('job="lifeline"'));

  it("pushes the runbook's metrics to the Pushgateway and a promtool-clean textfile", async () => {
    const pg = postgres();
    const dir = await tempDir("metrics");
    const textfile = path.join(dir, "backups.prom");
    const { logger } = capturingLogger();
    const vars = {
      DATABASE_URL: pg.url("postgres"),
      BACKUP_DIR: dir,
      PUSHGATEWAY_URL: gateway.url,
      BACKUP_METRICS_TEXTFILE: textfile,
    };
    const result = await backupDatabase(config(vars), { logger });
    expect(result.metrics).toEqual({ pushgateway: "pushed", textfile: "written" });

    const scraped = await gateway.scrape();
    const success = series(scraped, "backup_last_success_timestamp");
    expect(success).toMatch(
      /^backup_last_success_timestamp\{instance="",job="lifeline",type="database"\} \d/,
    );
    expect(series(scraped, "backup_size_bytes")).toContain(` ${result.sizeBytes}`);
    expect(series(scraped, "backup_last_status")).toMatch(/ 0$/);
    expect(series(scraped, "backup_duration_seconds")).toBeDefined();

    // The textfile passes promtool's own lint, as node_exporter would read it.
    const lint = await execFileAsync("bash", ["-c", 'promtool check metrics < "$1"', "lint", textfile]);
    expect(lint.stdout + lint.stderr).not.toMatch(/error/i);
    // A failed run is recorded by the adapter, with its exit status: test/integration/run-status.test.ts.
  });

  it("warns but does not fail a good backup when the Pushgateway is unreachable", async () => {
    const pg = postgres();
    const dir = await tempDir("nogw");
    const { logger, lines } = capturingLogger();
    const port = await freePort(); // nobody listens there
    const result = await backupDatabase(
      config({
        DATABASE_URL: pg.url("postgres"),
        BACKUP_DIR: dir,
        PUSHGATEWAY_URL: `http://127.0.0.1:${port}`,
      }),
      { logger },
    );
    expect(result.metrics.pushgateway).toBe(
      `Could not push metrics to http://127.0.0.1:${port}/metrics/job/lifeline/type/database: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect(
      lines.some(
        (l) =>
          l.startsWith("warn: Could not push metrics") && l.endsWith("the backup itself is not affected"),
      ),
    ).toBe(true);
  });
});

describe("--verify-only", () => {
  it("passes good backups, names a corrupted or unsidecarred one (exit 1), and flags age (exit 2)", async () => {
    const pg = postgres();
    const dir = await tempDir("verify");
    const { logger } = capturingLogger();
    const a = await backupDatabase(config({ DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir }), {
      logger,
      now: () => new Date("2024-11-02T02:00:00Z"),
    });
    await backupDatabase(
      config({ DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir, BACKUP_COMPRESSION: "zstd" }),
      { logger, now: () => new Date("2024-11-03T02:00:00Z") },
    );
    await backupDatabase(
      config({ DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir, BACKUP_FORMAT: "custom" }),
      { logger, now: () => new Date("2024-11-03T03:00:00Z") },
    );

    const good = await verifyLocalBackups(dir, {
      maxAgeHours: 26,
      now: new Date("2024-11-03T04:00:00Z"),
      logger,
    });
    expect(good.exitCode).toBe(0);
    expect(good.checks.map((c) => [path.basename(c.file), c.passed.join(",")])).toEqual([
      ["postgres_daily_20241103_030000.dump", "sha256,archive magic,manifest"],
      ["postgres_daily_20241103_020000.sql.zst", "sha256,zstd,dump trailer,manifest"],
      ["postgres_daily_20241102_020000.sql.gz", "sha256,gzip,dump trailer,manifest"],
      // Saturday's first backup was also the first weekly (catch-up); Sunday's starts a new week.
      ["postgres_weekly_20241103_020000.sql.zst", "sha256,zstd,dump trailer,manifest"],
      ["postgres_weekly_20241102_020000.sql.gz", "sha256,gzip,dump trailer,manifest"],
      ["postgres_monthly_20241102_020000.sql.gz", "sha256,gzip,dump trailer,manifest"],
    ]);

    const old = await verifyLocalBackups(dir, {
      maxAgeHours: 26,
      now: new Date("2024-11-05T04:00:00Z"),
      logger,
    });
    expect(old.exitCode).toBe(2);
    // One verify engine: the reason names the directory, as verify's does.
    expect(old.reasons).toEqual([
      `the newest good daily backup in ${dir} is 49.0 h old, over the 26 h limit`,
    ]);

    // One flipped byte in the middle of a file.
    const bytes = await readFile(a.file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(a.file, bytes);
    const bad = await verifyLocalBackups(dir, {
      maxAgeHours: 26,
      now: new Date("2024-11-03T04:00:00Z"),
      logger,
    });
    expect(bad.exitCode).toBe(1);
    const failed = bad.checks.filter((c) => !c.ok);
    // Weekly and monthly copies are hard links to the same bytes: the damage shows in every tier.
    expect(failed.map((c) => path.basename(c.file))).toEqual([
      "postgres_daily_20241102_020000.sql.gz",
      "postgres_weekly_20241102_020000.sql.gz",
      "postgres_monthly_20241102_020000.sql.gz",
    ]);
    expect(failed[0]!.problem).toMatch(/sha256 mismatch|decompression failed/);

    const empty = await verifyLocalBackups(await tempDir("none"), {
      maxAgeHours: 26,
      now: new Date(),
      logger,
    });
    expect(empty.exitCode).toBe(2);
    expect(empty.reasons[0]).toMatch(/^no good daily backup in /);
  });

  it("decrypts when the secret key is at hand, and says so when it is not", async () => {
    const pg = postgres();
    const key = await makeGpgKey("verify@example.com");
    const dir = await tempDir("verifyenc");
    const { logger } = capturingLogger();
    await backupDatabase(
      config({
        DATABASE_URL: pg.url("postgres"),
        BACKUP_DIR: dir,
        BACKUP_ENCRYPT: "true",
        BACKUP_GPG_PUBLIC_KEY: key.publicKey,
      }),
      { logger },
    );
    const saved = process.env.GNUPGHOME;
    try {
      process.env.GNUPGHOME = key.home;
      const withKey = await verifyLocalBackups(dir, { maxAgeHours: 26, now: new Date(), logger });
      expect(withKey.checks[0]).toMatchObject({
        ok: true,
        passed: ["sha256", "gpg", "gzip", "dump trailer", "manifest"],
      });
      process.env.GNUPGHOME = await makeGpgHome("emptygnupg");
      const without = await verifyLocalBackups(dir, { maxAgeHours: 26, now: new Date(), logger });
      expect(without.checks[0]).toMatchObject({ ok: true, passed: ["sha256", "manifest"] });
      expect(without.checks[0]!.notes[0]).toMatch(/^not decrypted: no secret key/);
    } finally {
      if (saved === undefined) delete process.env.GNUPGHOME;
      else process.env.GNUPGHOME = saved;
    }
  });

  it("verifies a backup made by the runbook's own shell pipeline", async () => {
    const pg = postgres();
    const dir = await tempDir("runbook");
    await mkdir(path.join(dir, "daily"), { recursive: true });
    const file = path.join(dir, "daily", "transcripts_daily_20241026_020000.sql.gz");
    await shell(pg, 'pg_dump -d postgres | gzip > "$F" && sha256sum "$F" > "$F.sha256"', { F: file });
    const { logger } = capturingLogger();
    const report = await verifyLocalBackups(dir, {
      maxAgeHours: 26,
      now: new Date("2024-10-26T03:00:00Z"),
      logger,
    });
    expect(report.exitCode).toBe(0);
    expect(report.checks[0]).toMatchObject({
      ok: true,
      passed: ["sha256", "gzip", "dump trailer"],
      notes: ["no manifest"],
    });
  });
});
