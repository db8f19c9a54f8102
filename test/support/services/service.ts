import { type ChildProcess, execFile, type SpawnOptions, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
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

/** Polls `ready` until it resolves true or the time is up; the error names the service. */
export async function waitUntil(
  name: string,
  ready: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not become ready within ${timeoutMs / 1000} s`);
}

/** Starts a long-running server process whose output goes to a log file in its directory. */
export function startDaemon(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { stdio: "ignore", detached: false, ...options });
  child.unref();
  return child;
}
