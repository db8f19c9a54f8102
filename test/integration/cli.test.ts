import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { usePostgres, useTempDirs } from "../support/fixtures.js";
import { NODE24 } from "../support/run-action.js";

const execFileAsync = promisify(execFile);
const postgres = usePostgres();
const tempDir = useTempDirs();

/** Runs the committed CLI bundle; resolves with its exit code and streams. */
async function lifeline(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await execFileAsync(NODE24, ["dist/cli/index.js", ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("lifeline CLI", () => {
  it("prints help naming every flag with its runbook variable", async () => {
    const r = await lifeline(["backup-db", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--database-url <value>\s+DATABASE_URL/);
    expect(r.stdout).toMatch(/--backup-dir <value>\s+BACKUP_DIR: .*\(default: \/backups\)/);
    expect(r.stdout).toMatch(/--retention-daily <value>\s+BACKUP_RETENTION_DAILY/);
  });

  it("backs up with flags, printing the file on stdout and logs on stderr", async () => {
    const pg = postgres();
    const dir = await tempDir("cli");
    const r = await lifeline(["backup-db", "--backup-dir", dir, "--prefix", "nightly"], {
      DATABASE_URL: pg.url("postgres"),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${dir}/daily/nightly_daily_\\d{8}_\\d{6}\\.sql\\.gz\\n$`));
    expect(r.stderr).toMatch(/INFO {2}Backup written/);
    expect(r.stderr).not.toContain(pg.password);
  });

  it("--json prints a machine-readable result", async () => {
    const pg = postgres();
    const dir = await tempDir("clijson");
    const r = await lifeline([
      "backup-db",
      "--json",
      "--database-url",
      pg.url("postgres"),
      "--backup-dir",
      dir,
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      sizeBytes: expect.any(Number),
    });
  });

  it("exits 78 (configuration) with a one-line cause when a setting is missing", async () => {
    const r = await lifeline(["backup-db", "--backup-dir", "/tmp/never"], {});
    expect(r.code).toBe(78);
    expect(r.stderr.trim().split("\n")).toEqual([
      "lifeline backup-db: DATABASE_URL is not set: set --database-url or the environment variable DATABASE_URL " +
        "(PostgreSQL connection string, e.g. postgresql://user:password@host:5432/transcripts)",
    ]);
  });

  it("exits 64 on an unknown flag or command", async () => {
    const flag = await lifeline(["backup-db", "--verify-everything"]);
    expect(flag.code).toBe(64);
    expect(flag.stderr).toMatch(/Unknown option '--verify-everything'. Run with --help/);
    const command = await lifeline(["backup-all"]);
    expect(command.code).toBe(64);
    expect(command.stderr).toContain("unknown command 'backup-all'. Expected one of: backup-db");
  });

  it("--verify-only needs no database and exits with the runbook's codes", async () => {
    const pg = postgres();
    const dir = await tempDir("cliverify");
    const empty = await lifeline(["backup-db", "--verify-only", "--backup-dir", dir]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no good daily backup in /);
    expect(
      (await lifeline(["backup-db", "--backup-dir", dir], { DATABASE_URL: pg.url("postgres") })).code,
    ).toBe(0);
    const good = await lifeline(["backup-db", "--verify-only", "--backup-dir", dir]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/## ✅ Lifeline verify: 3 of 3 backups good, exit 0/);
    // Truncate the daily backup: exit 1, naming the file.
    const { readdir, truncate } = await import("node:fs/promises");
    const daily = (await readdir(`${dir}/daily`)).find((f) => f.endsWith(".sql.gz"))!;
    await truncate(`${dir}/daily/${daily}`, 100);
    const bad = await lifeline(["backup-db", "--verify-only", "--backup-dir", dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`verify daily/${daily}: FAILED: sha256 mismatch`);
  });

  it("a SIGTERM mid-dump cancels cleanly: no partial file, lock released, earlier backups intact, exit 143", async () => {
    const pg = postgres();
    await pg.createDatabase("cancelme");
    await pg.query(
      "cancelme",
      "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 8) AS t FROM generate_series(1, 400000) g",
    );
    const dir = await tempDir("clicancel");
    const { spawn } = await import("node:child_process");
    const { readdir, stat } = await import("node:fs/promises");
    const child = spawn(
      NODE24,
      ["dist/cli/index.js", "backup-db", "--backup-dir", dir, "--compression-level", "9"],
      {
        env: { PATH: process.env.PATH ?? "", DATABASE_URL: pg.url("cancelme") },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    // Wait until the dump is streaming into its partial file, then cancel as the runner would.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const names = await readdir(`${dir}/daily`).catch(() => [] as string[]);
      const partial = names.find((n) => n.includes(".partial-"));
      if (partial && (await stat(`${dir}/daily/${partial}`).catch(() => ({ size: 0 }))).size > 0) break;
      if (Date.now() > deadline) throw new Error(`no partial file appeared: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill("SIGTERM");
    expect(await exited).toBe(143);
    expect(stderr).toContain("Received SIGTERM: stopping and cleaning up");
    expect(stderr).toContain(
      "lifeline backup-db: The backup was cancelled; the partial file was removed and earlier backups are untouched",
    );
    expect(await readdir(`${dir}/daily`)).toEqual([]);
    expect(await readdir(dir)).not.toContain(".lifeline.lock");
  });
});
