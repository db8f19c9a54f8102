import { readFile, truncate, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { environmentLookup } from "../../src/config/settings.js";
import { loadVerifyConfig } from "../../src/config/verify-config.js";
import { type VerifyBackupsOptions, verifyBackups } from "../../src/verify/verify-backups.js";
import { capturingLogger, shell, usePostgres, useTempDirs } from "../support/fixtures.js";
import { makeGpgKey } from "../support/gpg.js";
import { databases, takeBackup } from "../support/restore.js";
import { seedTranscripts } from "../support/seed.js";
import { execFileAsync } from "../support/services/service.js";

const postgres = usePostgres();
const tempDir = useTempDirs();

async function verify(vars: Record<string, string>, options: Partial<VerifyBackupsOptions> = {}) {
  const { logger, lines } = capturingLogger();
  const report = await verifyBackups(loadVerifyConfig(environmentLookup(vars)), { logger, ...options });
  return { report, log: lines.join("\n") };
}

/** A database and a directory holding one fresh backup of it. */
async function oneBackup(db: string, vars: Record<string, string> = {}) {
  const pg = postgres();
  await pg.createDatabase(db);
  await seedTranscripts(pg, db, 1000);
  const dir = await tempDir("verify");
  const file = await takeBackup(pg, db, dir, vars);
  return { pg, dir, file };
}

describe("verify (runbook: verify_backup.sh)", () => {
  it("passes a good backup, test-restores it into a scratch database that is dropped, runs the SQL checks: exit 0", async () => {
    const { pg, dir } = await oneBackup("vgood");
    const checks = path.join(dir, "checks.sql");
    await writeFile(
      checks,
      "-- the data a restore must hold\nSELECT count(*) = 20 FROM videos;\nSELECT title FROM videos\n  WHERE id = 1;\n",
    );
    const { report, log } = await verify({
      BACKUP_DIR: dir,
      DATABASE_URL: pg.url("postgres"),
      BACKUP_TEST_RESTORE: "true",
      BACKUP_CHECK_SQL: checks,
    });
    expect(report.reasons).toEqual([]);
    expect(report.exitCode).toBe(0);
    expect(report.checks[0]!.passed).toEqual(["sha256", "gzip", "dump trailer", "manifest"]);
    expect(report.testRestore).toMatchObject({ ok: true, dropped: true });
    expect(report.testRestore!.database).toMatch(/^lifeline_verify_\d{8}_\d{6}_[0-9a-f]{6}$/);
    expect(report.testRestore!.proof!.comparison!.ok).toBe(true);
    expect(report.testRestore!.proof!.checks.map((c) => c.ok)).toEqual([true, true]);
    expect(log).toContain("Dropped the scratch database");
    expect((await databases(pg)).filter((d) => d.startsWith("lifeline_verify"))).toEqual([]);
  });

  it.each([
    [
      "one flipped byte",
      async (f: string) => {
        const b = await readFile(f);
        b[Math.floor(b.length / 2)]! ^= 0x01;
        await writeFile(f, b);
      },
      /sha256 mismatch/,
    ],
    [
      "a truncated file",
      async (f: string) => truncate(f, Math.floor((await readFile(f)).length / 2)),
      /sha256 mismatch|decompression failed/,
    ],
    ["a missing sidecar", async (f: string) => unlink(`${f}.sha256`), /no \.sha256 sidecar/],
    [
      "a wrong sidecar",
      async (f: string) => writeFile(`${f}.sha256`, `${"0".repeat(64)}  ${path.basename(f)}\n`),
      /sha256 mismatch: file has [0-9a-f]{64}, sidecar says 0{64}/,
    ],
  ])("%s is caught and named: exit 1", async (_label, corrupt, expected) => {
    const { dir, file } = await oneBackup(`vbad_${_label.replace(/\W+/g, "_")}`.slice(0, 40));
    await corrupt(file);
    const { report, log } = await verify({ BACKUP_DIR: dir });
    expect(report.exitCode).toBe(1);
    expect(report.checks[0]!.problem).toMatch(expected);
    expect(log).toContain(`verify daily/${path.basename(file)}: FAILED`);
  });

  it("the wrong gpg key is caught when a key is given: exit 1", async () => {
    const right = await makeGpgKey("verify-right@lifeline.test");
    const wrong = await makeGpgKey("verify-wrong@lifeline.test");
    const { dir } = await oneBackup("vgpg", {
      BACKUP_ENCRYPT: "true",
      BACKUP_GPG_PUBLIC_KEY: right.publicKey,
    });
    const secretOf = async (k: typeof right) =>
      (
        await execFileAsync("gpg", [
          "--homedir",
          k.home,
          "--batch",
          "--armor",
          "--export-secret-keys",
          k.email,
        ])
      ).stdout;
    const good = await verify({ BACKUP_DIR: dir, BACKUP_GPG_PRIVATE_KEY: await secretOf(right) });
    expect(good.report.exitCode).toBe(0);
    expect(good.report.checks[0]!.passed).toContain("gpg");
    const bad = await verify({ BACKUP_DIR: dir, BACKUP_GPG_PRIVATE_KEY: await secretOf(wrong) });
    expect(bad.report.exitCode).toBe(1);
    expect(bad.report.checks[0]!.problem).toMatch(/gpg cannot decrypt it with the key given \(wrong key\?\)/);
  });

  it("a manifest whose row counts disagree with the restored data fails the test restore, naming the table: exit 1", async () => {
    const { pg, dir } = await oneBackup("vrows");
    const { report } = await verify(
      { BACKUP_DIR: dir, DATABASE_URL: pg.url("postgres"), BACKUP_TEST_RESTORE: "true" },
      {
        afterRestoreHook: async (client) =>
          void (await client.query("DELETE FROM audit.events WHERE id = 1")),
      },
    );
    expect(report.exitCode).toBe(1);
    expect(report.reasons.join("\n")).toContain("table audit.events: 5 rows in the manifest, 4 restored");
    expect(report.testRestore!.dropped).toBe(true);
    expect((await databases(pg)).filter((d) => d.startsWith("lifeline_verify"))).toEqual([]);
  });

  it("exit 2 when the newest daily backup is older than max-age-hours, or there is none", async () => {
    const { dir } = await oneBackup("vold");
    const later = () => new Date(Date.now() + 30 * 3_600_000);
    expect((await verify({ BACKUP_DIR: dir }, { now: later })).report.exitCode).toBe(2);
    expect(
      (await verify({ BACKUP_DIR: dir, BACKUP_MAX_AGE_HOURS: "48" }, { now: later })).report.exitCode,
    ).toBe(0);
    const empty = await tempDir("verify-empty");
    const none = await verify({ BACKUP_DIR: empty });
    expect(none.report.exitCode).toBe(2);
    expect(none.report.reasons[0]).toContain("no good daily backup");
  });

  it("lists, verifies and test-restores the runbook's shell-pipeline backup (no manifest) through the CLI", async () => {
    const pg = postgres();
    await pg.createDatabase("vshell");
    await seedTranscripts(pg, "vshell", 500);
    const dir = await tempDir("verify-shell");
    const name = `transcripts_daily_${new Date().toISOString().replace(/[-:]/g, "").replace("T", "_").slice(0, 15)}.sql.gz`;
    await shell(
      pg,
      `mkdir -p "$B/daily" && cd "$B/daily" && pg_dump -d vshell | gzip > ${name} && sha256sum ${name} > ${name}.sha256`,
      { B: dir },
    );
    const run = async (...argv: string[]) => {
      const out = new PassThrough();
      const err = new PassThrough();
      const code = await main(argv, { out, err });
      return { code, out: String(out.read() ?? ""), err: String(err.read() ?? "") };
    };
    const listed = await run("restore", "--list-backups", "--backup-dir", dir, "--json");
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toMatchObject([
      { file: name, tier: "daily", encrypted: false, sidecar: true, manifest: false },
    ]);
    const table = await run("restore", "--list-backups", "--backup-dir", dir);
    expect(table.out).toMatch(
      new RegExp(
        `^Backup\\s+Where\\s+Tier\\s+Size\\s+Age\\s+Encryption\\s+Integrity\\n${name.replace(/\./g, "\\.")}\\s+\\S+/daily/\\s+daily`,
      ),
    );
    const verified = await run(
      "verify",
      "--backup-dir",
      dir,
      "--test-restore",
      "--database-url",
      pg.url("postgres"),
    );
    expect(verified.err).toContain("has no manifest");
    expect(verified.out).toContain("✅ Test restore of");
    expect(verified.code).toBe(0);
  });
});
