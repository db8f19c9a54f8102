import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import {
  capturingLogger,
  isRoot,
  listTree,
  mountTmpfs,
  readText,
  restoreWithStockTools,
  usePostgres,
  useTempDirs,
} from "../support/fixtures.js";
import { fingerprint, seedTranscripts } from "../support/seed.js";

const execFileAsync = promisify(execFile);
const postgres = usePostgres();
const tempDir = useTempDirs();

function config(vars: Record<string, string>) {
  return loadBackupDbConfig(environmentLookup(vars));
}

/** Runs a backup expected to fail; returns the error and everything logged, for assertions. */
async function failingBackup(vars: Record<string, string>) {
  const { logger, lines } = capturingLogger();
  const error = await backupDatabase(config(vars), { logger }).then(
    () => undefined,
    (err: Error) => err,
  );
  if (!error) throw new Error("expected the backup to fail");
  return { error, lines };
}

describe("backup-db against a real PostgreSQL", () => {
  it("writes a .sql.gz that stock gunzip | psql restores to identical data, with a sidecar sha256sum accepts", async () => {
    const pg = postgres();
    await pg.createDatabase("transcripts");
    await seedTranscripts(pg, "transcripts");
    const dir = await tempDir("backups");
    const { logger, lines } = capturingLogger();

    const result = await backupDatabase(
      config({
        DATABASE_URL: pg.url("transcripts").replace("postgresql://", "postgresql+psycopg://"),
        BACKUP_DIR: dir,
      }),
      { logger, now: () => new Date("2024-10-26T02:00:00Z") },
    );

    expect(path.basename(result.file)).toBe("transcripts_daily_20241026_020000.sql.gz");
    expect(path.dirname(result.file)).toBe(path.join(dir, "daily"));
    // The first backup is also the first weekly and monthly one: the same bytes, filed three times.
    expect(await listTree(dir)).toEqual([
      "daily/transcripts_daily_20241026_020000.sql.gz",
      "daily/transcripts_daily_20241026_020000.sql.gz.manifest.json",
      "daily/transcripts_daily_20241026_020000.sql.gz.sha256",
      "logs/backup_20241026.log",
      "monthly/transcripts_monthly_20241026_020000.sql.gz",
      "monthly/transcripts_monthly_20241026_020000.sql.gz.manifest.json",
      "monthly/transcripts_monthly_20241026_020000.sql.gz.sha256",
      "weekly/transcripts_weekly_20241026_020000.sql.gz",
      "weekly/transcripts_weekly_20241026_020000.sql.gz.manifest.json",
      "weekly/transcripts_weekly_20241026_020000.sql.gz.sha256",
    ]);
    expect(result.tiers.map((t) => t.tier)).toEqual(["daily", "weekly", "monthly"]);

    // sha256sum -c, run the way an operator would, accepts the sidecar.
    const check = await execFileAsync("sha256sum", ["-c", path.basename(result.sidecarFile)], {
      cwd: path.dirname(result.file),
    });
    expect(check.stdout.trim()).toBe("transcripts_daily_20241026_020000.sql.gz: OK");

    // Restored with stock tools, the data equals the source: row counts and content, per table.
    await pg.createDatabase("restored");
    await restoreWithStockTools(pg, result.file, "restored");
    const source = await fingerprint(pg, "transcripts");
    expect(Object.keys(source)).toEqual([
      "audit.events",
      "public.segments",
      "public.transcripts",
      "public.videos",
    ]);
    expect(source["public.segments"]).toMatch(/^2000:/);
    expect(await fingerprint(pg, "restored")).toEqual(source);

    const manifest = JSON.parse(await readText(result.manifestFile));
    expect(manifest).toMatchObject({
      manifestVersion: 2,
      file: "transcripts_daily_20241026_020000.sql.gz",
      database: "transcripts",
      format: "plain",
      compression: { algorithm: "gzip", level: 6 },
      sha256: result.sha256,
      sizeBytes: result.sizeBytes,
      pgDump: { version: expect.stringMatching(/^15\./) },
      server: { versionNum: expect.any(Number) },
    });
    expect(manifest.dumpBytes).toBeGreaterThan(result.sizeBytes);

    const log = await readText(result.logFile);
    expect(log).toContain("Backup written");
    for (const text of [log, ...lines, JSON.stringify(manifest)]) expect(text).not.toContain(pg.password);
  });

  it("honours BACKUP_PREFIX and the PG* environment for parts the URL leaves out", async () => {
    const pg = postgres();
    await pg.createDatabase("prefixed");
    await pg.query("prefixed", "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)");
    const dir = await tempDir("prefix");
    const saved = { ...process.env };
    Object.assign(process.env, {
      PGHOST: pg.host,
      PGPORT: String(pg.port),
      PGUSER: pg.user,
      PGPASSWORD: pg.password,
    });
    try {
      const { logger } = capturingLogger();
      const result = await backupDatabase(
        config({ DATABASE_URL: "postgresql:///prefixed", BACKUP_DIR: dir, BACKUP_PREFIX: "app" }),
        {
          logger,
        },
      );
      expect(path.basename(result.file)).toMatch(/^app_daily_\d{8}_\d{6}\.sql\.gz$/);
      expect(result.database).toBe("prefixed");
    } finally {
      process.env = saved;
    }
  });
});

describe("backup-db refuses bad input clearly and loses nothing", () => {
  /** An earlier backup that every failure must leave byte-for-byte intact. */
  async function dirWithEarlierBackup(label: string) {
    const dir = await tempDir(label);
    return seedEarlierBackup(dir);
  }

  it("DATABASE_URL missing", async () => {
    expect(() => config({ BACKUP_DIR: "/tmp/x" })).toThrow(/DATABASE_URL is not set/);
  });

  it("DATABASE_URL malformed", async () => {
    expect(() => config({ DATABASE_URL: "postgresql://u:topsecret@host:port/db" })).toThrow(
      /DATABASE_URL is not a valid PostgreSQL URL \(the text after the host's ':' is not a port number from 1 to 65535.*\): 'postgresql:\/\/u:\*\*\*@host:port\/db'/,
    );
  });

  it("wrong password", async () => {
    const pg = postgres();
    const earlier = await dirWithEarlierBackup("wrongpw");
    const wrong = "not-the-password-42";
    const { error, lines } = await failingBackup({
      DATABASE_URL: `postgresql://${pg.user}:${wrong}@${pg.host}:${pg.port}/postgres`,
      BACKUP_DIR: earlier.dir,
    });
    expect(error.message).toMatch(
      new RegExp(
        `Cannot connect to PostgreSQL at ${pg.host}:${pg.port}, database "postgres": password authentication failed`,
      ),
    );
    await earlier.assertIntact();
    const log = await readText(await earlier.logFile());
    for (const text of [error.message, log, ...lines]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(pg.password);
    }
  });

  it("unreachable host", async () => {
    const earlier = await dirWithEarlierBackup("unreachable");
    const { error } = await failingBackup({
      DATABASE_URL: "postgresql://u:pw12345@127.0.0.1:1/db",
      BACKUP_DIR: earlier.dir,
    });
    expect(error.message).toMatch(
      /Cannot connect to PostgreSQL at 127\.0\.0\.1:1, database "db": connection refused/,
    );
    expect(error.message).toMatch(/pg_isready/);
    expect(error.message).not.toContain("pw12345");
    await earlier.assertIntact();
  });

  it("database that does not exist", async () => {
    const pg = postgres();
    const earlier = await dirWithEarlierBackup("nodb");
    const { error } = await failingBackup({ DATABASE_URL: pg.url("no_such_db"), BACKUP_DIR: earlier.dir });
    expect(error.message).toMatch(/database "no_such_db": that database does not exist/);
    expect(error.message).not.toContain(pg.password);
    await earlier.assertIntact();
  });

  it("a database name that cannot start a file name, unless BACKUP_PREFIX is set", async () => {
    const pg = postgres();
    await pg.createDatabase("_stage db");
    const dir = await tempDir("badprefix");
    const { error } = await failingBackup({ DATABASE_URL: pg.url("_stage db"), BACKUP_DIR: dir });
    expect(error.message).toMatch(
      /The database name '_stage db' cannot start a backup file name .*set BACKUP_PREFIX/,
    );
    expect((await listTree(path.join(dir, "daily"))).length).toBe(0);
    const { logger } = capturingLogger();
    const ok = await backupDatabase(
      config({ DATABASE_URL: pg.url("_stage db"), BACKUP_DIR: dir, BACKUP_PREFIX: "stage" }),
      { logger },
    );
    expect(path.basename(ok.file)).toMatch(/^stage_daily_/);
  });

  it("BACKUP_DIR under a regular file", async () => {
    const pg = postgres();
    const dir = await tempDir("notdir");
    await writeFile(path.join(dir, "file"), "x");
    const { error } = await failingBackup({
      DATABASE_URL: pg.url("postgres"),
      BACKUP_DIR: path.join(dir, "file", "backups"),
    });
    expect(error.message).toMatch(/BACKUP_DIR '.*\/file\/backups' is not writable \(ENOTDIR\)/);
  });

  it.runIf(isRoot)("BACKUP_DIR on a read-only filesystem", async () => {
    const pg = postgres();
    const dir = path.join(await tempDir("ro"), "backups");
    const unmount = await mountTmpfs(dir, { sizeKb: 1024, readOnly: true });
    try {
      const { error } = await failingBackup({ DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir });
      expect(error.message).toMatch(
        /BACKUP_DIR '.*' is on a read-only filesystem \(EROFS while writing a probe file\): remount it read-write/,
      );
    } finally {
      await unmount();
    }
  });

  it("pg_dump killed mid-stream", async () => {
    const pg = postgres();
    await pg.createDatabase("big");
    await pg.query(
      "big",
      "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 8) AS t FROM generate_series(1, 400000) g",
    );
    const earlier = await dirWithEarlierBackup("killed");
    const { logger } = capturingLogger();
    const running = backupDatabase(
      config({ DATABASE_URL: pg.url("big"), BACKUP_DIR: earlier.dir, BACKUP_COMPRESSION_LEVEL: "9" }),
      {
        logger,
      },
    ).then(
      () => undefined,
      (err: Error) => err,
    );
    // Wait until the dump is really streaming into its partial file (not a directory or name probe's,
    // which are partial-named too and gone at once), then kill pg_dump outright.
    const partial = await waitFor(async () =>
      (await listTree(path.join(earlier.dir, "daily"))).find((f) =>
        /_daily_\d{8}_\d{6}\..*\.partial-/.test(f),
      ),
    );
    await waitFor(
      async () =>
        (await readFile(path.join(earlier.dir, "daily", partial)).catch(() => Buffer.alloc(0))).length > 0,
    );
    await execFileAsync("pkill", ["-KILL", "-P", String(process.pid), "pg_dump"]);
    const error = await running;
    expect(error?.message).toMatch(/pg_dump was killed by SIGKILL/);
    await earlier.assertIntact();
  });

  it.runIf(isRoot)("the disk filling up mid-dump", async () => {
    const pg = postgres();
    await pg.createDatabase("fills");
    await pg.query(
      "fills",
      "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g * 7)::text) AS t FROM generate_series(1, 200000) g",
    );
    const dir = path.join(await tempDir("full"), "backups");
    const unmount = await mountTmpfs(dir, { sizeKb: 2048 });
    try {
      const earlier = await seedEarlierBackup(dir);
      const { error, lines } = await failingBackup({ DATABASE_URL: pg.url("fills"), BACKUP_DIR: dir });
      expect(error.message).toMatch(
        /No space left on the device of BACKUP_DIR '.*' while writing \.fills_daily_\d{8}_\d{6}\.sql\.gz\.partial-\d+-[0-9a-f]+: free space/,
      );
      expect(error.message).toMatch(/the partial file was removed and earlier backups are untouched/);
      await earlier.assertIntact();
      expect(lines.join("\n")).not.toContain(pg.password);
    } finally {
      await unmount();
    }
  });
});

/** Polls until `fn` returns a truthy value (10 s at most). */
async function waitFor<T>(fn: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const value = await fn();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("condition not met within 10 s");
}

/** Puts an earlier backup (data, sidecar) in dir/daily and returns a check that it is untouched. */
async function seedEarlierBackup(dir: string) {
  const daily = path.join(dir, "daily");
  const { mkdir } = await import("node:fs/promises");
  await mkdir(daily, { recursive: true });
  const name = "transcripts_daily_20240101_020000.sql.gz";
  const data = Buffer.from("earlier backup bytes, not to be touched");
  await writeFile(path.join(daily, name), data);
  await writeFile(path.join(daily, `${name}.sha256`), `${"0".repeat(64)}  ${name}\n`);
  const before = await listTree(dir);
  return {
    dir,
    async assertIntact() {
      expect(await readFile(path.join(daily, name))).toEqual(data);
      const after = (await listTree(dir)).filter((f) => !f.startsWith("logs/"));
      expect(after).toEqual(before.filter((f) => !f.startsWith("logs/")));
    },
    async logFile() {
      const logs = (await listTree(path.join(dir, "logs"))).map((f) => path.join(dir, "logs", f));
      return logs[0]!;
    },
  };
}
