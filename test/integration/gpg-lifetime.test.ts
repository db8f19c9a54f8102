import { spawn } from "node:child_process";
import { mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usePostgres, useTempDirs } from "../support/fixtures.js";
import { makeGpgKey, type TestKey } from "../support/gpg.js";
import { takeBackup } from "../support/restore.js";
import { NODE24 } from "../support/run-action.js";
import { seedTranscripts } from "../support/seed.js";
import { execFileAsync, freePort } from "../support/services/service.js";

const postgres = usePostgres();
const tempDir = useTempDirs();

let key: TestKey;
let secretKey: string;
let wrongSecretKey: string;
let backupDir: string;
let backupFile: string;
const DB = "keyring_life";

beforeAll(async () => {
  const pg = postgres();
  await pg.createDatabase(DB);
  // Big enough that a decryption is still running when the signal comes.
  await seedTranscripts(pg, DB, 20_000);
  key = await makeGpgKey("lifetime@lifeline.test");
  secretKey = (
    await execFileAsync("gpg", [
      "--homedir",
      key.home,
      "--batch",
      "--armor",
      "--export-secret-keys",
      key.email,
    ])
  ).stdout;
  const wrong = await makeGpgKey("wrong@lifeline.test");
  wrongSecretKey = (
    await execFileAsync("gpg", [
      "--homedir",
      wrong.home,
      "--batch",
      "--armor",
      "--export-secret-keys",
      wrong.email,
    ])
  ).stdout;
  backupDir = await tempDir("life");
  backupFile = await takeBackup(pg, DB, backupDir, {
    BACKUP_ENCRYPT: "true",
    BACKUP_GPG_PUBLIC_KEY: key.publicKey,
  });
});

/** Processes whose command line names `dir` (a gpg-agent --homedir <dir>/lifeline-gnupg-...). */
async function processesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    if (cmdline.includes(dir) && !/^\d+ \(.*\) Z/s.test(stat))
      found.push(`${pid}: ${cmdline.replace(/\0/g, " ")}`);
  }
  return found;
}

const runDirs: string[] = [];
afterAll(async () => {
  // What a failing run left: its agents must not outlive the test either.
  for (const dir of runDirs)
    for (const p of await processesUnder(dir)) {
      try {
        process.kill(Number(p.split(":")[0]), "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
});

type Signal = "none" | "SIGTERM" | "SIGTERM twice" | "SIGKILL";

/**
 * Runs the CLI (from source) in its own TMPDIR and HOME; with a signal, sends it once the run's
 * temporary keyring exists (for a secret key: once imported, so that its gpg-agent runs). Then
 * reports what the run left in its TMPDIR and which of its processes still run.
 */
async function runCli(
  args: string[],
  env: Record<string, string>,
  signal: Signal,
  waitForAgent: boolean,
  reuseTmp?: string,
) {
  const tmp = reuseTmp ?? (await tempDir("lifetmp"));
  if (!reuseTmp) {
    runDirs.push(tmp);
    await mkdir(path.join(tmp, "home"), { mode: 0o700 });
  }
  const child = spawn(NODE24, ["--import", "tsx", "src/cli/index.ts", ...args], {
    env: { PATH: process.env.PATH ?? "", TMPDIR: tmp, HOME: path.join(tmp, "home"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (t: string) => {
    stderr += t;
  });
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let signalled = false;
  if (signal !== "none") {
    const deadline = Date.now() + 30_000;
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done && Date.now() < deadline) {
      const homes = (await readdir(tmp)).filter((n) => n.startsWith("lifeline-gnupg-"));
      const ready = waitForAgent
        ? (
            await Promise.all(
              homes.map((h) => readdir(path.join(tmp, h, "private-keys-v1.d")).catch(() => [])),
            )
          )
            .flat()
            .some((f) => f.endsWith(".key"))
        : homes.length > 0;
      if (ready) {
        child.kill(signal === "SIGKILL" ? "SIGKILL" : "SIGTERM");
        if (signal === "SIGTERM twice") {
          await new Promise((r) => setTimeout(r, 50));
          child.kill("SIGTERM");
        }
        signalled = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const code = await exited;
  const homes = (await readdir(tmp)).filter((n) => n.startsWith("lifeline-gnupg-"));
  const keys = (
    await Promise.all(homes.map((h) => readdir(path.join(tmp, h, "private-keys-v1.d")).catch(() => [])))
  ).flat();
  return { code, stderr, signalled, homes, keys, processes: await processesUnder(tmp), tmp };
}

const unreachable = async () => `postgresql://nobody:pw@127.0.0.1:${await freePort()}/${DB}`;

const COMMANDS: {
  name: string;
  args: () => Promise<{ args: string[]; env: Record<string, string> }>;
  failing: () => Promise<{ args: string[]; env: Record<string, string> }>;
  agent: boolean;
}[] = [
  {
    name: "verify",
    agent: true,
    args: async () => ({
      args: ["verify"],
      env: { BACKUP_DIR: backupDir, BACKUP_GPG_PRIVATE_KEY: secretKey },
    }),
    // The wrong secret key: the backup fails verification.
    failing: async () => ({
      args: ["verify"],
      env: { BACKUP_DIR: backupDir, BACKUP_GPG_PRIVATE_KEY: wrongSecretKey },
    }),
  },
  {
    name: "verify --test-restore",
    agent: true,
    args: async () => ({
      args: ["verify", "--test-restore"],
      env: { BACKUP_DIR: backupDir, BACKUP_GPG_PRIVATE_KEY: secretKey, DATABASE_URL: postgres().url(DB) },
    }),
    failing: async () => ({
      args: ["verify", "--test-restore", "--backup-file", backupFile],
      env: { BACKUP_DIR: backupDir, BACKUP_GPG_PRIVATE_KEY: secretKey, DATABASE_URL: await unreachable() },
    }),
  },
  {
    name: "restore",
    agent: true,
    args: async () => ({
      args: ["restore", "--backup-file", backupFile, "--force", "--drop-old"],
      env: { BACKUP_DIR: backupDir, BACKUP_GPG_PRIVATE_KEY: secretKey, DATABASE_URL: postgres().url(DB) },
    }),
    failing: async () => ({
      args: ["restore", "--backup-file", backupFile, "--force"],
      env: { BACKUP_DIR: backupDir, BACKUP_GPG_PRIVATE_KEY: secretKey, DATABASE_URL: await unreachable() },
    }),
  },
  {
    name: "backup-db (encrypting)",
    agent: false,
    args: async () => ({
      args: ["backup-db"],
      env: {
        BACKUP_DIR: await tempDir("lifebk"),
        DATABASE_URL: postgres().url(DB),
        BACKUP_ENCRYPT: "true",
        BACKUP_GPG_PUBLIC_KEY: key.publicKey,
      },
    }),
    failing: async () => ({
      args: ["backup-db"],
      env: {
        BACKUP_DIR: await tempDir("lifebk"),
        DATABASE_URL: await unreachable(),
        BACKUP_ENCRYPT: "true",
        BACKUP_GPG_PUBLIC_KEY: key.publicKey,
      },
    }),
  },
];

describe("temporary gpg keyrings and their agents never outlive a run", () => {
  describe.each(COMMANDS)("$name", ({ args, failing, agent }) => {
    it("after success", async () => {
      const run = await args();
      const r = await runCli(run.args, run.env, "none", agent);
      expect(r.code, r.stderr).toBe(0);
      expect({ homes: r.homes, keys: r.keys, processes: r.processes }).toEqual({
        homes: [],
        keys: [],
        processes: [],
      });
    });

    it("after failure", async () => {
      const run = await failing();
      const r = await runCli(run.args, run.env, "none", agent);
      expect(r.code, r.stderr).not.toBe(0);
      expect({ homes: r.homes, keys: r.keys, processes: r.processes }).toEqual({
        homes: [],
        keys: [],
        processes: [],
      });
    });

    it.each(["SIGTERM", "SIGTERM twice"] as const)("after %s mid-run", async (signal) => {
      const run = await args();
      const r = await runCli(run.args, run.env, signal, agent);
      expect(r.signalled, `the run ended before its keyring was seen: ${r.stderr}`).toBe(true);
      expect({ homes: r.homes, keys: r.keys, processes: r.processes }).toEqual({
        homes: [],
        keys: [],
        processes: [],
      });
    });
  });

  it("a run killed with SIGKILL leaves its keyring and agent; the next run disposes of them", async () => {
    const env = { BACKUP_DIR: backupDir, BACKUP_GPG_PRIVATE_KEY: secretKey };
    const killed = await runCli(["verify"], env, "SIGKILL", true);
    expect(killed.signalled, killed.stderr).toBe(true);
    // Nothing can run after SIGKILL: what is left is the next run's to sweep.
    expect(killed.homes).toHaveLength(1);
    expect(killed.processes.join("\n")).toMatch(/gpg-agent --homedir \S+lifeline-gnupg-/);
    const next = await runCli(["verify"], env, "none", true, killed.tmp);
    expect(next.code, next.stderr).toBe(0);
    expect({ homes: next.homes, keys: next.keys, processes: next.processes }).toEqual({
      homes: [],
      keys: [],
      processes: [],
    });
  });
});
