import pg from "pg";
import { type ConnectionSettings, describeTarget } from "../config/database-url.js";
import { connectionError } from "./connection-error.js";

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

/** Opens a connected client; a connection failure becomes a UserError that says what to check. */
export async function connectClient(
  settings: ConnectionSettings,
  applicationName?: string,
): Promise<pg.Client> {
  const client = new pg.Client({
    ...clientConfig(settings),
    ...(applicationName ? { application_name: applicationName } : {}),
  });
  // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw connectionError(err, describeTarget(settings));
  }
  return client;
}

/** Opens a client, runs `fn`, and always closes it. Connection failures become a UserError. */
export async function withClient<T>(
  settings: ConnectionSettings,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connectClient(settings);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Connects once before dumping: proves the credentials and learns the server's version. */
export async function inspectServer(settings: ConnectionSettings): Promise<ServerInfo> {
  return withClient(settings, async (client) => {
    const { rows } = await client.query<{ version: string; num: string; db: string; size: string }>(
      `SELECT current_setting('server_version') AS version,
              current_setting('server_version_num') AS num,
              current_database() AS db,
              pg_database_size(current_database())::text AS size`,
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
  });
}
