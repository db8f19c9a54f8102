import { ConfigError } from "./errors.js";

/**
 * A resolved PostgreSQL connection. Fields left undefined fall back to libpq's PG* environment
 * variables and defaults, exactly as psql and pg_dump would.
 */
export interface ConnectionSettings {
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  /** libpq parameters from the query string, keyed by their libpq name (sslmode, connect_timeout...). */
  readonly params: Readonly<Record<string, string>>;
}

/** Query parameters we pass on to libpq, with the environment variable libpq reads for each. */
const LIBPQ_PARAMS: Readonly<Record<string, string>> = {
  host: "PGHOST",
  hostaddr: "PGHOSTADDR",
  port: "PGPORT",
  user: "PGUSER",
  dbname: "PGDATABASE",
  sslmode: "PGSSLMODE",
  sslrootcert: "PGSSLROOTCERT",
  sslcert: "PGSSLCERT",
  sslkey: "PGSSLKEY",
  sslcrl: "PGSSLCRL",
  sslnegotiation: "PGSSLNEGOTIATION",
  requiressl: "PGREQUIRESSL",
  connect_timeout: "PGCONNECT_TIMEOUT",
  application_name: "PGAPPNAME",
  options: "PGOPTIONS",
  target_session_attrs: "PGTARGETSESSIONATTRS",
  gssencmode: "PGGSSENCMODE",
  channel_binding: "PGCHANNELBINDING",
  service: "PGSERVICE",
};

const EXPECTED_FORM = "postgresql://user:password@host:5432/dbname";

/** Replaces the password of a URL-looking string with *** so the value can be quoted in an error. */
export function redactUrl(raw: string): string {
  return raw.replace(/^([a-z0-9+.-]*:\/\/[^:/@?#]*:)[^@/?#]*@/i, "$1***@");
}

/**
 * Parses DATABASE_URL. Accepts libpq URLs (`postgresql://`, `postgres://`) and the SQLAlchemy form the
 * runbook uses (`postgresql+psycopg://`), percent-encoded user, password and socket paths, and libpq
 * query parameters such as `sslmode`.
 */
export function parseDatabaseUrl(raw: string, name = "DATABASE_URL"): ConnectionSettings {
  const value = raw.trim();
  const shown = redactUrl(value);
  const fail = (why: string): never => {
    throw new ConfigError(
      `${name} is not a valid PostgreSQL URL (${why}): '${shown}'. Expected ${EXPECTED_FORM}`,
    );
  };

  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) fail("it does not start with postgresql://");
  const base = scheme!.split("+")[0];
  if (base !== "postgresql" && base !== "postgres") fail(`unsupported scheme '${scheme}:'`);

  // Swap the scheme for one WHATWG URL treats generically; everything after '://' is parsed as-is.
  let url: URL;
  try {
    url = new URL(`lifeline-pg${value.slice(scheme!.length)}`);
  } catch {
    if (/^[^/]*\/\/[^/?#]*,/.test(value)) fail("several hosts in one URL are not supported; name one host");
    const port = /^[^/]*\/\/(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#]*):([^/?#]*)/.exec(value)?.[1];
    if (port !== undefined) fail(`port '${port}' is not a number from 1 to 65535`);
    return fail("it could not be parsed; percent-encode special characters in the password, e.g. @ as %40");
  }

  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      return fail(`the ${what} has an invalid percent-encoding`);
    }
  };

  const params: Record<string, string> = {};
  for (const [key, val] of url.searchParams) {
    if (!(key in LIBPQ_PARAMS)) {
      fail(`unknown query parameter '${key}'; libpq accepts ${Object.keys(LIBPQ_PARAMS).join(", ")}`);
    }
    params[key] = val;
  }

  let host: string | undefined = url.hostname ? decode(url.hostname, "host") : undefined;
  if (host?.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  host ??= params.host;

  let port: number | undefined;
  const rawPort = url.port || params.port;
  if (rawPort) {
    port = Number(rawPort);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      fail(`port '${rawPort}' is not a number from 1 to 65535`);
  }

  const path = url.pathname.replace(/^\//, "");
  if (path.includes("/")) fail("the database name must not contain '/'");
  const database = path ? decode(path, "database name") : params.dbname;

  const settings: ConnectionSettings = {
    params,
    ...(host ? { host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(url.username
      ? { user: decode(url.username, "user name") }
      : params.user
        ? { user: params.user }
        : {}),
    ...(url.password ? { password: decode(url.password, "password") } : {}),
    ...(database ? { database } : {}),
  };
  return settings;
}

/**
 * The environment for libpq programs (pg_dump, psql): the caller's environment with the URL's parts
 * laid over it. The password travels in PGPASSWORD, never in argv.
 */
export function libpqEnvironment(
  settings: ConnectionSettings,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [key, val] of Object.entries(settings.params)) {
    const variable = LIBPQ_PARAMS[key];
    if (variable) env[variable] = val;
  }
  if (settings.host !== undefined) env.PGHOST = settings.host;
  if (settings.port !== undefined) env.PGPORT = String(settings.port);
  if (settings.user !== undefined) env.PGUSER = settings.user;
  if (settings.database !== undefined) env.PGDATABASE = settings.database;
  if (settings.password !== undefined) env.PGPASSWORD = settings.password;
  return env;
}

/** Where the connection goes, for messages: host:port/database, never the password. */
export function describeTarget(settings: ConnectionSettings, env: NodeJS.ProcessEnv = process.env): string {
  const host = settings.host ?? env.PGHOST ?? "localhost";
  const port = settings.port ?? (env.PGPORT ? Number(env.PGPORT) : 5432);
  const database = settings.database ?? env.PGDATABASE ?? settings.user ?? env.PGUSER ?? "(default)";
  const where = host.startsWith("/") ? `socket ${host} port ${port}` : `${host}:${port}`;
  return `${where}, database "${database}"`;
}

/**
 * The password of a URL-looking string, found without fully parsing it, so that it can be registered
 * as a secret before a malformed URL is quoted anywhere. Returns raw and decoded forms.
 */
export function passwordsIn(raw: string): string[] {
  const m = /^[a-z0-9+.-]*:\/\/[^:/@?#]*:([^@/?#]*)@/i.exec(raw.trim());
  if (!m?.[1]) return [];
  try {
    return [...new Set([m[1], decodeURIComponent(m[1])])];
  } catch {
    return [m[1]];
  }
}
