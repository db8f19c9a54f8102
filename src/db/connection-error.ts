import { UserError } from "../shared/errors.js";

interface PgLikeError {
  code?: string;
  message?: string;
  errno?: number;
}

/**
 * Turns a connection failure (from node-postgres or libpq's stderr) into a message that says what
 * went wrong, where, and what to check next. Never includes the password.
 */
export function connectionError(cause: unknown, target: string): UserError {
  const err = (cause ?? {}) as PgLikeError;
  const code = err.code ?? "";
  const text = err.message ?? String(cause);
  let why: string;
  switch (true) {
    case code === "ECONNREFUSED" || /Connection refused/i.test(text):
      why =
        "connection refused: is PostgreSQL running and listening there? Check the host and port in DATABASE_URL (test with pg_isready)";
      break;
    case code === "ENOTFOUND" || code === "EAI_AGAIN" || /could not translate host name/i.test(text):
      why = "the host name does not resolve: check the host in DATABASE_URL";
      break;
    case code === "ETIMEDOUT" || /timeout/i.test(text):
      why = "the connection timed out: check the host, port and any firewall between here and the server";
      break;
    case code === "28P01" || /password authentication failed/i.test(text):
      why =
        "password authentication failed: check the user and password in DATABASE_URL (or PGPASSWORD / PGPASSFILE)";
      break;
    case code === "28000":
      why = `the server refused the login (${text}): check pg_hba.conf and the user in DATABASE_URL`;
      break;
    case code === "3D000" || /database .* does not exist/i.test(text):
      why =
        "that database does not exist: check the database name in DATABASE_URL (list databases with psql -l)";
      break;
    case code === "ENOENT" && /\.s\.PGSQL/.test(text):
      why = "no server socket at that path: is PostgreSQL running, and is the socket directory right?";
      break;
    default:
      why = text;
  }
  return new UserError(`Cannot connect to PostgreSQL at ${target}: ${why}`, { cause });
}
