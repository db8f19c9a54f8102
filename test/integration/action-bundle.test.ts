import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { listTree, usePostgres, useTempDirs } from "../support/fixtures.js";
import { NODE24, runAction, unescapeCommand, withoutMaskCommands } from "../support/run-action.js";
import { seedTranscripts } from "../support/seed.js";

const execFileAsync = promisify(execFile);
const postgres = usePostgres();
const tempDir = useTempDirs();

describe("the committed dist/backup-db bundle, run as the runner runs it", () => {
  it("runs under Node 24", async () => {
    const { stdout } = await execFileAsync(NODE24, ["--version"]);
    expect(stdout).toMatch(/^v24\./);
  });

  it("backs up, sets outputs and writes the job summary", async () => {
    const pg = postgres();
    await pg.createDatabase("transcripts");
    await seedTranscripts(pg, "transcripts", 500);
    const dir = await tempDir("action");

    const run = await runAction("actions/backup-db/action.yml", {
      "database-url": pg.url("transcripts"),
      "backup-dir": dir,
    });

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.outputs["backup-file"]).toMatch(
      new RegExp(`^${dir}/daily/transcripts_daily_\\d{8}_\\d{6}\\.sql\\.gz$`),
    );
    const file = run.outputs["backup-file"]!;
    expect(run.outputs["size-bytes"]).toBe(String((await stat(file)).size));
    expect(run.outputs.sha256).toMatch(/^[0-9a-f]{64}$/);
    const check = await execFileAsync("sha256sum", ["-c", `${path.basename(file)}.sha256`], {
      cwd: path.dirname(file),
    });
    expect(check.stdout).toContain(": OK");
    expect(run.outputs.sha256).toBe((await execFileAsync("sha256sum", [file])).stdout.split(" ")[0]);
    expect(Number(run.outputs["duration-seconds"])).toBeGreaterThan(0);
    expect(run.outputs["manifest-file"]).toBe(`${file}.manifest.json`);

    expect(run.summary).toContain("## ✅ Lifeline backup-db: transcripts");
    expect(run.summary).toMatch(/\| File \| Size \| Duration \| Throughput \| Compression \|/);
    expect(run.summary).toContain(path.basename(file));
    expect(run.summary).toContain(run.outputs.sha256);

    // The password is masked for the runner before anything else is printed, and never printed otherwise.
    const lines = run.stdout.split("\n");
    const firstOther = lines.findIndex((l) => !l.startsWith("::add-mask::"));
    const masked = lines.slice(0, firstOther).map((l) => unescapeCommand(l.slice("::add-mask::".length)));
    expect(masked).toContain(pg.password);
    expect(withoutMaskCommands(run.stdout)).not.toContain(pg.password);
    expect(run.summary).not.toContain(pg.password);
  });

  it("falls back to the runbook's environment variables when inputs are empty", async () => {
    const pg = postgres();
    const dir = await tempDir("envfallback");
    const run = await runAction(
      "actions/backup-db/action.yml",
      {},
      { DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir },
    );
    expect(run.code).toBe(0);
    expect(run.outputs["backup-file"]).toMatch(new RegExp(`^${dir}/daily/postgres_daily_`));
  });

  it("fails with the cause in an error annotation and a failure summary, leaving no file", async () => {
    const pg = postgres();
    const dir = await tempDir("actionfail");
    const wrong = "definitely-wrong-pw";
    const run = await runAction("actions/backup-db/action.yml", {
      "database-url": `postgresql+psycopg://${pg.user}:${wrong}@${pg.host}:${pg.port}/postgres`,
      "backup-dir": dir,
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /::error::Cannot connect to PostgreSQL at 127\.0\.0\.1:\d+, database "postgres": password authentication failed/,
    );
    expect(run.summary).toContain("## ❌ Lifeline backup-db failed");
    expect(run.summary).toContain("password authentication failed");
    expect(run.outputs).toEqual({});
    expect((await listTree(path.join(dir, "daily"))).length).toBe(0);
    expect(withoutMaskCommands(run.stdout)).not.toContain(wrong);
    expect(run.summary).not.toContain(wrong);
  });

  it("names a bad input in the failure", async () => {
    const run = await runAction("actions/backup-db/action.yml", {
      "database-url": "postgresql://u:p@h/db",
      "retention-daily": "a week",
    });
    expect(run.code).toBe(78); // configuration errors have their own exit status

    expect(run.stdout).toContain(
      "::error::Invalid input 'retention-daily' 'a week'. Expected a whole number from 1 to 36500 (days)",
    );
  });
});

describe("every action records a failed run, and exits 78 on configuration", () => {
  it("backup-db, verify and restore: a config failure or a refusal sets the status, keeps the success timestamp", async () => {
    const pg = postgres();
    const dir = await tempDir("actionmetrics");
    const textfile = path.join(dir, "lifeline.prom");
    const gauge = async (name: string) =>
      /(\S+)$/.exec(
        (await readFile(textfile, "utf8")).split("\n").find((l) => l.startsWith(`${name}{`)) ?? "",
      )?.[1];
    const ok = await runAction("actions/backup-db/action.yml", {
      "database-url": pg.url("postgres"),
      "backup-dir": dir,
      "metrics-textfile": textfile,
    });
    expect(ok.code).toBe(0);
    const success = await gauge("backup_last_success_timestamp");
    expect(Number(success)).toBeGreaterThan(1e9);
    const backup = await runAction("actions/backup-db/action.yml", {
      "database-url": "postgresql:user:pw@host:5432/db",
      "backup-dir": dir,
      "metrics-textfile": textfile,
    });
    expect(backup.code).toBe(78);
    expect(await gauge("backup_last_status")).toBe("78");
    expect(await gauge("backup_last_success_timestamp")).toBe(success);

    const verify = await runAction("actions/verify/action.yml", {
      "backup-dir": dir,
      prefix: "-bad",
      "metrics-textfile": textfile,
    });
    expect(verify.code).toBe(78);
    expect(verify.summary).toContain("## ❌ Lifeline verify failed");
    expect(await gauge("backup_verify_last_status")).toBe("78");

    const file = (await listTree(path.join(dir, "daily"))).find((f) => f.endsWith(".sql.gz"))!;
    const refused = await runAction("actions/restore/action.yml", {
      "database-url": pg.url("postgres"),
      "backup-file": path.join(dir, "daily", path.basename(file)),
      "metrics-textfile": textfile,
    });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("::error::Refusing to replace the database 'postgres'");
    expect(await gauge("backup_restore_last_status")).toBe("1");
    const missing = await runAction("actions/restore/action.yml", {
      "backup-file": path.join(dir, "daily", path.basename(file)),
      "metrics-textfile": textfile,
    });
    expect(missing.code).toBe(78);
    expect(await gauge("backup_restore_last_status")).toBe("78");
    expect(await gauge("backup_last_success_timestamp")).toBe(success);
  });

  it("a cancelled verify action (SIGINT mid test restore) exits 130, its summary says cancelled, its metrics 130", async () => {
    const pg = postgres();
    await pg.createDatabase("cancelact");
    await pg.query(
      "cancelact",
      "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 8) AS t FROM generate_series(1, 400000) g",
    );
    const dir = await tempDir("actioncancel");
    const textfile = path.join(dir, "lifeline.prom");
    const backup = await runAction("actions/backup-db/action.yml", {
      "database-url": pg.url("cancelact"),
      "backup-dir": dir,
      "compression-level": "1",
    });
    expect(backup.code).toBe(0);
    const run = await runAction(
      "actions/verify/action.yml",
      {
        "database-url": pg.url("postgres"),
        "backup-dir": dir,
        "test-restore": "true",
        "metrics-textfile": textfile,
      },
      {},
      { signal: "SIGINT", when: /Test restore of .* into the scratch database/ },
    );
    expect(run.code).toBe(130);
    expect(run.stdout).toMatch(/::error::The test restore of .* was cancelled \(SIGINT\)/);
    expect(run.summary).toContain("## ⏹️ Lifeline verify cancelled");
    expect(run.outputs["exit-code"]).toBeUndefined();
    expect(await readFile(textfile, "utf8")).toContain('backup_verify_last_status{type="database"} 130');
    expect(await readFile(textfile, "utf8")).not.toContain("backup_verify_last_success_timestamp");
  }, 240_000);

  it("a cancelled backup-db (SIGTERM mid-dump) and restore (SIGTERM mid-restore) exit 143, summaries say cancelled", async () => {
    const pg = postgres();
    await pg.createDatabase("cancelact2");
    await pg.query(
      "cancelact2",
      "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 8) AS t FROM generate_series(1, 400000) g",
    );
    const dir = await tempDir("actioncancel2");
    const textfile = path.join(dir, "lifeline.prom");
    const backup = await runAction(
      "actions/backup-db/action.yml",
      {
        "database-url": pg.url("cancelact2"),
        "backup-dir": dir,
        "compression-level": "9",
        "metrics-textfile": textfile,
      },
      {},
      { signal: "SIGTERM", when: /Server PostgreSQL/ },
    );
    expect(backup.code).toBe(143);
    expect(backup.summary).toContain("## ⏹️ Lifeline backup-db cancelled");
    expect(await readFile(textfile, "utf8")).toContain('backup_last_status{type="database"} 143');
    expect(await listTree(path.join(dir, "daily"))).toEqual([]);

    const good = await runAction("actions/backup-db/action.yml", {
      "database-url": pg.url("cancelact2"),
      "backup-dir": dir,
      "compression-level": "1",
    });
    expect(good.code).toBe(0);
    await pg.query("cancelact2", "CREATE TABLE marker AS SELECT 1 AS still_here");
    const restore = await runAction(
      "actions/restore/action.yml",
      {
        "database-url": pg.url("cancelact2"),
        "backup-file": good.outputs["backup-file"]!,
        confirm: "cancelact2",
        "metrics-textfile": textfile,
      },
      {},
      { signal: "SIGTERM", when: /Restoring .* over "cancelact2"/ },
    );
    expect(restore.code).toBe(143);
    expect(restore.stdout).toMatch(
      /::error::The restore was cancelled; "cancelact2" was not touched \(SIGTERM\)/,
    );
    expect(restore.summary).toContain("## ⏹️ Lifeline restore cancelled");
    expect(await readFile(textfile, "utf8")).toContain('backup_restore_last_status{type="database"} 143');
    expect(await pg.query("cancelact2", "SELECT still_here FROM marker")).toEqual([{ still_here: 1 }]);
  }, 240_000);
});

describe("the root action dispatches on command", () => {
  it("runs backup-db", async () => {
    const pg = postgres();
    const dir = await tempDir("root");
    const run = await runAction("action.yml", {
      command: "backup-db",
      "database-url": pg.url("postgres"),
      "backup-dir": dir,
    });
    expect(run.code).toBe(0);
    expect(run.outputs["backup-file"]).toMatch(/postgres_daily_\d{8}_\d{6}\.sql\.gz$/);
  });

  it("refuses an unknown command, naming the valid ones", async () => {
    const run = await runAction("action.yml", { command: "backup-everything" });
    expect(run.code).toBe(78); // an invalid input: a configuration error
    expect(run.stdout).toContain(
      "::error::Invalid input 'command': 'backup-everything'. Expected one of: backup-db, backup-media, verify, restore",
    );
  });

  it("verify-only sets outputs and fails with the runbook's exit code when backups are missing", async () => {
    const dir = await tempDir("actionverify");
    const run = await runAction("actions/backup-db/action.yml", { "verify-only": "true", "backup-dir": dir });
    expect(run.code).toBe(2);
    expect(run.outputs).toMatchObject({ "verified-count": "0", "failed-count": "0", "exit-code": "2" });
    expect(run.stdout).toMatch(/::error::no good daily backup in /);
    expect(run.summary).toContain("## ❌ Lifeline verify: 0 of 0 backups good, exit 2");
  });
});
