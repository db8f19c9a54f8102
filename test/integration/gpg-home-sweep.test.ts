import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sweepAbandonedGpgHomes } from "../../src/crypto/gpg-home.js";
import { GpgDecryptKeyring } from "../../src/crypto/gpg-keyring.js";
import { ownIdentity } from "../../src/process/process-identity.js";
import { useTempDirs } from "../support/fixtures.js";
import { makeGpgKey } from "../support/gpg.js";
import { NODE24 } from "../support/run-action.js";

const tempDir = useTempDirs();
const agentHomes: string[] = [];
afterAll(() => {
  for (const home of agentHomes)
    execFileSync("gpgconf", ["--homedir", home, "--kill", "all"], { stdio: "ignore" });
});

/** Starts a gpg-agent for `home`; its pid. */
function startAgent(home: string): number {
  agentHomes.push(home);
  execFileSync("gpg-connect-agent", ["--homedir", home, "/bye"], { stdio: "ignore" });
  const pid = agentPid(home);
  if (pid === undefined) throw new Error(`no agent started for ${home}`);
  return pid;
}

function agentPid(home: string): number | undefined {
  const out = execFileSync(
    "gpg-connect-agent",
    ["--homedir", home, "--no-autostart", "getinfo pid", "/bye"],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    },
  );
  const pid = Number(/^D (\d+)$/m.exec(out)?.[1]);
  return Number.isInteger(pid) ? pid : undefined;
}

/** Whether `pid` runs (a zombie does not). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** A pid with no process here (nor at the next few pids), at least `from`. */
function freePidFrom(from: number): number {
  const taken = new Set(
    readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .map(Number),
  );
  for (let p = from; ; p++) if (![0, 1, 2, 3].some((d) => taken.has(p + d))) return p;
}

/** A home as a run makes it (mode 0700), with `owner` recorded when given. */
async function makeHome(dir: string, name: string, owner?: object): Promise<string> {
  const home = path.join(dir, name);
  await mkdir(home, { mode: 0o700 });
  if (owner) await writeFile(path.join(home, "lifeline-owner.json"), JSON.stringify(owner));
  return home;
}

describe("the sweep of abandoned gpg homes", () => {
  it("leaves the home and agent of a live run in another PID namespace sharing TMPDIR", async () => {
    const tmp = await tempDir("sweepns");
    // Inside its namespace the run gets the pid `target`, which no process here has: by pid alone it looks dead.
    const target = freePidFrom(300);
    const child = spawn(
      "unshare",
      [
        "-pf",
        "--mount-proc",
        "sh",
        "-c",
        `i=0; while [ $i -lt ${target - 2} ]; do /bin/true; i=$((i+1)); done; "${NODE24}" --import tsx test/support/gpg-home-holder.ts`,
      ],
      { env: { PATH: process.env.PATH ?? "", TMPDIR: tmp, HOME: tmp }, stdio: ["pipe", "pipe", "inherit"] },
    );
    try {
      const ready = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.setEncoding("utf8").on("data", (t: string) => {
          out += t;
          if (out.includes("\n")) resolve(out);
        });
        child.once("exit", (code) => reject(new Error(`holder exited ${code}: ${out}`)));
      });
      const [, home, pidInside] = ready.trim().split(" ");
      expect(Number(pidInside)).toBe(target);
      const agent = agentPid(home!);
      expect(agent).toBeDefined();

      expect(await sweepAbandonedGpgHomes(tmp)).toEqual([]);
      expect(existsSync(home!)).toBe(true);
      expect(agentPid(home!)).toBe(agent);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.stdin.end();
      await exited;
    }
    expect(readdirSync(tmp).filter((n) => n.startsWith("lifeline-gnupg-"))).toEqual([]);
  }, 60_000);

  it("never follows a symlink planted in TMPDIR (it would kill the agent of the directory it points to)", async () => {
    const tmp = await tempDir("sweepsym");
    const victim = await makeHome(tmp, "victim-home");
    const agent = startAgent(victim);
    await symlink(victim, path.join(tmp, `lifeline-gnupg-${freePidFrom(20_000)}-planted`));
    await sweepAbandonedGpgHomes(tmp);
    expect(running(agent)).toBe(true);
    expect(agentPid(victim)).toBe(agent);
  });

  it("sweeps a home whose recorded owner pid now belongs to another process (every container run is pid 1)", async () => {
    const tmp = await tempDir("sweepreuse");
    const me = ownIdentity();
    const home = await makeHome(tmp, "lifeline-gnupg-1-AbCdEf", { ...me, pid: 1, procStart: "1" });
    const agent = startAgent(home);
    expect(await sweepAbandonedGpgHomes(tmp)).toEqual(["lifeline-gnupg-1-AbCdEf"]);
    expect(existsSync(home)).toBe(false);
    expect(running(agent)).toBe(false);
  });

  it("sweeps a home of an earlier boot, whatever its pid", async () => {
    const tmp = await tempDir("sweepboot");
    const home = await makeHome(tmp, `lifeline-gnupg-${process.ppid}-AbCdEf`, {
      ...ownIdentity(),
      pid: process.ppid,
      bootId: "00000000-0000-0000-0000-000000000000",
    });
    expect(await sweepAbandonedGpgHomes(tmp)).toEqual([path.basename(home)]);
    expect(existsSync(home)).toBe(false);
  });

  it("sweeps keyrings of earlier versions (no pid in the name) once 6 hours old, killing their agent", async () => {
    const tmp = await tempDir("sweepold");
    const old = await makeHome(tmp, "lifeline-gnupg-Xy12Ab");
    const recent = await makeHome(tmp, "lifeline-gnupg-Zz34Cd");
    const oldAgent = startAgent(old);
    const recentAgent = startAgent(recent);
    const longAgo = new Date(Date.now() - 7 * 3600_000);
    await utimes(old, longAgo, longAgo);
    expect(await sweepAbandonedGpgHomes(tmp)).toEqual(["lifeline-gnupg-Xy12Ab"]);
    expect(existsSync(old)).toBe(false);
    expect(running(oldAgent)).toBe(false);
    expect(existsSync(recent)).toBe(true);
    expect(running(recentAgent)).toBe(true);
  });

  it("only considers real directories of this user with mode 0700", async () => {
    const tmp = await tempDir("sweepmode");
    const open = path.join(tmp, `lifeline-gnupg-${freePidFrom(20_000)}-Op56En`);
    await mkdir(open, { mode: 0o755 });
    await writeFile(path.join(open, "keep"), "not a keyring of ours");
    const longAgo = new Date(Date.now() - 7 * 3600_000);
    await utimes(open, longAgo, longAgo);
    expect(await sweepAbandonedGpgHomes(tmp)).toEqual([]);
    expect(existsSync(path.join(open, "keep"))).toBe(true);
  });
});

describe("the gpg-agent a keyring starts", () => {
  it("inherits no PG* variable, proxy or URL credential from the run's environment", async () => {
    const key = await makeGpgKey("agentenv@lifeline.test");
    const secretKey = execFileSync(
      "gpg",
      ["--homedir", key.home, "--batch", "--armor", "--export-secret-keys", key.email],
      { encoding: "utf8" },
    );
    const planted = {
      TMPDIR: await tempDir("agentenv"),
      PGPASSWORD: "pg-secret-pw",
      PG_DATABASE_URL: "postgresql://u:pg-url-pw@h/db",
      PGADMIN_DEFAULT_PASSWORD: "pgadmin-pw",
      HTTPS_PROXY: "http://proxyuser:proxy-pw@proxy:3128",
      REDIS_URL: "redis://default:redis-pw@cache:6379",
      SENTRY_DSN: "https://key:sentry-pw@sentry.io/1",
    };
    const saved = { ...process.env };
    Object.assign(process.env, planted);
    let ring: GpgDecryptKeyring | undefined;
    try {
      ring = await GpgDecryptKeyring.prepare(secretKey);
      const agent = agentPid(ring.home!);
      expect(agent).toBeDefined();
      const environ = readFileSync(`/proc/${agent}/environ`, "utf8").split("\0");
      const leaked = environ.filter((v) => /pw|^PG|PROXY|REDIS|SENTRY/i.test(v));
      expect(leaked).toEqual([]);
    } finally {
      await ring?.dispose();
      for (const name of Object.keys(planted)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });
});
