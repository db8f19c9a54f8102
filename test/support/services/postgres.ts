import { chown, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import {
  execFileAsync,
  freePort,
  makeTempDir,
  type RunningService,
  removeDir,
  waitUntil,
} from "./service.js";

/** Where PostgreSQL server programs live; PG_MAJOR picks among installed versions (default 15). */
export async function postgresBinDir(major = process.env.LIFELINE_PG_MAJOR ?? "15"): Promise<string> {
  const dir = `/usr/lib/postgresql/${major}/bin`;
  const present = await readdir(dir).catch(() => [] as string[]);
  if (!present.includes("initdb")) {
    throw new Error(`PostgreSQL ${major} server programs are not installed in ${dir}: run scripts/setup.sh`);
  }
  return dir;
}

export interface PostgresServer extends RunningService {
  readonly host: string;
  readonly port: number;
  readonly socketDir: string;
  readonly user: string;
  readonly password: string;
  readonly binDir: string;
  readonly dataDir: string;
  /** libpq URL for a database on this server. */
  url(database: string): string;
  /** Runs SQL as the superuser on a database, returning rows. */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    database: string,
    sql: string,
    params?: unknown[],
  ): Promise<T[]>;
  createDatabase(name: string): Promise<void>;
  dropDatabase(name: string): Promise<void>;
}

/** Runs a command as the unprivileged `postgres` user when we are root (initdb and postgres refuse root). */
function asServerUser(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
}

async function ownedByServerUser(paths: string[]): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const { stdout } = await execFileAsync("id", ["-u", "postgres"]);
  const { stdout: gid } = await execFileAsync("id", ["-g", "postgres"]);
  for (const p of paths) await chown(p, Number(stdout), Number(gid));
}

/**
 * A private, throwaway PostgreSQL cluster: initdb in a temp dir, listening on 127.0.0.1 and a socket
 * in that dir, with a password-protected superuser and scram-sha-256 authentication everywhere, so
 * that tests go through the same auth path as production.
 */
export async function startPostgres(
  options: { user?: string; password?: string } = {},
): Promise<PostgresServer> {
  const binDir = await postgresBinDir();
  const user = options.user ?? "lifeline";
  const password = options.password ?? "s3cr3t p@ss/w:rd%";
  const root = await makeTempDir("pg");
  const dataDir = path.join(root, "data");
  const pwFile = path.join(root, "pwfile");
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  await ownedByServerUser([root, pwFile]);

  const [initCmd, initArgs] = asServerUser(path.join(binDir, "initdb"), [
    "-D",
    dataDir,
    "-U",
    user,
    `--pwfile=${pwFile}`,
    "--auth=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
    "--no-sync",
  ]);
  await execFileAsync(initCmd, initArgs);

  const port = await freePort();
  const serverOptions = [
    `-p ${port}`,
    `-k ${root}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=50",
  ].join(" ");
  const [ctlCmd, ctlArgs] = asServerUser(path.join(binDir, "pg_ctl"), [
    "start",
    "-D",
    dataDir,
    "-l",
    path.join(root, "server.log"),
    "-o",
    serverOptions,
    "-w",
    "-t",
    "60",
  ]);
  await execFileAsync(ctlCmd, ctlArgs);

  const host = "127.0.0.1";
  const connect = async (database: string) => {
    const client = new pg.Client({ host, port, user, password, database });
    client.on("error", () => {});
    await client.connect();
    return client;
  };
  await waitUntil("PostgreSQL", async () => {
    const c = await connect("postgres");
    await c.end();
    return true;
  });

  let stopped = false;
  const server: PostgresServer = {
    name: "postgres",
    host,
    port,
    socketDir: root,
    user,
    password,
    binDir,
    dataDir,
    url: (database) =>
      `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(database)}`,
    async query(database, sql, params) {
      const client = await connect(database);
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    async createDatabase(name) {
      await server.query("postgres", `CREATE DATABASE "${name}"`);
    },
    async dropDatabase(name) {
      await server.query("postgres", `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const [cmd, args] = asServerUser(path.join(binDir, "pg_ctl"), [
        "stop",
        "-D",
        dataDir,
        "-m",
        "immediate",
        "-w",
      ]);
      await execFileAsync(cmd, args).catch(() => {});
      await removeDir(root);
    },
  };
  return server;
}
