import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { LOCK_FILE } from "../../src/fs/dir-lock.js";
import { useBlackHole } from "../support/black-hole.js";
import { capturingLogger, usePostgres, useTempDirs } from "../support/fixtures.js";
import { AZURITE_ACCOUNT, AZURITE_KEY } from "../support/services/azurite.js";

const postgres = usePostgres();
const tempDir = useTempDirs();
const hole = useBlackHole();

beforeAll(() => {
  // The AWS SDK's credential chain reads these: any will do, the endpoint never answers.
  process.env.AWS_ACCESS_KEY_ID = "lifeline-test";
  process.env.AWS_SECRET_ACCESS_KEY = "lifeline-test-secret";
  delete process.env.STORAGE_EMULATOR_HOST;
});

const load = (vars: Record<string, string>) => loadBackupDbConfig(environmentLookup(vars), vars);

/** The backup directory's daily backups and whether the lock is still there. */
async function leftIn(dir: string): Promise<{ daily: string[]; lock: boolean }> {
  const daily = (await readdir(path.join(dir, "daily")).catch(() => [] as string[])).filter((f) =>
    /\.sql\.gz$/.test(f),
  );
  const lock = (await readdir(dir)).includes(LOCK_FILE);
  return { daily, lock };
}

const silentDestinations = (url: string): Record<string, Record<string, string>> => ({
  S3: { BACKUP_S3_BUCKET: "silent-bucket", BACKUP_S3_ENDPOINT: url },
  GCS: { BACKUP_GCS_BUCKET: "silent-bucket", BACKUP_GCS_ENDPOINT: url },
  Azure: {
    BACKUP_AZURE_CONTAINER: "silent-container",
    AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${url}/${AZURITE_ACCOUNT};`,
  },
});

describe("a destination that accepts connections and never answers", () => {
  for (const kind of ["S3", "GCS", "Azure"]) {
    it(`${kind}: is skipped within BACKUP_PREFLIGHT_TIMEOUT_SECONDS, named in the error; the local backup is written, no lock is left`, async () => {
      const dir = await tempDir(`silent-${kind}`);
      const before = hole().connections;
      const { logger, lines } = capturingLogger();
      const started = Date.now();
      const result = await backupDatabase(
        load({
          DATABASE_URL: postgres().url("postgres"),
          BACKUP_DIR: dir,
          BACKUP_PREFLIGHT_TIMEOUT_SECONDS: "2",
          ...silentDestinations(hole().url)[kind],
        }),
        { logger },
      );
      const seconds = (Date.now() - started) / 1000;
      expect(hole().connections).toBeGreaterThan(before); // it really waited on the black hole
      expect(seconds).toBeLessThan(8);
      expect(result.offsite).toHaveLength(1);
      const [report] = result.offsite;
      expect(report).toMatchObject({ kind: kind.toLowerCase(), ok: false, stage: "preflight" });
      expect(report?.error).toContain(`127.0.0.1:${hole().port}`);
      expect(report?.error).toContain("did not answer within 2 s (BACKUP_PREFLIGHT_TIMEOUT_SECONDS)");
      expect(lines.join("\n")).toContain("this destination is skipped; the local backup goes ahead");
      expect(await leftIn(dir)).toEqual({ daily: [path.basename(result.file)], lock: false });
    });
  }
});

/** Runs the CLI from source (tsx) in its own TMPDIR; resolves with its exit and streams. */
function startCli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/index.ts", ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  const seen = new Map<string, number>();
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  /** When `text` first appeared on stderr (ms since the epoch). */
  const when = (text: string) =>
    new Promise<number>((resolve) => {
      const check = () => {
        if (stderr.includes(text)) {
          seen.set(text, seen.get(text) ?? Date.now());
          resolve(seen.get(text) as number);
          return true;
        }
        return false;
      };
      if (!check()) child.stderr.on("data", check);
    });
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, when, stderr: () => stderr };
}

describe("SIGTERM while a silent destination is being checked", () => {
  // The GCS SDK takes no AbortSignal: the run stops at once (lock released, message, exit code
  // decided), and its silent socket is cut after BACKUP_NETWORK_TIMEOUT_SECONDS (3 here) of silence,
  // which the process waits for before exiting. Without that cut it never exited.
  const exitWithin: Record<string, number | undefined> = { S3: 4, GCS: 3 + 3, Azure: 4 };
  for (const kind of ["S3", "GCS", "Azure"]) {
    it(`${kind}: stops the run within seconds, exits non-zero, leaves no lock and no backup`, async () => {
      const dir = await tempDir(`sigterm-${kind}`);
      const tmp = await tempDir(`sigterm-tmp-${kind}`);
      const before = hole().connections;
      const run = startCli(["backup-db"], {
        TMPDIR: tmp,
        DATABASE_URL: postgres().url("postgres"),
        BACKUP_DIR: dir,
        BACKUP_NETWORK_TIMEOUT_SECONDS: "3",
        AWS_ACCESS_KEY_ID: "lifeline-test",
        AWS_SECRET_ACCESS_KEY: "lifeline-test-secret",
        ...silentDestinations(hole().url)[kind],
      });
      try {
        await hole().connected(before + 1); // the check is waiting on the black hole (default bound 30 s)
        await new Promise((r) => setTimeout(r, 300));
        const signalled = Date.now();
        run.child.kill("SIGTERM");
        const stopped = await run.when("cancelled before the dump started");
        expect((stopped - signalled) / 1000).toBeLessThan(2);
        expect(await leftIn(dir)).toEqual({ daily: [], lock: false });
        const bound = exitWithin[kind];
        if (bound === undefined) return;
        const exit = await run.exited;
        expect((Date.now() - signalled) / 1000).toBeLessThan(bound);
        expect(exit.code).not.toBe(0);
        expect(exit.code).not.toBeNull();
      } finally {
        run.child.kill("SIGKILL");
      }
    });
  }
});

describe("a PostgreSQL host that accepts connections and never answers", () => {
  it("fails the run within connect_timeout, naming the server; no lock is left", async () => {
    const dir = await tempDir("silent-pg");
    const started = Date.now();
    await expect(
      backupDatabase(
        load({
          DATABASE_URL: `postgresql://app:pw@127.0.0.1:${hole().port}/transcripts?connect_timeout=2`,
          BACKUP_DIR: dir,
        }),
        { logger: capturingLogger().logger },
      ),
    ).rejects.toThrow(
      `Cannot connect to PostgreSQL at 127.0.0.1:${hole().port}, database "transcripts": the connection timed out`,
    );
    expect((Date.now() - started) / 1000).toBeLessThan(6);
    expect(await leftIn(dir)).toEqual({ daily: [], lock: false });
  });

  it("SIGTERM while connecting stops the run within seconds (not after the 10 s connect timeout), no lock", async () => {
    const dir = await tempDir("sigterm-pg");
    const tmp = await tempDir("sigterm-pg-tmp");
    const before = hole().connections;
    const run = startCli(["backup-db"], {
      TMPDIR: tmp,
      DATABASE_URL: `postgresql://app:pw@127.0.0.1:${hole().port}/transcripts`,
      BACKUP_DIR: dir,
    });
    try {
      await hole().connected(before + 1);
      await new Promise((r) => setTimeout(r, 300));
      const signalled = Date.now();
      run.child.kill("SIGTERM");
      const exit = await run.exited;
      expect((Date.now() - signalled) / 1000).toBeLessThan(3);
      expect(exit.code).not.toBe(0);
      expect(exit.code).not.toBeNull();
      expect(run.stderr()).not.toContain("pw@");
      expect(await leftIn(dir)).toEqual({ daily: [], lock: false });
    } finally {
      run.child.kill("SIGKILL");
    }
  });
});
