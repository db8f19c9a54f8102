import { type ChildProcess, execFile, type SpawnOptions, spawn } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { access, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

export const execFileAsync = promisify(execFile);

/**
 * A real server started for tests, benchmarks or the demo: on loopback, on a free port, in its own
 * temporary directory. MinIO, fake-gcs-server, Azurite and the Pushgateway implement the same shape.
 */
export interface RunningService {
  readonly name: string;
  /** Stops the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** A port nobody listens on right now, from the kernel's ephemeral range. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export async function makeTempDir(label: string): Promise<string> {
  return mkdtemp(path.join(process.env.LIFELINE_TMPDIR ?? tmpdir(), `lifeline-${label}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * Polls `ready` until it resolves true or the time is up; the error names the service. A rejection
 * counts as "not yet", unless `fatal` says it is final, which ends the wait with that error.
 */
export async function waitUntil(
  name: string,
  ready: () => Promise<boolean>,
  timeoutMs = 30_000,
  fatal: (error: unknown) => boolean = () => false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await ready().catch((error: unknown) => {
      if (fatal(error)) throw error;
      return false;
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not become ready within ${timeoutMs / 1000} s`);
}

/**
 * Starts a long-running server process. With `logFile`, its stdout and stderr are appended there
 * (kept in the service's directory, for the error when it does not come up); otherwise discarded.
 */
export function startDaemon(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { logFile?: string },
): ChildProcess {
  const { logFile, ...spawnOptions } = options;
  const out = logFile === undefined ? "ignore" : openSync(logFile, "a");
  try {
    const child = spawn(command, args, { stdio: ["ignore", out, out], detached: false, ...spawnOptions });
    // A missing binary surfaces as an "error" event: kept for waitForDaemon, and must not crash.
    child.on("error", (error) => spawnErrors.set(child, error));
    child.unref();
    // Not outliving the test process, even when it ends without running its afterAll hooks.
    if (child.pid !== undefined) {
      liveDaemons.add(child);
      child.once("exit", () => liveDaemons.delete(child));
      if (liveDaemons.size === 1 && !killOnExitInstalled) {
        killOnExitInstalled = true;
        process.once("exit", () => {
          for (const daemon of liveDaemons) daemon.kill("SIGKILL");
        });
      }
    }
    return child;
  } finally {
    if (typeof out === "number") closeSync(out);
  }
}

const spawnErrors = new WeakMap<ChildProcess, Error>();
const liveDaemons = new Set<ChildProcess>();
let killOnExitInstalled = false;

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Like waitUntil for a process started by startDaemon, but fails at once when the process dies
 * (a taken port, a bad flag, a missing binary), with the end of its log in the message.
 */
export async function waitForDaemon(
  name: string,
  child: ChildProcess,
  logFile: string,
  ready: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  try {
    await waitUntil(
      name,
      async () => {
        if (spawnErrors.has(child) || hasExited(child)) throw new DaemonExited();
        return ready();
      },
      timeoutMs,
      (error) => error instanceof DaemonExited,
    );
  } catch (error) {
    const log = (await readFile(logFile, "utf8").catch(() => "")).trim().split("\n").slice(-20).join("\n");
    const spawnError = spawnErrors.get(child);
    const why = spawnError
      ? `could not be started (${spawnError.message})`
      : hasExited(child)
        ? `exited (${child.signalCode ?? `code ${child.exitCode}`})`
        : (error as Error).message.replace(`${name} `, "");
    await endProcess(child);
    throw new Error(`${name} ${why}; the end of ${logFile}:\n${log || "(empty)"}`);
  }
}

class DaemonExited extends Error {}

/**
 * Sends `signal` and resolves once the process is gone; SIGKILL after `graceMs` if it lingers.
 * Resolves at once for a process that already exited (or never started).
 */
export async function endProcess(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000) {
  if (hasExited(child) || child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await gone;
  clearTimeout(timer);
}

/**
 * Where a server program built with `go install` is: the path in `envVar` if set, else the first
 * `name` on PATH, else in $GOBIN or $(go env GOPATH)/bin (by default ~/go/bin). The error says how
 * to get it. scripts/setup.sh installs the pinned versions into the same places.
 */
export async function locateBinary(name: string, envVar: string): Promise<string> {
  const given = process.env[envVar];
  if (given) {
    if (await isExecutable(given)) return given;
    throw new Error(`${envVar}=${given} is not an executable file: fix it, or unset it to search PATH`);
  }
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  if (process.env.GOBIN) dirs.push(process.env.GOBIN);
  for (const gopath of (process.env.GOPATH ?? "").split(path.delimiter).filter(Boolean)) {
    dirs.push(path.join(gopath, "bin"));
  }
  for (const dir of dirs) {
    if (await isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  const goDirs = [path.join(homedir(), "go", "bin")];
  const go = await execFileAsync("go", ["env", "GOBIN", "GOPATH"]).catch(() => undefined);
  if (go) {
    const [gobin, gopath] = go.stdout.split("\n");
    if (gobin) goDirs.unshift(gobin);
    if (gopath) goDirs.unshift(...gopath.split(path.delimiter).map((p) => path.join(p, "bin")));
  }
  for (const dir of goDirs) {
    if (await isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  throw new Error(
    `${name} was found neither in ${envVar}, on PATH, nor in ${[...new Set(goDirs)].join(", ")}: ` +
      "run scripts/setup.sh (it needs Go from https://go.dev/dl/), or set " +
      `${envVar} to the binary`,
  );
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
