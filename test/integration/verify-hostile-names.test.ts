import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { BackupName } from "../../src/catalog/backup-name.js";
import { checksumLine } from "../../src/catalog/manifest.js";
import { verifyLocalBackups } from "../../src/verify/verify-backups.js";
import { capturingLogger, useTempDirs } from "../support/fixtures.js";

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
