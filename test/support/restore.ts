import path from "node:path";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { findBackup } from "../../src/catalog/backup-source.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { loadRestoreConfig } from "../../src/config/restore-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { type RestoreOptions, restoreDatabase } from "../../src/restore/restore-db.js";
import { capturingLogger } from "./fixtures.js";
import type { PostgresServer } from "./services/postgres.js";

/** Takes a backup of `database` with backup-db, returning the file written. */
export async function takeBackup(
  pg: PostgresServer,
  database: string,
  dir: string,
  vars: Record<string, string> = {},
): Promise<string> {
  const { logger } = capturingLogger();
  const result = await backupDatabase(
    loadBackupDbConfig(environmentLookup({ DATABASE_URL: pg.url(database), BACKUP_DIR: dir, ...vars })),
    { logger },
  );
  return result.file;
}

/** Restores `file` over `database` through the engine (confirmation is the adapters' business). */
export async function restoreFile(
  pg: PostgresServer,
  database: string,
  file: string,
  vars: Record<string, string> = {},
  options: Partial<RestoreOptions> = {},
) {
  const { logger, lines } = capturingLogger();
  const config = loadRestoreConfig(
    environmentLookup({
      DATABASE_URL: pg.url(database),
      BACKUP_DIR: path.dirname(path.dirname(file)),
      BACKUP_FILE: file,
      ...vars,
    }),
  );
  const entry = await findBackup(file);
  try {
    const result = await restoreDatabase(config, entry, { logger, ...options });
    return { result, lines };
  } catch (err) {
    (err as Error & { lines?: string[] }).lines = lines;
    throw err;
  }
}

/** Names of the databases on the server, for "nothing was left behind" assertions. */
export async function databases(pg: PostgresServer): Promise<string[]> {
  const rows = await pg.query<{ datname: string }>(
    "postgres",
    "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1",
  );
  return rows.map((r) => r.datname);
}

/** Every backup kind restore must handle: format × compression (as backup-db allows) × encryption. */
export const BACKUP_KINDS = (
  [
    ["plain", "gzip"],
    ["plain", "zstd"],
    ["plain", "none"],
    ["custom", "gzip"],
    ["custom", "none"],
  ] as const
).flatMap(([format, compression]) =>
  [false, true].map((encrypted) => [format, compression, encrypted] as const),
);
