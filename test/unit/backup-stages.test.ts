import { createHash } from "node:crypto";
import { chmod, mkdir, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fileTiers } from "../../src/backup/stages/file-tiers.js";
import { OutgoingBackup } from "../../src/backup/stages/outgoing.js";
import { prepare, removeLeftovers } from "../../src/backup/stages/prepare.js";
import { retainLocal } from "../../src/backup/stages/retain.js";
import { BackupName } from "../../src/catalog/backup-name.js";
import { CHECKSUM_SUFFIX, checksumLine, MANIFEST_SUFFIX } from "../../src/catalog/manifest.js";
import { LOCK_FILE } from "../../src/fs/dir-lock.js";
import type { Logger } from "../../src/log/logger.js";
import { extensionFor } from "../../src/stream/compression.js";
import { capturingLogger, useTempDirs } from "../support/fixtures.js";

const tempDir = useTempDirs();
const at = new Date("2026-03-02T03:04:05Z");
const schedule = { weeklyDay: 1, monthlyDay: 1 } as const;

function options(backupDir: string, logger: Logger) {
  return {
    backupDir,
    workDir: "daily",
    workDirWhat: "Backup directory",
    logName: "backup",
    owner: "backup-db",
    startedAt: at,
    logger,
  };
}

describe("prepare", () => {
  it("creates the backup directory, its work folder and logs/, logs to the day's file and holds the lock until release", async () => {
    const backupDir = path.join(await tempDir("stages-prepare"), "new");
    const { logger } = capturingLogger();
    const run = await prepare(options(backupDir, logger));
    expect(run.workDir).toBe(path.join(backupDir, "daily"));
    expect(run.logFile).toBe(path.join(backupDir, "logs", "backup_20260302.log"));
    expect((await readdir(backupDir)).sort()).toEqual([LOCK_FILE, "daily", "logs"].sort());
    logger.info("a line of this run");
    await run.release();
    expect(await readdir(backupDir)).not.toContain(LOCK_FILE);
    logger.info("after the run");
    const log = await readFile(run.logFile, "utf8");
    expect(log).toContain("a line of this run");
    expect(log).not.toContain("after the run");
  });

  it("refuses a second run of the same directory while the lock is held, and keeps why in the day's log", async () => {
    const backupDir = await tempDir("stages-lock");
    const first = await prepare(options(backupDir, capturingLogger().logger));
    const second = capturingLogger();
    await expect(prepare(options(backupDir, second.logger))).rejects.toThrow(
      new RegExp(`^Another Lifeline run holds ${backupDir}: pid ${process.pid} `),
    );
    expect(await readFile(first.logFile, "utf8")).toMatch(/ ERROR Another Lifeline run holds /);
    // The refused run closed its log file and holds nothing: the first run's lock is untouched.
    second.logger.info("after the refusal");
    expect(await readFile(first.logFile, "utf8")).not.toContain("after the refusal");
    expect(await readdir(backupDir)).toContain(LOCK_FILE);
    await first.release();
    const third = await prepare(options(backupDir, capturingLogger().logger));
    await third.release();
  });

  it("names the directory that cannot be created or written and what to do, before taking any lock", async () => {
    const parent = await tempDir("stages-notdir");
    const backupDir = path.join(parent, "backups");
    await writeFile(backupDir, "a file where the directory should be");
    await expect(prepare(options(backupDir, capturingLogger().logger))).rejects.toThrow(
      `BACKUP_DIR '${backupDir}' is not writable`,
    );
    const other = await tempDir("stages-dailyfile");
    await writeFile(path.join(other, "daily"), "not a folder");
    await expect(prepare(options(other, capturingLogger().logger))).rejects.toThrow(
      `Backup directory '${path.join(other, "daily")}' is not writable`,
    );
    expect((await readdir(other)).sort()).toEqual(["daily"]);
  });

  it.skipIf(process.getuid?.() === 0)("refuses a read-only backup directory", async () => {
    const backupDir = await tempDir("stages-readonly");
    await chmod(backupDir, 0o500);
    try {
      await expect(prepare(options(backupDir, capturingLogger().logger))).rejects.toThrow(
        `BACKUP_DIR '${backupDir}' is not writable`,
      );
    } finally {
      await chmod(backupDir, 0o700);
    }
  });
});

describe("removeLeftovers", () => {
  it("removes partial files and companions whose backup is missing, and keeps whole backups", async () => {
    const dir = await tempDir("stages-leftovers");
    const kept = "app_daily_20260301_030405.sql.gz";
    const lost = "app_daily_20260228_030405.sql.gz";
    await writeFile(path.join(dir, kept), "data");
    await writeFile(path.join(dir, `${kept}${CHECKSUM_SUFFIX}`), "sum");
    await writeFile(path.join(dir, `${lost}${MANIFEST_SUFFIX}`), "{}");
    // Older than the run: a companion written this very moment may be one being published.
    const earlier = new Date(Date.now() - 60_000);
    await utimes(path.join(dir, `${lost}${MANIFEST_SUFFIX}`), earlier, earlier);
    await writeFile(path.join(dir, `.${kept}.partial-123-abcd`), "half");
    const { logger, lines } = capturingLogger();
    await removeLeftovers(
      dir,
      [MANIFEST_SUFFIX, CHECKSUM_SUFFIX],
      (f) => BackupName.parse(f) !== undefined,
      logger,
    );
    expect((await readdir(dir)).sort()).toEqual([kept, `${kept}${CHECKSUM_SUFFIX}`]);
    expect(lines.join("\n")).toContain("Removed a partial file left by an earlier run that died");
    expect(lines.join("\n")).toContain(`its backup file is missing`);
  });
});

/** A published daily backup with its manifest and sidecar, as the publish stage leaves it. */
async function dailyBackup(backupDir: string): Promise<{ file: string; name: BackupName; sha256: string }> {
  const name = new BackupName("app", "daily", at, extensionFor("plain", "gzip"), false);
  const file = path.join(backupDir, "daily", name.toString());
  await mkdir(path.dirname(file), { recursive: true });
  const data = "pretend dump";
  const sha256 = createHash("sha256").update(data).digest("hex");
  await writeFile(file, data);
  await writeFile(`${file}${MANIFEST_SUFFIX}`, JSON.stringify({ file: name.toString(), tier: "daily" }));
  await writeFile(`${file}${CHECKSUM_SUFFIX}`, checksumLine(sha256, name.toString()));
  return { file, name, sha256 };
}

describe("fileTiers", () => {
  it("files the daily backup under each tier due, with its own sidecar and manifest", async () => {
    const backupDir = await tempDir("stages-tiers");
    const { file, name, sha256 } = await dailyBackup(backupDir);
    const { logger, lines } = capturingLogger();
    const tiers = await fileTiers(backupDir, file, name, ["weekly", "monthly"], sha256, logger);
    const weekly = path.join(backupDir, "weekly", name.withTier("weekly").toString());
    const monthly = path.join(backupDir, "monthly", name.withTier("monthly").toString());
    expect(tiers).toEqual([
      { tier: "daily", file },
      { tier: "weekly", file: weekly },
      { tier: "monthly", file: monthly },
    ]);
    expect(await readFile(weekly, "utf8")).toBe("pretend dump");
    expect(await readFile(`${weekly}${CHECKSUM_SUFFIX}`, "utf8")).toBe(
      checksumLine(sha256, name.withTier("weekly").toString()),
    );
    expect(JSON.parse(await readFile(`${monthly}${MANIFEST_SUFFIX}`, "utf8"))).toEqual({
      file: name.withTier("monthly").toString(),
      tier: "monthly",
    });
    expect(lines).toContain(`info: Filed as weekly: ${weekly}`);
  });

  it("reports a tier it could not file and keeps the daily backup and the tiers filed before it", async () => {
    const backupDir = await tempDir("stages-tiers-fail");
    const { file, name, sha256 } = await dailyBackup(backupDir);
    await writeFile(path.join(backupDir, "monthly"), "a file where the monthly folder should be");
    const { logger, lines } = capturingLogger();
    const tiers = await fileTiers(backupDir, file, name, ["weekly", "monthly"], sha256, logger);
    expect(tiers.map((t) => t.tier)).toEqual(["daily", "weekly"]);
    expect(lines.filter((l) => l.startsWith("error: "))).toEqual([
      expect.stringMatching(
        /^error: Could not file the backup under weekly\/monthly: .*; the daily backup is intact$/,
      ),
    ]);
    expect((await stat(file)).size).toBe("pretend dump".length);
  });
});

describe("retainLocal", () => {
  it("returns a retention failure as the outcome, logged, instead of failing the run", async () => {
    const backupDir = await tempDir("stages-retain");
    await writeFile(path.join(backupDir, "daily"), "a file where the daily folder should be");
    const { logger, lines } = capturingLogger();
    const outcome = await retainLocal(backupDir, at, {
      prefix: "app",
      policy: { daily: 7, weekly: 4, monthly: 12 },
      schedule,
      dryRun: false,
      tiers: ["daily"],
      logger,
    });
    expect(outcome).toEqual({ error: expect.any(String) });
    expect(lines).toContain(
      `error: Retention failed, nothing more was deleted: ${(outcome as { error: string }).error}`,
    );
  });
});

describe("OutgoingBackup", () => {
  const targets = (file: string, name: BackupName) => ({
    file,
    name,
    due: [],
    holdings: new Map(),
    schedule,
    encrypted: false,
    previousSizeBytes: undefined,
    stallTimeoutMs: 1000,
  });

  it("never leaves the partial file under a final name when abandoned, and abandons once", async () => {
    const dir = await tempDir("stages-outgoing");
    const name = new BackupName("app", "daily", at, "sql", false);
    const file = path.join(dir, name.toString());
    const outgoing = await OutgoingBackup.open(targets(file, name), capturingLogger().logger);
    expect(outgoing.fanOut).toBeUndefined();
    outgoing.output.stream.write("half a dump");
    const [partial] = await readdir(dir);
    expect(partial).toMatch(new RegExp(`^\\.${name.toString().replaceAll(".", "\\.")}\\.partial-`));
    await outgoing.abandon(new Error("pg_dump failed"));
    await outgoing.abandon(new Error("again"));
    expect(await readdir(dir)).toEqual([]);
  });

  it("removes the partial file when the uploads cannot be started", async () => {
    const dir = await tempDir("stages-no-start");
    const name = new BackupName("app", "daily", at, "sql", false);
    const file = path.join(dir, name.toString());
    // holdings that cannot even be read: startUploads throws before any upload exists
    const unreadable: ReturnType<typeof targets>["holdings"] = new (class extends Map {
      override [Symbol.iterator](): never {
        throw new Error("holdings unreadable");
      }
    })();
    await expect(
      OutgoingBackup.open({ ...targets(file, name), holdings: unreadable }, capturingLogger().logger),
    ).rejects.toThrow("holdings unreadable");
    expect(await readdir(dir)).toEqual([]);
  });

  it("leaves a published file alone when a later failure abandons the run", async () => {
    const dir = await tempDir("stages-published");
    const name = new BackupName("app", "daily", at, "sql", false);
    const file = path.join(dir, name.toString());
    const outgoing = await OutgoingBackup.open(targets(file, name), capturingLogger().logger);
    outgoing.output.stream.end("a whole dump");
    await outgoing.output.sync();
    await outgoing.publish();
    await outgoing.abandon(new Error("a later stage failed"));
    expect(await readdir(dir)).toEqual([name.toString()]);
    expect(await readFile(file, "utf8")).toBe("a whole dump");
  });
});
