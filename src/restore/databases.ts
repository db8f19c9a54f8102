import type pg from "pg";
import { formatTimestamp } from "../catalog/backup-name.js";
import type { BackupManifest } from "../catalog/manifest.js";
import type { ConnectionSettings } from "../db/database-url.js";
import { connectClient } from "../db/server-info.js";
import { UserError } from "../shared/errors.js";

/** PostgreSQL truncates identifiers to 63 bytes; derived names must fit so that they stay distinct. */
const MAX_IDENTIFIER_BYTES = 63;
const SESSION_DRAIN_MS = 15_000;

export const quoteIdent = (id: string): string => `"${id.replace(/"/g, '""')}"`;

/** `<base><suffix>`, shortening `base` (never the suffix) to fit in 63 bytes. */
export function derivedName(base: string, suffix: string): string {
  let head = base;
  while (Buffer.byteLength(head + suffix) > MAX_IDENTIFIER_BYTES) head = head.slice(0, -1);
  return head + suffix;
}

/** The database a restore is built in before it replaces `live`: `<live>_lifeline_restore_<UTC time>`. */
export const restoreDatabaseName = (live: string, at: Date): string =>
  derivedName(live, `_lifeline_restore_${formatTimestamp(at)}`);

/** The name the replaced database is kept under: `<live>_pre_restore_<UTC time>`. */
export const previousDatabaseName = (live: string, at: Date): string =>
  derivedName(live, `_pre_restore_${formatTimestamp(at)}`);

/**
 * A connection to the server's maintenance database (postgres, or template1 when the target is itself
 * `postgres`): databases are created, renamed and dropped from outside them.
 */
export async function connectMaintenance(connection: ConnectionSettings, target: string): Promise<pg.Client> {
  return connectClient(
    { ...connection, database: target === "postgres" ? "template1" : "postgres" },
    "lifeline-restore",
  );
}

export interface DatabaseInfo {
  readonly owner: string;
  readonly encoding: string;
  readonly collate: string;
  readonly ctype: string;
}

/** The encoding, locale and owner a manifest recorded, for creating the database a restore fills. */
export function recordedDatabaseInfo(manifest: BackupManifest | undefined): DatabaseInfo | undefined {
  const p = manifest?.databaseProperties;
  return p && !p.error
    ? { owner: p.owner, encoding: p.encoding, collate: p.collate, ctype: p.ctype }
    : undefined;
}

export async function describeDatabase(client: pg.Client, name: string): Promise<DatabaseInfo | undefined> {
  const { rows } = await client.query<DatabaseInfo>(
    `SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding,
            datcollate AS collate, datctype AS ctype
     FROM pg_database WHERE datname = $1`,
    [name],
  );
  return rows[0];
}

/**
 * Creates an empty database from template0 (a dump must not meet objects added to template1), with the
 * encoding, locale and owner of `like` when given, so that the restored copy can take its place.
 */
export async function createEmptyDatabase(
  client: pg.Client,
  name: string,
  like: (Omit<DatabaseInfo, "owner"> & { readonly owner?: string }) | undefined,
): Promise<void> {
  const base = `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`;
  const withLocale = like
    ? `${base} ENCODING ${literal(like.encoding)} LC_COLLATE ${literal(like.collate)} LC_CTYPE ${literal(like.ctype)}`
    : base;
  try {
    await client.query(like?.owner ? `${withLocale} OWNER ${quoteIdent(like.owner)}` : withLocale);
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (e.code === "42501" && /CREATE DATABASE/i.test(e.message)) {
      throw new UserError(
        `Cannot create the database '${name}' to restore into: the role in DATABASE_URL lacks CREATEDB. ` +
          "Grant it (ALTER ROLE ... CREATEDB) or restore as a role that has it",
        { cause: err },
      );
    }
    if (!like?.owner || (e.code !== "42501" && e.code !== "42704")) throw err;
    // Not a member of the owner role, or no such role here: keep our own ownership rather than fail.
    await client.query(withLocale);
  }
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Drops a database, ending its sessions first (WITH (FORCE) on PostgreSQL 13+). */
export async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  const major = Math.floor(
    Number(
      (await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v,
    ) / 10000,
  );
  if (major < 13) await terminateSessions(client, name);
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}${major >= 13 ? " WITH (FORCE)" : ""}`);
}

async function terminateSessions(client: pg.Client, name: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    "SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [name],
  );
  return Number(rows[0]!.n);
}

async function otherSessions(client: pg.Client, name: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    "SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [name],
  );
  return Number(rows[0]!.n);
}

/**
 * Puts `fresh` in the place of `live` in one short step: new connections to `live` are refused, its
 * sessions ended, then both renames happen in one transaction (all or nothing), so `live` always names
 * a complete database. When `live` does not exist the fresh one is just renamed. Returns the name the
 * old database is kept under, or undefined when there was none.
 */
export async function swapInto(
  client: pg.Client,
  names: { live: string; fresh: string; previous: string },
): Promise<{ previous: string | undefined; terminated: number }> {
  const { live, fresh, previous } = names;
  const exists = (await describeDatabase(client, live)) !== undefined;
  if (!exists) {
    await client.query(`ALTER DATABASE ${quoteIdent(fresh)} RENAME TO ${quoteIdent(live)}`);
    return { previous: undefined, terminated: 0 };
  }
  await client.query(`ALTER DATABASE ${quoteIdent(live)} ALLOW_CONNECTIONS false`);
  let swapped = false;
  let terminated = 0;
  try {
    const deadline = Date.now() + SESSION_DRAIN_MS;
    for (;;) {
      terminated += await terminateSessions(client, live);
      if ((await otherSessions(client, live)) === 0) break;
      if (Date.now() > deadline) {
        throw new UserError(
          `Sessions on '${live}' did not end within ${SESSION_DRAIN_MS / 1000} s of pg_terminate_backend: ` +
            `nothing was swapped; '${live}' is unchanged. Stop the clients holding it and run the restore again`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await client.query("BEGIN");
    try {
      await client.query(`ALTER DATABASE ${quoteIdent(live)} RENAME TO ${quoteIdent(previous)}`);
      await client.query(`ALTER DATABASE ${quoteIdent(fresh)} RENAME TO ${quoteIdent(live)}`);
      await client.query("COMMIT");
      swapped = true;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    }
  } finally {
    // The kept copy (or, when the swap failed, the untouched live database) accepts connections again.
    await client
      .query(`ALTER DATABASE ${quoteIdent(swapped ? previous : live)} ALLOW_CONNECTIONS true`)
      .catch(() => {});
  }
  return { previous, terminated };
}
