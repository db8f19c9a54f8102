import pg from "pg";
import { abortReason, withDeadline } from "../net/deadline.js";
import { connectionError } from "./connection-error.js";
import { type ConnectionSettings, describeTarget } from "./database-url.js";

export interface ServerInfo {
  /** e.g. "15.18 (Debian 15.18-0+deb12u1)" */
  readonly version: string;
  /** e.g. 150018 */
  readonly versionNum: number;
  readonly major: number;
  readonly database: string;
  readonly databaseSizeBytes: number;
}

const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
/** Bound of the short queries before a dump (server version, size, the snapshot's BEGIN): never the dump's. */
export const SHORT_QUERY_TIMEOUT_MS = 60_000;
/** How long a polite close (Terminate, then the server's FIN) may take before the socket is cut. */
const CLOSE_TIMEOUT_MS = 2_000;

/**
 * Cuts a client's socket at once. node-postgres has no public way to: end() waits for the server's
 * FIN, which a silent server never sends.
 */
function destroyClient(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** Closes a client, cutting the socket when the server does not answer the goodbye in time. */
export async function closeClient(client: pg.Client): Promise<void> {
  await withDeadline("Closing the PostgreSQL connection", CLOSE_TIMEOUT_MS, () => client.end()).catch(() =>
    destroyClient(client),
  );
}

/**
 * Runs one short query under a deadline and `signal`: a server gone silent (or SIGTERM) cuts the
 * connection instead of holding the run. Not for the dump, nor for counts that may take long.
 */
export async function shortQuery<R extends pg.QueryResultRow>(
  client: pg.Client,
  sql: string,
  signal?: AbortSignal,
): Promise<pg.QueryResult<R>> {
  return withDeadline(
    "A PostgreSQL query",
    SHORT_QUERY_TIMEOUT_MS,
    (s) => {
      const cut = () => destroyClient(client);
      s.addEventListener("abort", cut, { once: true });
      return client.query<R>(sql).finally(() => s.removeEventListener("abort", cut));
    },
    { signal },
  );
}

/** node-postgres client options for the same target libpq programs will reach. */
export function clientConfig(settings: ConnectionSettings): pg.ClientConfig {
  const timeout = Number(settings.params.connect_timeout ?? process.env.PGCONNECT_TIMEOUT);
  const sslmode = settings.params.sslmode ?? process.env.PGSSLMODE;
  return {
    ...(settings.host !== undefined ? { host: settings.host } : {}),
    ...(settings.port !== undefined ? { port: settings.port } : {}),
    ...(settings.user !== undefined ? { user: settings.user } : {}),
    ...(settings.password !== undefined ? { password: settings.password } : {}),
    ...(settings.database !== undefined ? { database: settings.database } : {}),
    ...(settings.params.application_name ? { application_name: settings.params.application_name } : {}),
    ...(sslmode && sslmode !== "disable" && sslmode !== "allow" && sslmode !== "prefer"
      ? { ssl: { rejectUnauthorized: sslmode === "verify-ca" || sslmode === "verify-full" } }
      : {}),
    connectionTimeoutMillis: 1000 * (timeout > 0 ? timeout : DEFAULT_CONNECT_TIMEOUT_SECONDS),
  };
}

/**
 * Opens a connected client; a connection failure becomes a UserError that says what to check. The
 * connection (startup and login included) is bounded by connect_timeout / PGCONNECT_TIMEOUT (10 s by
 * default) and ends at once when `signal` (the run's) fires.
 */
export async function connectClient(
  settings: ConnectionSettings,
  applicationName?: string,
  signal?: AbortSignal,
): Promise<pg.Client> {
  const config = clientConfig(settings);
  const client = new pg.Client({
    ...config,
    ...(applicationName ? { application_name: applicationName } : {}),
  });
  // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
  client.on("error", () => {});
  const target = describeTarget(settings);
  try {
    await withDeadline(
      `Connecting to PostgreSQL at ${target}`,
      // node-postgres's own timer ends it first, with its own error; this is the backstop.
      (config.connectionTimeoutMillis ?? DEFAULT_CONNECT_TIMEOUT_SECONDS * 1000) + 1000,
      async (s) => {
        s.addEventListener("abort", () => destroyClient(client), { once: true });
        await client.connect();
      },
      { signal },
    );
  } catch (err) {
    await closeClient(client);
    if (signal?.aborted) throw abortReason(signal);
    throw connectionError(err, target);
  }
  return client;
}

/** Opens a client, runs `fn`, and always closes it. Connection failures become a UserError. */
export async function withClient<T>(
  settings: ConnectionSettings,
  fn: (client: pg.Client) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const client = await connectClient(settings, undefined, signal);
  try {
    return await fn(client);
  } finally {
    await closeClient(client);
  }
}

/** Connects once before dumping: proves the credentials and learns the server's version. */
export async function inspectServer(settings: ConnectionSettings, signal?: AbortSignal): Promise<ServerInfo> {
  return withClient(
    settings,
    async (client) => {
      const { rows } = await shortQuery<{ version: string; num: string; db: string; size: string }>(
        client,
        `SELECT current_setting('server_version') AS version,
              current_setting('server_version_num') AS num,
              current_database() AS db,
              pg_database_size(current_database())::text AS size`,
        signal,
      );
      const row = rows[0]!;
      const versionNum = Number(row.num);
      return {
        version: row.version,
        versionNum,
        major: Math.floor(versionNum / 10000),
        database: row.db,
        databaseSizeBytes: Number(row.size),
      };
    },
    signal,
  );
}
