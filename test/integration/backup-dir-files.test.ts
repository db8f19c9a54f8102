import { closeSync, constants, openSync } from "node:fs";
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { LOCK_FILE } from "../../src/fs/dir-lock.js";
import { verifyLocalBackups } from "../../src/verify/verify-backups.js";
import {
  capturingLogger,
  isRoot,
  listTree,
  mountTmpfs,
  usePostgres,
  useTempDirs,
} from "../support/fixtures.js";
import { execFileAsync } from "../support/services/service.js";

const postgres = usePostgres();
const tempDir = useTempDirs();

const config = (vars: Record<string, string>) => loadBackupDbConfig(environmentLookup(vars));

/** Runs a backup; returns its error (or undefined), what it logged and how long it took. */
async function run(vars: Record<string, string>, now: string) {
  const { logger, lines } = capturingLogger();
  const started = Date.now();
  const error = await backupDatabase(config(vars), { logger, now: () => new Date(now) }).then(
    () => undefined,
    (err: Error) => err,
  );
  return { error, lines, ms: Date.now() - started };
}

/** An earlier backup with a sidecar sha256sum accepts. */
async function pastBackup(dir: string, tier: string, fileName: string) {
  await mkdir(path.join(dir, tier), { recursive: true });
  await writeFile(path.join(dir, tier, fileName), `old backup ${fileName}`);
  const { stdout } = await execFileAsync("sha256sum", [fileName], { cwd: path.join(dir, tier) });
  await writeFile(path.join(dir, tier, `${fileName}.sha256`), stdout);
}

/**
 * Lets a reader blocked on one of the FIFOs go (open for writing without blocking, then close: the
 * reader sees end of file), from `afterMs` on, so that code which opens them finishes late instead of
 * hanging the test file forever. Code that never opens a FIFO never meets it.
 */
function releaseFifoReadersAfter(fifos: readonly string[], afterMs: number): () => void {
  let interval: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    interval = setInterval(() => {
      for (const fifo of fifos) {
        try {
          closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
        } catch {} // ENXIO: nobody is reading it
      }
    }, 200);
  }, afterMs);
  return () => {
    clearTimeout(timer);
    clearInterval(interval);
  };
}

async function waitFor<T>(fn: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const value = await fn();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("condition not met within 20 s");
}

describe("entries of BACKUP_DIR that are not regular files", () => {
  it("a FIFO as an old backup's .sha256, a FIFO, a link and a directory named like backups: backup-db finishes in seconds naming each, verify fails each by name", async () => {
    const pg = postgres();
    const dir = await tempDir("fifo");
    const daily = path.join(dir, "daily");
    await pastBackup(dir, "daily", "app_daily_20241101_020000.sql.gz");
    const sidecarFifo = path.join(daily, "app_daily_20241101_020000.sql.gz.sha256");
    await rm(sidecarFifo);
    await execFileAsync("mkfifo", [sidecarFifo]);
    const dataFifo = path.join(daily, "app_daily_20241102_020000.sql.gz");
    await execFileAsync("mkfifo", [dataFifo]);
    await pastBackup(dir, "daily", "app_daily_20241029_020000.sql.gz");
    await symlink(
      path.join(daily, "app_daily_20241029_020000.sql.gz"),
      path.join(daily, "app_daily_20241031_020000.sql.gz"),
    );
    await mkdir(path.join(daily, "app_daily_20241030_020000.sql.gz"));
    const release = releaseFifoReadersAfter([sidecarFifo, dataFifo], 15_000);
    try {
      const backup = await run(
        { DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir, BACKUP_PREFIX: "app" },
        "2024-11-03T02:00:00Z",
      );
      expect(backup.error).toBeUndefined();
      expect(backup.ms).toBeLessThan(10_000);
      const warnings = backup.lines.filter((l) => l.startsWith("warn: retention daily: report"));
      expect(warnings).toEqual([
        "warn: retention daily: report app_daily_20241102_020000.sql.gz: does not count as a backup (a FIFO (named pipe), not a regular file); left in place",
        `warn: retention daily: report app_daily_20241101_020000.sql.gz: does not count as a backup (its sidecar app_daily_20241101_020000.sql.gz.sha256 is a FIFO (named pipe), not a regular file: remove it); left in place`,
        "warn: retention daily: report app_daily_20241031_020000.sql.gz: does not count as a backup (a symbolic link, not a regular file); left in place",
        "warn: retention daily: report app_daily_20241030_020000.sql.gz: does not count as a backup (a directory, not a regular file); left in place",
      ]);

      const { logger } = capturingLogger();
      const started = Date.now();
      const report = await verifyLocalBackups(dir, {
        prefix: "app",
        maxAgeHours: 26,
        now: new Date("2024-11-03T03:00:00Z"),
        logger,
      });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(report.exitCode).toBe(1);
      const daily = report.checks.filter((c) => c.name.tier === "daily");
      expect(daily.map((c) => [path.basename(c.file), c.ok])).toEqual([
        ["app_daily_20241103_020000.sql.gz", true],
        ["app_daily_20241102_020000.sql.gz", false],
        ["app_daily_20241101_020000.sql.gz", false],
        ["app_daily_20241031_020000.sql.gz", false],
        ["app_daily_20241030_020000.sql.gz", false],
        ["app_daily_20241029_020000.sql.gz", false], // an old backup made by hand: no trailer
      ]);
      expect(daily[1]!.problem).toBe(
        `${dataFifo} is a FIFO (named pipe), not a regular file: Lifeline reads only regular files in a backup directory; remove it or put the real file in its place`,
      );
      expect(daily[2]!.problem).toMatch(
        /^cannot read its \.sha256 sidecar: .*app_daily_20241101_020000\.sql\.gz\.sha256 is a FIFO \(named pipe\), not a regular file/,
      );
      expect(daily[3]!.problem).toMatch(
        /app_daily_20241031_020000\.sql\.gz is a symbolic link, not a regular file: .*does not follow links there/,
      );
      expect(daily[4]!.problem).toMatch(
        /app_daily_20241030_020000\.sql\.gz is a directory, not a regular file/,
      );
    } finally {
      release();
    }
  });

  it("a FIFO in place of the lock file is named, not waited on", async () => {
    const pg = postgres();
    const dir = await tempDir("fifolock");
    await mkdir(dir, { recursive: true });
    const lock = path.join(dir, LOCK_FILE);
    await execFileAsync("mkfifo", [lock]);
    const release = releaseFifoReadersAfter([lock], 15_000);
    try {
      const { error, ms } = await run(
        { DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir },
        "2024-11-03T02:00:00Z",
      );
      expect(ms).toBeLessThan(10_000);
      expect(error?.message).toBe(
        `${lock} is a FIFO (named pipe), not a regular file: Lifeline reads only regular files in a backup directory; remove it or put the real file in its place`,
      );
    } finally {
      release();
    }
  });
});

describe("file name lengths", () => {
  it("a BACKUP_PREFIX too long for the filesystem is refused before the dump, naming the setting, its length and the maximum", async () => {
    const pg = postgres();
    const dir = await tempDir("longprefix");
    const tooLong = await run(
      { DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir, BACKUP_PREFIX: "p".repeat(190) },
      "2024-11-03T02:00:00Z",
    );
    expect(tooLong.error?.name).toBe("ConfigError");
    expect(tooLong.error?.message).toMatch(
      /^BACKUP_PREFIX \(--prefix\) is 190 characters long: the longest file name a backup with it makes .* would be 261 characters, over the 255 the filesystem of '.*\/daily' accepts\. Set BACKUP_PREFIX to at most 184 characters$/,
    );
    expect(tooLong.lines.some((l) => l.includes("Dumped"))).toBe(false);
    expect((await listTree(path.join(dir, "daily"))).length).toBe(0);

    // The longest prefix it names works, in every tier, each file with its sidecar and manifest.
    const longest = "p".repeat(184);
    const ok = await run(
      { DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir, BACKUP_PREFIX: longest },
      "2024-11-03T02:00:00Z",
    );
    expect(ok.error).toBeUndefined();
    const files = (await listTree(dir)).filter((f) => !f.startsWith("logs/"));
    expect(files).toEqual(
      ["daily", "monthly", "weekly"].flatMap((tier) => {
        const base = `${tier}/${longest}_${tier}_20241103_020000.sql.gz`;
        return [base, `${base}.manifest.json`, `${base}.sha256`];
      }),
    );
  });

  it("a manifest that cannot be written leaves no backup under its final name, daily or tier copy", async () => {
    const pg = postgres();
    await pg.createDatabase("slow");
    await pg.query(
      "slow",
      "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 4) AS t FROM generate_series(1, 200000) g",
    );
    const dir = await tempDir("nomanifest");
    const vars = {
      DATABASE_URL: pg.url("slow"),
      BACKUP_DIR: dir,
      BACKUP_PREFIX: "app",
      BACKUP_COMPRESSION_LEVEL: "9",
    };
    const daily = path.join(dir, "daily");
    const name = "app_daily_20241103_020000.sql.gz";
    // Once the dump streams into its partial file (not the directory probes' partials), something takes
    // the manifest's name.
    const blocking = (async () => {
      await waitFor(async () => (await listTree(daily)).find((f) => /^\.app_daily_.*\.partial-/.test(f)));
      await mkdir(path.join(daily, `${name}.manifest.json`));
    })();
    const failed = await run(vars, "2024-11-03T02:00:00Z");
    await blocking;
    expect(failed.error?.message).toMatch(
      new RegExp(`^Refusing to overwrite .*${name}\\.manifest\\.json: .*; this backup was not kept`),
    );
    expect(failed.lines.some((l) => l.startsWith("info: Dumped"))).toBe(true);
    expect(await listTree(daily)).toEqual([]); // only the directory that took the name, which is empty
    await rm(path.join(daily, `${name}.manifest.json`), { recursive: true });

    // A tier copy likewise: the daily is kept, the weekly copy is not filed without its manifest.
    const weekly = path.join(dir, "weekly");
    await mkdir(weekly, { recursive: true });
    const weeklyName = "app_weekly_20241110_020000.sql.gz";
    const blockingWeekly = (async () => {
      await waitFor(async () => (await listTree(daily)).find((f) => /^\.app_daily_.*\.partial-/.test(f)));
      await mkdir(path.join(weekly, `${weeklyName}.manifest.json`));
    })();
    const tierFailed = await run(vars, "2024-11-10T02:00:00Z");
    await blockingWeekly;
    expect(tierFailed.error).toBeUndefined();
    expect(
      tierFailed.lines.some((l) =>
        /^error: Could not file the backup under weekly\/monthly: Refusing to overwrite/.test(l),
      ),
    ).toBe(true);
    expect(await listTree(weekly)).toEqual([]);
    expect(await listTree(daily)).toEqual([
      "app_daily_20241110_020000.sql.gz",
      "app_daily_20241110_020000.sql.gz.manifest.json",
      "app_daily_20241110_020000.sql.gz.sha256",
    ]);
  });
});

describe("two runs in the same second", () => {
  it("the second is refused before it dumps anything", async () => {
    const pg = postgres();
    const dir = await tempDir("samesecond");
    const vars = { DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir, BACKUP_PREFIX: "app" };
    const first = await run(vars, "2024-11-03T02:00:00Z");
    expect(first.error).toBeUndefined();
    const before = await listTree(dir);
    const second = await run(vars, "2024-11-03T02:00:00Z");
    expect(second.error?.message).toBe(
      `${path.join(dir, "daily", "app_daily_20241103_020000.sql.gz")} already exists: another backup already has this name ` +
        "(taken in the same second, names have a one-second resolution). Wait a second and run again; nothing was dumped",
    );
    // A dump of even this small database takes longer than refusing; the bound allows a loaded machine.
    expect(second.ms).toBeLessThan(5_000);
    expect(second.lines.some((l) => l.includes("Dumped"))).toBe(false);
    expect((await listTree(dir)).filter((f) => !f.startsWith("logs/"))).toEqual(
      before.filter((f) => !f.startsWith("logs/")),
    );
  });
});

describe("the lock file", () => {
  it("an empty lock left by a crash is taken over at once, with a warning", async () => {
    const pg = postgres();
    const dir = await tempDir("emptylock");
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, LOCK_FILE), "");
    const { error, lines } = await run(
      { DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir },
      "2024-11-03T02:00:00Z",
    );
    expect(error).toBeUndefined();
    expect(
      lines.some((l) =>
        /^warn: Taking over an unreadable lock file .*\.lifeline\.lock \(empty, \d+ s old\)/.test(l),
      ),
    ).toBe(true);
    expect(await listTree(dir)).not.toContain(LOCK_FILE);
  });

  it.runIf(isRoot)(
    "a disk full before the run: a clear message, no lock left, and the next run proceeds at once",
    async () => {
      const pg = postgres();
      const dir = path.join(await tempDir("diskfull"), "backups");
      const unmount = await mountTmpfs(dir, { sizeKb: 1024 });
      try {
        const filler = path.join(dir, "filler");
        await execFileAsync("bash", [
          "-c",
          'dd if=/dev/zero of="$1" bs=64k 2>/dev/null; true',
          "fill",
          filler,
        ]);
        const full = await run({ DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir }, "2024-11-03T02:00:00Z");
        expect(full.error?.message).toBe(
          `No space left on the device of BACKUP_DIR '${dir}' while writing its lock file ${LOCK_FILE}: ` +
            `free space (df -h ${dir}), e.g. by lowering the retention, then run again`,
        );
        const left = await listTree(dir);
        expect(left).not.toContain(LOCK_FILE);
        expect(left.filter((f) => path.basename(f).startsWith("."))).toEqual([]);

        await rm(filler);
        const next = await run({ DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir }, "2024-11-03T02:00:01Z");
        expect(next.error).toBeUndefined();
        expect(
          await readFile(path.join(dir, "daily", "postgres_daily_20241103_020001.sql.gz.sha256"), "utf8"),
        ).toMatch(/^[0-9a-f]{64} {2}postgres_daily_20241103_020001\.sql\.gz\n$/);
      } finally {
        await unmount();
      }
    },
  );
});

describe("companions left by a crash before their backup was published", () => {
  it("are removed by the next run with a warning; a companion of an existing backup, or of no backup name, stays", async () => {
    const pg = postgres();
    const dir = await tempDir("orphans");
    await pastBackup(dir, "daily", "app_daily_20241101_020000.sql.gz");
    const daily = path.join(dir, "daily");
    const orphanSidecar = "app_daily_20241102_020000.sql.gz.gpg.sha256";
    const orphanManifest = "app_daily_20241102_020000.sql.gz.gpg.manifest.json";
    await writeFile(
      path.join(daily, orphanSidecar),
      `${"a".repeat(64)}  app_daily_20241102_020000.sql.gz.gpg\n`,
    );
    await writeFile(path.join(daily, orphanManifest), "{}");
    await writeFile(path.join(daily, "notes.txt.sha256"), "not ours");
    const { error, lines } = await run(
      { DATABASE_URL: pg.url("postgres"), BACKUP_DIR: dir, BACKUP_PREFIX: "app" },
      "2024-11-03T02:00:00Z",
    );
    expect(error).toBeUndefined();
    const left = await listTree(daily);
    expect(left).not.toContain(orphanSidecar);
    expect(left).not.toContain(orphanManifest);
    expect(left).toEqual(
      expect.arrayContaining([
        "app_daily_20241101_020000.sql.gz",
        "app_daily_20241101_020000.sql.gz.sha256",
        "notes.txt.sha256",
        "app_daily_20241103_020000.sql.gz",
        "app_daily_20241103_020000.sql.gz.sha256",
        "app_daily_20241103_020000.sql.gz.manifest.json",
      ]),
    );
    expect(lines).toContain(
      `warn: Removed ${orphanSidecar}: its backup file is missing (an earlier run died while publishing it)`,
    );
  });
});
