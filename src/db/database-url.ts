import { ConfigError } from "../shared/errors.js";

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
  password: "PGPASSWORD",
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

/** Splits `scheme://userinfo@rest` at the last '@', so that a password with an unencoded @ / ? # stays whole. */
function splitAuthority(
  raw: string,
): { scheme: string; userinfo: string | undefined; rest: string } | undefined {
  const m = /^([a-z0-9+.-]*:\/\/)(.*)$/is.exec(raw);
  if (!m) return undefined;
  const body = m[2]!;
  const at = body.lastIndexOf("@");
  return at < 0
    ? { scheme: m[1]!, userinfo: undefined, rest: body }
    : { scheme: m[1]!, userinfo: body.slice(0, at), rest: body.slice(at + 1) };
}

/**
 * Hides the credentials of a URL-looking string so that it can be quoted in a message, whether or not
 * it parses: everything credential-shaped (see passwordsIn) becomes ***.
 */
export function redactUrl(raw: string): string {
  const parts = splitAuthority(raw);
  let out = raw;
  if (parts?.userinfo !== undefined) {
    // The well-formed case keeps the user name: scheme://user:***@host
    const colon = parts.userinfo.indexOf(":");
    const user = colon < 0 ? parts.userinfo : `${parts.userinfo.slice(0, colon)}:***`;
    out = `${parts.scheme}${user}@${parts.rest}`;
  }
  for (const secret of passwordsIn(raw).sort((a, b) => b.length - a.length))
    out = out.split(secret).join("***");
  return out;
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
  if (scheme === undefined) {
    const bare = /^(postgres(?:ql)?(?:\+[a-z0-9]+)?):/i.exec(value)?.[1];
    fail(
      bare
        ? `'${bare}:' is not followed by '//'; write ${bare}://user:password@host:5432/dbname`
        : "it does not start with postgresql://",
    );
  }
  const base = scheme!.split("+")[0];
  if (base !== "postgresql" && base !== "postgres") fail(`unsupported scheme '${scheme}:'`);

  // Swap the scheme for one WHATWG URL treats generically; everything after '://' is parsed as-is.
  let url: URL;
  try {
    url = new URL(`lifeline-pg${value.slice(scheme!.length)}`);
  } catch {
    if (/^[^/]*\/\/[^/?#]*,/.test(value)) fail("several hosts in one URL are not supported; name one host");
    const parts = splitAuthority(value);
    if (parts?.userinfo !== undefined && /[/?#]/.test(parts.userinfo)) {
      fail(
        "the user or password holds an unencoded / ? or #; percent-encode them: / as %2F, ? as %3F, # as %23",
      );
    }
    const hostPort = parts?.rest.split(/[/?#]/)[0] ?? "";
    // Never quote a fragment of a value that did not parse: with no '@', the "port" may be a password.
    if (/^(?:\[[^\]]*\]|[^:]*):/.test(hostPort)) {
      fail(
        "the text after the host's ':' is not a port number from 1 to 65535; a password needs a user before it " +
          "and an '@' after it (user:password@host), with @ / ? # : in it percent-encoded",
      );
    }
    return fail(
      "it could not be parsed; percent-encode special characters in the user and password: @ as %40, / as %2F, ? as %3F, # as %23, : as %3A",
    );
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
    ...(url.password
      ? { password: decode(url.password, "password") }
      : params.password
        ? { password: params.password }
        : {}),
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
 * Everything credential-shaped in a URL-looking string, so that it can be registered as a secret before
 * a malformed URL is quoted anywhere; nothing more (a fragment registered would mask that text in every
 * log line). A `scheme://` URL that parses gives its password only. One that does not: the userinfo's
 * password, from its first ':' to the LAST '@' (a password with unencoded @ / ? #); with no '@' at all,
 * `user:xxx` before the first '/' where xxx is not a port (`postgresql://admin:pw/db`, or '#' typed for
 * '@'). Without `://` (`postgresql:user:pw@host`, `postgres:pw@host`) the whole text before the last '@'
 * too, since the user and the password can't be told apart. And `password=` values (query parameters, or
 * libpq's keyword/value form). Raw and decoded forms.
 */
export function passwordsIn(raw: string): string[] {
  const value = raw.trim();
  const found: string[] = [];
  const withSlashes = /^[a-z][a-z0-9+.-]*:\/\/(.*)$/is.exec(value);
  if (withSlashes) {
    const body = withSlashes[1]!;
    const parsed = parseGeneric(body);
    if (parsed) {
      if (parsed.password) found.push(parsed.password);
    } else {
      const at = body.lastIndexOf("@");
      if (at >= 0) {
        const userinfo = body.slice(0, at);
        const colon = userinfo.indexOf(":");
        if (colon >= 0) found.push(userinfo.slice(colon + 1));
      } else {
        const authority = body.split("/")[0]!;
        const colon = authority.startsWith("[") ? -1 : authority.indexOf(":");
        const after = colon < 0 ? "" : authority.slice(colon + 1);
        if (!/^\d*$/.test(after)) found.push(after);
      }
    }
  } else {
    const at = value.lastIndexOf("@");
    if (at >= 0) {
      const userinfo = value.slice(0, at).replace(/^[a-z][a-z0-9+.-]*:\/?/i, "");
      found.push(userinfo);
      const colon = userinfo.indexOf(":");
      if (colon >= 0) found.push(userinfo.slice(colon + 1));
    }
  }
  for (const m of value.matchAll(/password\s*=\s*('(?:[^'\\]|\\.)*'|[^&#\s]*)/gi)) {
    if (m[1]) found.push(m[1], m[1].replace(/^'(.*)'$/s, "$1"));
  }
  const all = new Set<string>();
  for (const p of found) {
    all.add(p);
    try {
      all.add(decodeURIComponent(p));
    } catch {
      // not percent-encoded: the raw form is enough
    }
  }
  return [...all].filter((p) => p !== "" && p !== "''");
}

/** The WHATWG parse of what follows `scheme://`, or undefined when it does not parse. */
function parseGeneric(body: string): URL | undefined {
  try {
    return new URL(`lifeline-pg://${body}`);
  } catch {
    return undefined;
  }
}
