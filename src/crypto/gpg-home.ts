import { execFile, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { lstat, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { childEnvironment } from "../process/child-stage.js";
import {
  pidRunning as isAlive,
  judgeOwner,
  ownIdentity,
  type ProcessIdentity,
} from "../process/process-identity.js";

/**
 * Temporary homes are named `lifeline-gnupg-<pid>-XXXXXX` and hold OWNER_FILE, the identity of the run
 * that made them (pid, PID namespace, boot id, start time): a later run sweeps a home only when that
 * tells its owner is gone.
 */
const HOME_PREFIX = "lifeline-gnupg-";
const OWNER_FILE = "lifeline-owner.json";
const AGENT_EXIT_WAIT_MS = 3_000;
/**
 * Homes with no owner recorded (`lifeline-gnupg-XXXXXX` of earlier Lifeline versions, or one whose
 * owner file is missing) are swept once this old: no run keeps a keyring for 6 hours.
 */
export const UNOWNED_HOME_MAX_AGE_MS = 6 * 3600_000;

/** Homes of this process not yet disposed: removed synchronously on exit (process.exit included). */
const live = new Set<string>();
let exitHookInstalled = false;

/**
 * A GNUPGHOME made for one run (a key given as ASCII armour), owned by this process. gpg starts a
 * gpg-agent (and possibly a dirmngr) per home that outlives gpg itself and keeps the secret key in
 * memory: `dispose` kills them and removes the home; on process exit, anything left is disposed
 * synchronously; and `create` first sweeps the homes of earlier runs whose process is gone (SIGKILL).
 */
export class TemporaryGpgHome {
  private disposed = false;

  private constructor(readonly path: string) {}

  static async create(): Promise<TemporaryGpgHome> {
    await sweepAbandonedGpgHomes();
    // Synchronously: made and registered for disposal in one step, so no exit can come between them.
    const home = mkdtempSync(path.join(tmpdir(), `${HOME_PREFIX}${process.pid}-`));
    live.add(home);
    installExitHook();
    chmodSync(home, 0o700);
    writeFileSync(path.join(home, OWNER_FILE), `${JSON.stringify(ownIdentity())}\n`, { mode: 0o600 });
    return new TemporaryGpgHome(home);
  }

  /** Kills the home's gpg daemons, waits for them to exit, then removes the home. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await disposeHome(this.path);
    live.delete(this.path);
  }
}

/** Kills the daemons gpg started for `home` (gpg-agent, dirmngr...) and removes the directory. */
async function disposeHome(home: string): Promise<void> {
  const pid = await agentPid(home);
  await run("gpgconf", ["--homedir", home, "--kill", "all"]);
  if (pid !== undefined) await waitForExit(pid);
  await rm(home, { recursive: true, force: true });
}

function disposeHomeSync(home: string): void {
  const pid = parseAgentPid(
    spawnSync("gpg-connect-agent", ["--homedir", home, "--no-autostart", "getinfo pid", "/bye"], {
      encoding: "utf8",
      env: childEnvironment(),
      timeout: 5_000,
    }).stdout ?? "",
  );
  spawnSync("gpgconf", ["--homedir", home, "--kill", "all"], {
    stdio: "ignore",
    env: childEnvironment(),
    timeout: 5_000,
  });
  if (pid !== undefined) {
    const deadline = Date.now() + AGENT_EXIT_WAIT_MS;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (isAlive(pid) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 20);
    if (isAlive(pid)) signal(pid, "SIGKILL");
  }
  rmSync(home, { recursive: true, force: true, maxRetries: 3 });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const home of live) {
      try {
        disposeHomeSync(home);
      } catch {
        // exiting: nothing more can be done; the next run sweeps what is left
      }
    }
    live.clear();
  });
}

/**
 * Disposes the temporary gpg homes in `dir` left by Lifeline runs whose process no longer exists
 * (killed with SIGKILL, or a runner that lost the job): their agents still hold the secret key.
 * Only real directories (never a symlink planted in a shared TMPDIR) owned by this user with mode 0700
 * are considered, and only when their recorded owner is surely gone: it ran on an earlier boot, or in
 * this PID namespace and has exited. A home of another PID namespace (a container sharing TMPDIR) is
 * left alone, since nothing here tells whether its run is alive. A home with no owner recorded (earlier
 * versions) is swept once older than UNOWNED_HOME_MAX_AGE_MS.
 */
export async function sweepAbandonedGpgHomes(dir: string = tmpdir()): Promise<string[]> {
  const swept: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(HOME_PREFIX)) continue;
    const home = path.join(dir, name);
    if (live.has(home) || !(await abandoned(home))) continue;
    await disposeHome(home).catch(() => {});
    swept.push(name);
  }
  return swept;
}

async function abandoned(home: string): Promise<boolean> {
  const info = await lstat(home).catch(() => undefined);
  const uid = process.getuid?.();
  if (!info?.isDirectory() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o777) !== 0o700)
    return false;
  const owner = await readOwner(home);
  if (owner) return judgeOwner(owner) === "dead";
  return Date.now() - info.mtimeMs >= UNOWNED_HOME_MAX_AGE_MS;
}

async function readOwner(home: string): Promise<ProcessIdentity | undefined> {
  const file = path.join(home, OWNER_FILE);
  const info = await lstat(file).catch(() => undefined);
  if (!info?.isFile()) return undefined;
  try {
    const owner = JSON.parse(await readFile(file, "utf8")) as ProcessIdentity;
    return Number.isInteger(owner.pid) ? owner : undefined;
  } catch {
    return undefined;
  }
}

async function agentPid(home: string): Promise<number | undefined> {
  return parseAgentPid(
    await run("gpg-connect-agent", ["--homedir", home, "--no-autostart", "getinfo pid", "/bye"]),
  );
}

/** `gpg-connect-agent 'getinfo pid'` answers "D <pid>" then "OK"; nothing when no agent runs. */
function parseAgentPid(output: string): number | undefined {
  const pid = Number(/^D (\d+)$/m.exec(output)?.[1]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Runs a gpg helper, resolving its stdout; a failure (not installed, no agent) resolves "". */
function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, args, { env: childEnvironment(), timeout: 10_000 }, (_err, stdout) =>
      resolve(String(stdout ?? "")),
    );
  });
}

async function waitForExit(pid: number): Promise<void> {
  const deadline = Date.now() + AGENT_EXIT_WAIT_MS;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (isAlive(pid)) signal(pid, "SIGKILL");
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
