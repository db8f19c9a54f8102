import type pg from "pg";
import { type DatabaseProperties, readDatabaseProperties } from "./database-properties.js";
import type { ConnectionSettings } from "./database-url.js";
import { displayName, hexOfName, needsRawName } from "./names.js";
import { closeClient, connectClient, shortQuery } from "./server-info.js";

/** How a backup's manifest counts rows: exactly (COPY rows as they stream), from statistics, or not at all. */
export const ROW_COUNT_MODES = ["exact", "estimated", "off"] as const;
export type RowCountMode = (typeof ROW_COUNT_MODES)[number];

/** What the dump saw, taken in the same snapshot: a restore is proven against this. */
export interface SnapshotCatalog {
  readonly snapshot: string;
  readonly schemas: readonly string[];
  /** Tables pg_dump dumps data of ("schema.table"), with their row counts in the snapshot. */
  readonly tables: readonly { readonly name: string; readonly rows: number | null }[];
  readonly sequences: readonly string[];
  readonly extensions: readonly { readonly name: string; readonly version: string }[];
  /**
   * The exact bytes (hex) of every listed schema, table or sequence name that is not valid UTF-8
   * (e.g. Latin-1 names in a SQL_ASCII database), keyed by the name as listed (bytes >= 0x80 as \xHH).
   * Absent when every name is UTF-8, and in manifests written before it existed.
   */
  readonly rawNames?: Readonly<Record<string, string>>;
  readonly rowCounts: RowCountMode;
  /** Where the counts come from: the dump stream, count(*) in the snapshot, planner statistics, or none. */
  readonly rowCountSource: "dump stream" | "count(*) in snapshot" | "planner statistics" | "none";
  /** Set when the catalog could not be read; the backup itself is still good. */
  readonly error?: string;
}

/** The catalog of a backup whose catalog query failed: recorded as such, never invented. */
export function unreadableCatalog(snapshot: string, err: unknown): SnapshotCatalog {
  return {
    snapshot,
    schemas: [],
    tables: [],
    sequences: [],
    extensions: [],
    rowCounts: "off",
    rowCountSource: "none",
    error: (err as Error).message ?? String(err),
  };
}

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'`;
const NOT_EXTENSION_MEMBER = `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

/** What a backup records of its database in the dump's snapshot: never throws for a failed query. */
export interface SnapshotDescription {
  readonly catalog: SnapshotCatalog;
  readonly database: DatabaseProperties;
}

/**
 * A repeatable-read transaction whose snapshot is exported for `pg_dump --snapshot`: the catalog and
 * row counts read in it describe exactly the data the dump contains. Keep it open until pg_dump is done.
 * The exporting transaction runs nothing after the export: the catalog is read on a second connection
 * that imports the same snapshot, so no failed catalog query can abort the transaction pg_dump needs.
 */
export class ExportedSnapshot {
  private constructor(
    private readonly client: pg.Client,
    private readonly settings: ConnectionSettings,
    readonly id: string,
  ) {}

  static async open(settings: ConnectionSettings, signal?: AbortSignal): Promise<ExportedSnapshot> {
    const client = await connectClient(settings, "lifeline-snapshot", signal);
    try {
      await beginRepeatableRead(client);
      const { rows } = await shortQuery<{ id: string }>(client, "SELECT pg_export_snapshot() AS id", signal);
      return new ExportedSnapshot(client, settings, rows[0]!.id);
    } catch (err) {
      await closeClient(client);
      throw err;
    }
  }

  /**
   * Reads the catalog (row counts per `mode`) and the database's own properties in the snapshot, on a
   * connection of their own. A failure is recorded in the result (`error`), never thrown.
   */
  async describe(mode: RowCountMode): Promise<SnapshotDescription> {
    let reader: pg.Client;
    try {
      reader = await connectClient(this.settings, "lifeline-catalog");
    } catch (err) {
      return { catalog: unreadableCatalog(this.id, err), database: unreadableProperties(err) };
    }
    try {
      await beginRepeatableRead(reader);
      await reader.query(`SET TRANSACTION SNAPSHOT ${literal(this.id)}`);
      // Each read in a savepoint: a failed catalog query leaves the properties readable, and vice versa.
      const catalog = await inSavepoint(reader, () => readCatalog(reader, mode, this.id)).catch(
        (err: unknown) => unreadableCatalog(this.id, err),
      );
      const database = await inSavepoint(reader, () => readDatabaseProperties(reader)).catch(
        unreadableProperties,
      );
      return { catalog, database };
    } catch (err) {
      return { catalog: unreadableCatalog(this.id, err), database: unreadableProperties(err) };
    } finally {
      await shortQuery(reader, "COMMIT").catch(() => {});
      await closeClient(reader);
    }
  }

  async close(): Promise<void> {
    await shortQuery(this.client, "COMMIT").catch(() => {});
    await closeClient(this.client);
  }
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

async function beginRepeatableRead(client: pg.Client): Promise<void> {
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  // Like pg_dump's own session: a role's statement or idle-in-transaction timeout must not end this
  // transaction (it holds the exported snapshot) nor cut a long count(*) short.
  await client.query("SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0");
}

async function inSavepoint<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  await client.query("SAVEPOINT lifeline_read");
  try {
    const result = await fn();
    await client.query("RELEASE SAVEPOINT lifeline_read");
    return result;
  } catch (err) {
    await client.query("ROLLBACK TO SAVEPOINT lifeline_read");
    throw err;
  }
}

function unreadableProperties(err: unknown): DatabaseProperties {
  return {
    owner: "",
    encoding: "",
    collate: "",
    ctype: "",
    connectionLimit: -1,
    acl: null,
    comment: null,
    settings: [],
    error: (err as Error).message ?? String(err),
  };
}

/**
 * Rows of `SELECT count(*)` on a table. A name that is not UTF-8 cannot be sent in a query's text (the
 * client speaks UTF-8), so such a table is counted by oid in a DO block, its name quoted by the server.
 */
async function countRows(
  client: pg.Client,
  table: { oid: string; schema: string; relname: string },
): Promise<number> {
  const schema = Buffer.from(table.schema, "hex");
  const relname = Buffer.from(table.relname, "hex");
  if (!needsRawName(schema) && !needsRawName(relname)) {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ONLY ${quoteIdent(displayName(schema))}.${quoteIdent(displayName(relname))}`,
    );
    return Number(rows[0]!.n);
  }
  const results = (await client.query(
    `DO $lifeline$ DECLARE n bigint; BEGIN
       EXECUTE format('SELECT count(*) FROM ONLY %s', ${Number(table.oid)}::oid::regclass) INTO n;
       PERFORM set_config('lifeline.row_count', n::text, true);
     END $lifeline$;
     SELECT current_setting('lifeline.row_count') AS n`,
  )) as unknown as pg.QueryResult<{ n: string }>[];
  return Number(results[1]!.rows[0]!.n);
}

const quoteIdent = (id: string) => `"${id.replace(/"/g, '""')}"`;

/**
 * Reads schemas, tables (with row counts per `mode`), sequences and extensions as `client` sees them:
 * in a dump's snapshot when taking a backup, in the restored database when proving a restore. Names
 * are read as bytes, so that a name which is not UTF-8 is recorded (and compared) exactly.
 */
export async function readCatalog(
  client: pg.Client,
  mode: RowCountMode,
  snapshot: string,
): Promise<SnapshotCatalog> {
  const q = async <T extends pg.QueryResultRow>(sql: string) => (await client.query<T>(sql)).rows;
  const [{ encoding } = { encoding: "UTF8" }] = await q<{ encoding: string }>(
    "SELECT getdatabaseencoding() AS encoding",
  );
  const rawNames: Record<string, string> = {};
  const nameOf = (hex: string): string => {
    const bytes = Buffer.from(hex, "hex");
    const name = displayName(bytes);
    if (needsRawName(bytes)) rawNames[name] = hex;
    return name;
  };
  const schemas = (
    await q<{ s: string }>(
      `SELECT ${hexOfName("n.nspname", encoding)} AS s FROM pg_namespace n WHERE ${USER_SCHEMAS} ORDER BY n.nspname`,
    )
  ).map((r) => nameOf(r.s));
  const tableRows = await q<{ oid: string; name: string; schema: string; relname: string; estimate: string }>(
    `SELECT c.oid::text AS oid, ${hexOfName("n.nspname || '.' || c.relname", encoding)} AS name,
            ${hexOfName("n.nspname", encoding)} AS schema, ${hexOfName("c.relname", encoding)} AS relname,
            c.reltuples::bigint::text AS estimate
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'r' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER} ORDER BY n.nspname, c.relname`,
  );
  const tables: { name: string; rows: number | null }[] = [];
  for (const t of tableRows) {
    let rows: number | null = null;
    if (mode === "exact") rows = await countRows(client, t);
    else if (mode === "estimated") {
      rows = Number(t.estimate) >= 0 ? Number(t.estimate) : null; // -1: never analysed
    }
    tables.push({ name: nameOf(t.name), rows });
  }
  const sequences = (
    await q<{ s: string }>(
      `SELECT ${hexOfName("n.nspname || '.' || c.relname", encoding)} AS s
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'S' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER} ORDER BY n.nspname, c.relname`,
    )
  ).map((r) => nameOf(r.s));
  const extensions = await q<{ name: string; version: string }>(
    "SELECT extname AS name, extversion AS version FROM pg_extension ORDER BY 1",
  );
  const rowCountSource =
    mode === "exact" ? "count(*) in snapshot" : mode === "estimated" ? "planner statistics" : "none";
  return {
    snapshot,
    schemas,
    tables,
    sequences,
    extensions,
    ...(Object.keys(rawNames).length ? { rawNames } : {}),
    rowCounts: mode,
    rowCountSource,
  };
}
