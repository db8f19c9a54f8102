import { execFile } from "node:child_process";
import { mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll } from "vitest";
import { Logger, type LogSink } from "../../src/log/logger.js";
import { useService } from "./cloud-fixtures.js";
import { type PostgresServer, startPostgres } from "./services/postgres.js";
import { type Pushgateway, startPushgateway } from "./services/pushgateway.js";
import { makeTempDir, removeDir } from "./services/service.js";

const execFileAsync = promisify(execFile);

export const isRoot = process.getuid?.() === 0;

/** Starts a private PostgreSQL for the test file; the getter is valid inside tests. */
export function usePostgres(): () => PostgresServer {
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error("PostgreSQL is not started yet: use the getter inside a test");
    return server;
  };
}

/** Starts a private Pushgateway for the test file; the getter is valid inside tests. */
export const usePushgateway = (): (() => Pushgateway) => useService("The Pushgateway", startPushgateway);

/** A temporary directory removed after the test file. */
export function useTempDirs(): (label: string) => Promise<string> {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await removeDir(dir);
  });
  return async (label) => {
    const dir = await makeTempDir(label);
    dirs.push(dir);
    return dir;
  };
}

/** A logger that keeps every line, for asserting on what an operator would have seen. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink: LogSink = { write: (level, message) => lines.push(`${level}: ${message}`) };
  return { logger: new Logger(sink), lines };
}

/** Every file below a directory (names relative to it), including hidden partial files. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listTree(full)).map((f) => path.join(entry.name, f)));
    else out.push(entry.name);
  }
  return out.sort();
}

/** Mounts a tmpfs of `sizeKb` (root only): a real filesystem that fills up or is read-only. */
export async function mountTmpfs(
  dir: string,
  options: { sizeKb: number; readOnly?: boolean },
): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  await execFileAsync("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${options.sizeKb}k${options.readOnly ? ",ro" : ""}`,
    "tmpfs",
    dir,
  ]);
  return async () => {
    await execFileAsync("umount", ["-l", dir]).catch(() => {});
  };
}

/** Restores a .sql.gz into a database with the stock tools only: `gunzip -c file | psql`. */
export async function restoreWithStockTools(
  server: PostgresServer,
  file: string,
  database: string,
): Promise<void> {
  await shell(server, 'gunzip -c "$F" | psql -X -q -v ON_ERROR_STOP=1 -d "$D" >/dev/null', {
    F: file,
    D: database,
  });
}

export async function readText(file: string): Promise<string> {
  return readFile(file, "utf8");
}

/** Runs a shell pipeline (bash -o pipefail) with the server's credentials in the environment. */
export async function shell(
  server: PostgresServer,
  script: string,
  extraEnv: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await execFileAsync("bash", ["-o", "pipefail", "-c", script], {
    env: {
      ...process.env,
      PGHOST: server.host,
      PGPORT: String(server.port),
      PGUSER: server.user,
      PGPASSWORD: server.password,
      ...extraEnv,
    },
    maxBuffer: 64 << 20,
  });
  return stdout;
}
