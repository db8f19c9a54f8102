import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { BackupName } from "../../src/catalog/backup-name.js";
import { checksumLine } from "../../src/catalog/manifest.js";
import { environmentLookup } from "../../src/config/settings.js";
import { loadVerifyConfig } from "../../src/config/verify-config.js";
import { verifyBackups, verifyLocalBackups } from "../../src/verify/verify-backups.js";
import { capturingLogger, usePostgres, useTempDirs } from "../support/fixtures.js";
import { takeBackup } from "../support/restore.js";

const tempDir = useTempDirs();
const DUMP = gzipSync("SELECT 1;\n-- PostgreSQL database dump complete\n\n");
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const nameAt = (tier: "daily" | "weekly" | "monthly", at: Date) =>
  new BackupName("app", tier, at, "sql.gz").toString();
const now = new Date(Date.UTC(2026, 11, 2, 3));

/** A whole, verifiable backup (real gzip with pg_dump's trailer, sidecar, manifest) in BACKUP_DIR/<tier>/. */
async function whole(dir: string, tier: "daily" | "weekly" | "monthly", at: Date): Promise<string> {
  const file = nameAt(tier, at);
  await mkdir(path.join(dir, tier), { recursive: true });
  await writeFile(path.join(dir, tier, file), DUMP);
  await writeFile(path.join(dir, tier, `${file}.sha256`), checksumLine(sha(DUMP), file));
  await writeFile(
    path.join(dir, tier, `${file}.manifest.json`),
    JSON.stringify({ sha256: sha(DUMP), sizeBytes: DUMP.length }),
  );
  return file;
}

describe("verify against names a tampered directory can hold", () => {
  it("a daily dated in 2099 does not hide that the real newest daily is 10 days old, and fails the run by name", async () => {
    const dir = await tempDir("verify-future");
    await whole(dir, "daily", new Date(now.getTime() - 10 * 86_400_000));
    const future = await whole(dir, "daily", new Date(Date.UTC(2099, 0, 1, 2)));
    const { logger } = capturingLogger();
    const report = await verifyLocalBackups(dir, { prefix: "app", maxAgeHours: 26, logger, now });
    expect(report.newestAgeHours).toBeCloseTo(10 * 24, 0);
    expect(report.exitCode).toBe(1);
    expect(report.reasons).toContainEqual(
      expect.stringContaining(`${future} is dated 2099-01-01T02:00:00.000Z, ahead`),
    );
    expect(report.reasons).toContainEqual(
      expect.stringMatching(/newest good daily backup .* is 240\.0 h old/),
    );
  });

  it("a backup taken by a host whose clock is a few minutes ahead still counts as fresh", async () => {
    const dir = await tempDir("verify-skew");
    await whole(dir, "daily", new Date(now.getTime() + 10 * 60_000));
    const { logger } = capturingLogger();
    const report = await verifyLocalBackups(dir, { prefix: "app", maxAgeHours: 26, logger, now });
    expect(report.reasons).toEqual([]);
    expect(report.exitCode).toBe(0);
  });

  it("terminal control sequences in a sidecar reach the log made visible, never obeyed", async () => {
    const dir = await tempDir("verify-controls");
    const file = await whole(dir, "daily", new Date(now.getTime() - 3_600_000));
    await writeFile(
      path.join(dir, "daily", `${file}.sha256`),
      `${sha(DUMP)}  x\x1b[2K\x1b[1Ginfo: verify ${file}: OK\r\n`,
    );
    const { logger, lines } = capturingLogger();
    const report = await verifyLocalBackups(dir, { prefix: "app", maxAgeHours: 26, logger, now });
    expect(report.exitCode).toBe(1);
    const failedLine = lines.find((l) => l.includes("sidecar names another file"));
    expect(failedLine).toContain("x\\x1b[2K\\x1b[1Ginfo: verify");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting that none reach the log
    expect(lines.join("\n")).not.toMatch(/[\x1b\r]/);
  });
});

describe("the test restore and a name dated ahead of the clock", () => {
  const postgres = usePostgres();

  it("restores the newest credible backup, not a copy renamed into 2099", async () => {
    const pg = postgres();
    await pg.createDatabase("vfuture");
    const dir = await tempDir("verify-future-restore");
    const real = await takeBackup(pg, "vfuture", dir);
    const realName = path.basename(real);
    const renamed = realName.replace(/_\d{8}_\d{6}\./, "_20990101_020000.");
    const daily = path.dirname(real);
    await copyFile(real, path.join(daily, renamed));
    await copyFile(`${real}.manifest.json`, path.join(daily, `${renamed}.manifest.json`));
    const sum = (await readFile(`${real}.sha256`, "utf8")).split(" ")[0]!;
    await writeFile(path.join(daily, `${renamed}.sha256`), checksumLine(sum, renamed));
    const { logger } = capturingLogger();
    const report = await verifyBackups(
      loadVerifyConfig(
        environmentLookup({ BACKUP_DIR: dir, DATABASE_URL: pg.url("postgres"), BACKUP_TEST_RESTORE: "true" }),
      ),
      { logger },
    );
    expect(report.testRestore?.backup).toContain(realName);
    expect(report.testRestore?.ok).toBe(true);
    expect(report.exitCode).toBe(1); // the 2099 copy fails the run by name
    expect(report.reasons).toContainEqual(expect.stringContaining(`${renamed} is dated 2099-01-01`));
  });
});
