import type pg from "pg";
import { readRegularFile } from "../fs/regular-file.js";
import { ConfigError } from "../shared/errors.js";

/** One user check run against a restored copy, and what it returned. */
export interface SqlCheckResult {
  readonly sql: string;
  readonly ok: boolean;
  /** The first column of the first row, as text; or why it failed. */
  readonly detail: string;
}

/**
 * Reads a check file (BACKUP_CHECK_SQL): SQL statements, each ended by a `;` at the end of a line;
 * `--` comment lines are ignored. Each statement must return at least one row whose first column is
 * neither false nor NULL nor an empty string — e.g. `SELECT count(*) > 0 FROM videos;`.
 */
export async function readCheckSql(file: string): Promise<string[]> {
  const text = await readRegularFile(file, { followSymlinks: true }).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(
      `BACKUP_CHECK_SQL '${file}' cannot be read (${err.code ?? err.message}): give a readable file of SQL checks`,
    );
  });
  const statements = text
    .split("\n")
    .filter((line) => !/^\s*--/.test(line))
    .join("\n")
    .split(/;[ \t]*(?:\r?\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (!statements.length) {
    throw new ConfigError(
      `BACKUP_CHECK_SQL '${file}' holds no SQL statement: write one check per statement, ended by ';'`,
    );
  }
  return statements;
}

/** Runs each check in a read-only transaction, so that a check can never change the copy it judges. */
export async function runSqlChecks(
  client: pg.Client,
  statements: readonly string[],
): Promise<SqlCheckResult[]> {
  const results: SqlCheckResult[] = [];
  for (const sql of statements) {
    try {
      await client.query("BEGIN READ ONLY");
      const res = await client.query({ text: sql, rowMode: "array" });
      const value: unknown = (res.rows[0] as unknown[] | undefined)?.[0];
      const ok =
        res.rows.length > 0 && value !== null && value !== undefined && value !== false && value !== "";
      results.push({
        sql,
        ok,
        detail: res.rows.length === 0 ? "no rows returned" : value === null ? "NULL" : String(value),
      });
    } catch (err) {
      results.push({ sql, ok: false, detail: `error: ${(err as Error).message}` });
    } finally {
      await client.query("ROLLBACK").catch(() => {});
    }
  }
  return results;
}
