import type pg from "pg";
import type { RowCountMode } from "../config/backup-db-config.js";
import type { ConnectionSettings } from "../config/database-url.js";
import { closeClient, connectClient, shortQuery } from "./server-info.js";

/** What the dump saw, taken in the same snapshot: a restore is proven against this. */
export interface SnapshotCatalog {
  readonly snapshot: string;
  readonly schemas: readonly string[];
  /** Tables pg_dump dumps data of ("schema.table"), with their row counts in the snapshot. */
  readonly tables: readonly { readonly name: string; readonly rows: number | null }[];
  readonly sequences: readonly string[];
  readonly extensions: readonly { readonly name: string; readonly version: string }[];
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

const quoteIdent = (id: string) => `"${id.replace(/"/g, '""')}"`;

/**
 * A repeatable-read transaction whose snapshot is exported for `pg_dump --snapshot`: the catalog and
 * row counts read here describe exactly the data the dump contains. Keep it open until pg_dump is done.
 */
export class ExportedSnapshot {
  private constructor(
    private readonly client: pg.Client,
    readonly id: string,
  ) {}

  static async open(settings: ConnectionSettings, signal?: AbortSignal): Promise<ExportedSnapshot> {
    const client = await connectClient(settings, "lifeline-snapshot", signal);
    try {
      // Short, so bounded (a server gone silent cannot hold the run); the catalog's counts are not.
      await shortQuery(client, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", signal);
      // Like pg_dump's own session: a role's statement or idle-in-transaction timeout must not end this
      // transaction (it holds the exported snapshot) nor cut a long count(*) short.
      await shortQuery(
        client,
        "SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0",
        signal,
      );
      const { rows } = await shortQuery<{ id: string }>(client, "SELECT pg_export_snapshot() AS id", signal);
      return new ExportedSnapshot(client, rows[0]!.id);
    } catch (err) {
      await closeClient(client);
      throw err;
    }
  }

  /** Reads schemas, tables (with row counts per `mode`), sequences and extensions in the snapshot. */
  async catalog(mode: RowCountMode): Promise<SnapshotCatalog> {
    return readCatalog(this.client, mode, this.id);
  }

  async close(): Promise<void> {
    await shortQuery(this.client, "COMMIT").catch(() => {});
    await closeClient(this.client);
  }
}

/**
 * Reads schemas, tables (with row counts per `mode`), sequences and extensions as `client` sees them:
 * in a dump's snapshot when taking a backup, in the restored database when proving a restore.
 */
export async function readCatalog(
  client: pg.Client,
  mode: RowCountMode,
  snapshot: string,
): Promise<SnapshotCatalog> {
  const q = async <T extends pg.QueryResultRow>(sql: string) => (await client.query<T>(sql)).rows;
  const schemas = (
    await q<{ s: string }>(`SELECT n.nspname AS s FROM pg_namespace n WHERE ${USER_SCHEMAS} ORDER BY 1`)
  ).map((r) => r.s);
  const tableRows = await q<{ schema: string; name: string; estimate: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.reltuples::bigint::text AS estimate
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'r' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER} ORDER BY 1, 2`,
  );
  const tables: { name: string; rows: number | null }[] = [];
  for (const t of tableRows) {
    let rows: number | null = null;
    if (mode === "exact") {
      const [r] = await q<{ n: string }>(
        `SELECT count(*)::text AS n FROM ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
      );
      rows = Number(r!.n);
    } else if (mode === "estimated") {
      rows = Number(t.estimate) >= 0 ? Number(t.estimate) : null; // -1: never analysed
    }
    tables.push({ name: `${t.schema}.${t.name}`, rows });
  }
  const sequences = (
    await q<{ s: string }>(
      `SELECT n.nspname || '.' || c.relname AS s FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'S' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER} ORDER BY 1`,
    )
  ).map((r) => r.s);
  const extensions = await q<{ name: string; version: string }>(
    "SELECT extname AS name, extversion AS version FROM pg_extension ORDER BY 1",
  );
  const rowCountSource =
    mode === "exact" ? "count(*) in snapshot" : mode === "estimated" ? "planner statistics" : "none";
  return { snapshot, schemas, tables, sequences, extensions, rowCounts: mode, rowCountSource };
}
