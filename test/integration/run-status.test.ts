import { type ChildProcess, spawn } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usePostgres, useTempDirs } from "../support/fixtures.js";
import { NODE24 } from "../support/run-action.js";
import { type Pushgateway, startPushgateway } from "../support/services/pushgateway.js";

// Exit statuses (README "Exit status"), failure metrics of every failed run (issue 9 item 5) and
// cancellation (item 10), through the real CLI (from source), as an operator would run it.

const postgres = usePostgres();
const tempDir = useTempDirs();
let gateway: Pushgateway;
beforeAll(async () => {
  gateway = await startPushgateway();
});
afterAll(async () => {
  await gateway?.stop();
});

// The CLI from source, with tsx as a loader inside the one process (the tsx wrapper command would stand
// between the test and the CLI and answer the signals itself).
const CLI = path.resolve("src/cli/index.ts");

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `lifeline <args>` from source with only the given environment (and its own TMPDIR). With
 * `interrupt`, sends that signal once `when` matches stderr.
 */
async function lifeline(
  args: string[],
  env: Record<string, string>,
  interrupt?: { signal: NodeJS.Signals; when: RegExp },
): Promise<Run> {
  const tmp = await tempDir("cli-tmp");
  const child: ChildProcess = spawn(NODE24, ["--import", "tsx", CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", TMPDIR: tmp, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let sent = false;
  child.stdout!.on("data", (d) => {
    stdout += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
    if (interrupt && !sent && interrupt.when.test(stderr)) {
      sent = true;
      child.kill(interrupt.signal);
    }
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on("close", (c, s) => resolve([c, s])),
  );
  if (interrupt && !sent) throw new Error(`never saw ${interrupt.when} to interrupt on:\n${stderr}`);
  return { code, signal, stdout, stderr };
}

/** The value of one series of a job on the gateway, e.g. backup_last_status. */
async function gauge(job: string, name: string): Promise<number | undefined> {
  const line = (await gateway.scrape())
    .split("\n")
    .find((l) => l.startsWith(`${name}{`) && l.includes(`job="${job}"`) && l.includes('type="database"'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** The gateway's own push_time_seconds of a job's group: it moves on every push. */
const pushTime = (job: string) => gauge(job, "push_time_seconds");

function textfileGauge(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{type="database"}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** Resets the textfile's status to a success, so that the next run has to write its own. */
async function resetTextfileStatus(file: string, name: string): Promise<void> {
  const text = await readFile(file, "utf8");
  await writeFile(file, text.replace(new RegExp(`^(${name}\\{type="database"\\}) .*$`, "m"), "$1 0"));
}

async function bigDatabase(name: string): Promise<string> {
  const pg = postgres();
  await pg.createDatabase(name);
  await pg.query(
    name,
    "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 8) AS t FROM generate_series(1, 400000) g",
  );
  return pg.url(name);
}

async function backupOf(url: string, dir: string): Promise<string> {
  const r = await lifeline(["backup-db", "--backup-dir", dir, "--compression-level", "1"], {
    DATABASE_URL: url,
  });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe("failure metrics: every failed run records status ≠ 0 and keeps the last success", () => {
  it("backup-db: DATABASE_URL missing or malformed, an invalid prefix → exit 78, backup_last_status 78", async () => {
    const pg = postgres();
    const dir = await tempDir("fm-backup");
    const textfile = path.join(dir, "lifeline.prom");
    const job = "fm_backup";
    const metrics = { PUSHGATEWAY_URL: gateway.url, PUSHGATEWAY_JOB: job, BACKUP_METRICS_TEXTFILE: textfile };
    const ok = await lifeline(["backup-db", "--backup-dir", dir], {
      ...metrics,
      DATABASE_URL: pg.url("postgres"),
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await gauge(job, "backup_last_status")).toBe(0);
    const success = await gauge(job, "backup_last_success_timestamp");
    expect(Number(success)).toBeGreaterThan(1e9);
    const fileSuccess = textfileGauge(await readFile(textfile, "utf8"), "backup_last_success_timestamp");
    expect(fileSuccess).toBe(success);

    const failures: [string, Record<string, string>, RegExp][] = [
      ["missing", {}, /DATABASE_URL is not set/],
      ["malformed", { DATABASE_URL: "postgresql:user:pw@host:5432/db" }, /DATABASE_URL is not a valid/],
      ["prefix", { DATABASE_URL: pg.url("postgres"), BACKUP_PREFIX: "-bad" }, /Invalid BACKUP_PREFIX '-bad'/],
    ];
    for (const [label, env, message] of failures) {
      const before = await pushTime(job);
      await resetTextfileStatus(textfile, "backup_last_status");
      const r = await lifeline(["backup-db", "--backup-dir", dir], { ...metrics, ...env });
      expect(r.code, `${label}: ${r.stderr}`).toBe(78);
      expect(r.stderr).toMatch(message);
      expect(await pushTime(job), label).not.toBe(before);
      expect(await gauge(job, "backup_last_status"), label).toBe(78);
      expect(await gauge(job, "backup_last_success_timestamp"), label).toBe(success);
      const text = await readFile(textfile, "utf8");
      expect(textfileGauge(text, "backup_last_status"), label).toBe(78);
      expect(textfileGauge(text, "backup_last_success_timestamp"), label).toBe(success);
    }
    // A failure after the configuration (a wrong password) is recorded once, by the same path: exit 1.
    const before = await pushTime(job);
    const wrong = await lifeline(["backup-db", "--backup-dir", dir], {
      ...metrics,
      DATABASE_URL: `postgresql://${pg.user}:wrong@${pg.host}:${pg.port}/postgres`,
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/password authentication failed/);
    expect(wrong.stderr.match(/Metrics pushed/g)).toHaveLength(1);
    expect(await pushTime(job)).not.toBe(before);
    expect(await gauge(job, "backup_last_status")).toBe(1);
    expect(await gauge(job, "backup_last_success_timestamp")).toBe(success);
  }, 240_000);

  it("verify: an invalid setting exits 78 (not 1, 'verification failures') and records backup_verify_last_status 78", async () => {
    const pg = postgres();
    const dir = await tempDir("fm-verify");
    const textfile = path.join(dir, "lifeline.prom");
    const job = "fm_verify";
    const metrics = { PUSHGATEWAY_URL: gateway.url, PUSHGATEWAY_JOB: job, BACKUP_METRICS_TEXTFILE: textfile };
    await backupOf(pg.url("postgres"), dir);
    const ok = await lifeline(["verify", "--backup-dir", dir], metrics);
    expect(ok.code, ok.stderr).toBe(0);
    const success = await gauge(job, "backup_verify_last_success_timestamp");
    expect(Number(success)).toBeGreaterThan(1e9);
    expect(await gauge(job, "backup_verify_last_status")).toBe(0);

    const failures: [string, string[], Record<string, string>][] = [
      ["missing", ["--test-restore"], {}],
      ["malformed", ["--test-restore"], { DATABASE_URL: "postgresql:user:pw@host:5432/db" }],
      ["prefix", [], { BACKUP_PREFIX: "-bad" }],
      ["max-age", [], { BACKUP_MAX_AGE_HOURS: "soon" }],
    ];
    for (const [label, args, env] of failures) {
      const before = await pushTime(job);
      await resetTextfileStatus(textfile, "backup_verify_last_status");
      const r = await lifeline(["verify", "--backup-dir", dir, ...args], { ...metrics, ...env });
      expect(r.code, `${label}: ${r.stderr}`).toBe(78);
      expect(await pushTime(job), label).not.toBe(before);
      expect(await gauge(job, "backup_verify_last_status"), label).toBe(78);
      expect(await gauge(job, "backup_verify_last_success_timestamp"), label).toBe(success);
      const text = await readFile(textfile, "utf8");
      expect(textfileGauge(text, "backup_verify_last_status"), label).toBe(78);
      expect(textfileGauge(text, "backup_verify_last_success_timestamp"), label).toBe(success);
    }
  }, 240_000);

  it("restore: a refused restore exits 1 and a config failure 78; both record backup_restore_last_status", async () => {
    const pg = postgres();
    const dir = await tempDir("fm-restore");
    const textfile = path.join(dir, "lifeline.prom");
    const job = "fm_restore";
    const metrics = { PUSHGATEWAY_URL: gateway.url, PUSHGATEWAY_JOB: job, BACKUP_METRICS_TEXTFILE: textfile };
    await pg.createDatabase("fm_live");
    await pg.query("fm_live", "CREATE TABLE t AS SELECT g FROM generate_series(1, 10) g");
    const file = await backupOf(pg.url("fm_live"), dir);
    const ok = await lifeline(["restore", "--backup-file", file, "--force", "--drop-old"], {
      ...metrics,
      DATABASE_URL: pg.url("fm_live"),
    });
    expect(ok.code, ok.stderr).toBe(0);
    const success = await gauge(job, "backup_restore_last_success_timestamp");
    expect(Number(success)).toBeGreaterThan(1e9);

    const failures: [string, string[], Record<string, string>, number, RegExp][] = [
      ["refused", ["--backup-file", file], { DATABASE_URL: pg.url("fm_live") }, 1, /Refusing to replace/],
      [
        "wrong confirm",
        ["--backup-file", file, "--confirm", "other"],
        { DATABASE_URL: pg.url("fm_live") },
        1,
        /nothing was restored/,
      ],
      ["missing", ["--backup-file", file, "--force"], {}, 78, /DATABASE_URL is not set/],
      [
        "malformed",
        ["--backup-file", file, "--force"],
        { DATABASE_URL: "postgresql:user:pw@host:5432/db" },
        78,
        /not a valid PostgreSQL URL/,
      ],
      [
        "not a backup",
        ["--backup-file", path.join(dir, "notes.txt"), "--force"],
        { DATABASE_URL: pg.url("fm_live") },
        78,
        /is not a backup Lifeline can read/,
      ],
    ];
    for (const [label, args, env, code, message] of failures) {
      const before = await pushTime(job);
      await resetTextfileStatus(textfile, "backup_restore_last_status");
      const r = await lifeline(["restore", ...args], { ...metrics, ...env });
      expect(r.code, `${label}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(await pushTime(job), label).not.toBe(before);
      expect(await gauge(job, "backup_restore_last_status"), label).toBe(code);
      expect(await gauge(job, "backup_restore_last_success_timestamp"), label).toBe(success);
      const text = await readFile(textfile, "utf8");
      expect(textfileGauge(text, "backup_restore_last_status"), label).toBe(code);
      expect(textfileGauge(text, "backup_restore_last_success_timestamp"), label).toBe(success);
    }
    expect(await pg.query("fm_live", "SELECT count(*)::int AS n FROM t")).toEqual([{ n: 10 }]);
  }, 240_000);
});

describe("cancellation: a run stopped by SIGTERM/SIGINT is never a success", () => {
  it("verify --test-restore: SIGTERM mid-restore exits 143, says cancelled, drops the scratch database, records 143", async () => {
    const pg = postgres();
    const dir = await tempDir("cancel-verify");
    const job = "cancel_verify";
    await backupOf(await bigDatabase("cancel_verify_src"), dir);
    const r = await lifeline(
      ["verify", "--backup-dir", dir, "--test-restore"],
      { DATABASE_URL: pg.url("postgres"), PUSHGATEWAY_URL: gateway.url, PUSHGATEWAY_JOB: job },
      { signal: "SIGTERM", when: /Test restore of .* into the scratch database/ },
    );
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toContain("Received SIGTERM: stopping and cleaning up");
    expect(r.stderr).toMatch(/lifeline verify: The test restore of .* was cancelled \(SIGTERM\)/);
    expect(r.stderr).toMatch(/Dropped the scratch database/);
    expect(r.stdout).toBe(""); // no report of a verification that did not finish
    expect(await gauge(job, "backup_verify_last_status")).toBe(143);
    expect(await gauge(job, "backup_verify_last_success_timestamp")).toBeUndefined();
    const scratch = await pg.query(
      "postgres",
      "SELECT datname FROM pg_database WHERE datname LIKE 'lifeline_verify_%'",
    );
    expect(scratch).toEqual([]);
  }, 240_000);

  it("verify: SIGINT while checking files exits 130 and records 130", async () => {
    const dir = await tempDir("cancel-verify-int");
    const job = "cancel_verify_int";
    await backupOf(await bigDatabase("cancel_verify_int_src"), dir);
    const r = await lifeline(
      ["verify", "--backup-dir", dir],
      { PUSHGATEWAY_URL: gateway.url, PUSHGATEWAY_JOB: job },
      { signal: "SIGINT", when: /Received|^/ },
    );
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/lifeline verify: .*cancelled.*SIGINT/i);
    expect(await gauge(job, "backup_verify_last_status")).toBe(130);
  }, 240_000);

  it("restore: SIGTERM mid-restore exits 143, the live database untouched, records 143", async () => {
    const pg = postgres();
    const dir = await tempDir("cancel-restore");
    const job = "cancel_restore";
    const url = await bigDatabase("cancel_live");
    const file = await backupOf(url, dir);
    await pg.query("cancel_live", "CREATE TABLE marker AS SELECT 1 AS still_here");
    const r = await lifeline(
      ["restore", "--backup-file", file, "--force"],
      { DATABASE_URL: url, PUSHGATEWAY_URL: gateway.url, PUSHGATEWAY_JOB: job },
      { signal: "SIGTERM", when: /Restoring .* over "cancel_live"/ },
    );
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(
      /lifeline restore: The restore was cancelled; "cancel_live" was not touched \(SIGTERM\)/,
    );
    expect(await pg.query("cancel_live", "SELECT still_here FROM marker")).toEqual([{ still_here: 1 }]);
    expect(await gauge(job, "backup_restore_last_status")).toBe(143);
    const leftovers = await pg.query(
      "postgres",
      "SELECT datname FROM pg_database WHERE datname LIKE 'cancel_live_%'",
    );
    expect(leftovers).toEqual([]);
  }, 240_000);

  it("backup-db: SIGTERM mid-dump exits 143 and records backup_last_status 143; SIGINT exits 130", async () => {
    const dir = await tempDir("cancel-backup");
    const job = "cancel_backup";
    const url = await bigDatabase("cancel_backup_src");
    for (const [signal, code] of [
      ["SIGTERM", 143],
      ["SIGINT", 130],
    ] as const) {
      const r = await lifeline(
        ["backup-db", "--backup-dir", dir, "--compression-level", "9"],
        { DATABASE_URL: url, PUSHGATEWAY_URL: gateway.url, PUSHGATEWAY_JOB: job },
        { signal, when: /Server PostgreSQL/ },
      );
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(/lifeline backup-db: .*cancelled/i);
      expect(await gauge(job, "backup_last_status")).toBe(code);
      expect(await gauge(job, "backup_last_success_timestamp")).toBeUndefined();
      expect(await readdir(path.join(dir, "daily"))).toEqual([]);
    }
  }, 240_000);
});

describe("exit status classes, in every command", () => {
  it("64 usage, 78 configuration, documented in each command's --help", async () => {
    for (const command of ["backup-db", "verify", "restore", "lifecycle"]) {
      const usage = await lifeline([command, "--no-such-flag"], {});
      expect(usage.code, command).toBe(64);
      const help = await lifeline([command, "--help"], {});
      expect(help.code).toBe(0);
      expect(help.stdout, command).toMatch(/64 invalid usage/);
      expect(help.stdout, command).toMatch(/78 invalid configuration/);
      expect(help.stdout, command).toMatch(/130 cancelled by SIGINT; 143 cancelled by SIGTERM/);
    }
    const config: [string[], Record<string, string>][] = [
      [["backup-db"], {}],
      [["backup-db", "--verify-only", "--max-age-hours", "0"], {}],
      [["verify", "--compression", "x"], {}],
      [["verify", "--check-sql", "x.sql"], {}],
      [["restore", "--backup-file", "/x.sql.gz", "--force"], { DATABASE_URL: "mysql://h/db" }],
      [["restore", "--force"], { DATABASE_URL: "postgresql://h/db" }],
      [["lifecycle"], {}],
    ];
    for (const [args, env] of config) {
      const r = await lifeline(args, env);
      // --compression is not a verify flag: that one is usage.
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(args.includes("--compression") ? 64 : 78);
    }
  }, 240_000);
});
