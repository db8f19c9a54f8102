import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import type { BackupManifest } from "../../src/catalog/manifest.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { loadVerifyConfig } from "../../src/config/verify-config.js";
import { verifyBackups } from "../../src/verify/verify-backups.js";
import { capturingLogger, shell, usePostgres, useTempDirs } from "../support/fixtures.js";
import { restoreFile, takeBackup } from "../support/restore.js";

const postgres = usePostgres();
const tempDir = useTempDirs();

/** "café" and "naïve" in Latin-1: bytes that are not valid UTF-8. */
const TABLE_BYTES = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
const SCHEMA_BYTES = Buffer.from([0x6e, 0x61, 0xef, 0x76, 0x65]);

/** A SQL_ASCII database with a schema and a table whose names are Latin-1 bytes, sent raw through psql. */
async function sqlAsciiDatabase(name: string): Promise<void> {
  const pg = postgres();
  await pg.query(
    "postgres",
    `CREATE DATABASE ${name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`,
  );
  const sql = Buffer.concat([
    Buffer.from('CREATE SCHEMA "'),
    SCHEMA_BYTES,
    Buffer.from('";\nCREATE TABLE "'),
    SCHEMA_BYTES,
    Buffer.from('"."'),
    TABLE_BYTES,
    Buffer.from('" (id int PRIMARY KEY, note text);\nINSERT INTO "'),
    SCHEMA_BYTES,
    Buffer.from('"."'),
    TABLE_BYTES,
    Buffer.from("\" SELECT g, 'caf"),
    Buffer.from([0xe9]),
    Buffer.from(
      "' FROM generate_series(1, 37) g;\nCREATE TABLE plain_ascii AS SELECT g FROM generate_series(1, 5) g;\n",
    ),
  ]);
  await runRawSql(name, sql);
}

/** Runs SQL given as raw bytes through psql with client_encoding SQL_ASCII (no conversion at all). */
async function runRawSql(database: string, sql: Buffer): Promise<void> {
  const file = path.join(await tempDir("sqlascii-sql"), "script.sql");
  await writeFile(file, sql);
  await shell(postgres(), 'psql -X -q -v ON_ERROR_STOP=1 -d "$D" -f "$F"', {
    D: database,
    F: file,
    PGCLIENTENCODING: "SQL_ASCII",
  });
}

/** The raw bytes of every user relation name ("schema.table") in hex, and its row count. */
async function rawTables(name: string): Promise<Record<string, number>> {
  const out = await shell(
    postgres(),
    `psql -X -At -d "$D" -c "SELECT encode(convert_to(n.nspname || '.' || c.relname, 'SQL_ASCII'), 'hex') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"`,
    { D: name, PGCLIENTENCODING: "SQL_ASCII" },
  );
  const counts: Record<string, number> = {};
  for (const hex of out.split("\n").filter(Boolean)) {
    const table = Buffer.from(hex, "hex");
    const dot = table.indexOf(0x2e);
    const quoted = (b: Buffer) => Buffer.concat([Buffer.from('"'), b, Buffer.from('"')]);
    const query = Buffer.concat([
      Buffer.from("SELECT count(*) FROM "),
      quoted(table.subarray(0, dot)),
      Buffer.from("."),
      quoted(table.subarray(dot + 1)),
    ]);
    const dir = await tempDir("sqlascii-q");
    const file = path.join(dir, "count.sql");
    await writeFile(file, query);
    counts[hex] = Number(
      (
        await shell(postgres(), 'psql -X -At -v ON_ERROR_STOP=1 -d "$D" -f "$F"', {
          D: name,
          F: file,
          PGCLIENTENCODING: "SQL_ASCII",
        })
      ).trim(),
    );
  }
  return counts;
}

describe("a SQL_ASCII database with names that are not UTF-8", () => {
  const expectedHex = Buffer.concat([SCHEMA_BYTES, Buffer.from("."), TABLE_BYTES]).toString("hex");

  it.each([
    ["plain", "exact"],
    ["custom", "exact"],
    ["plain", "estimated"],
  ] as const)(
    "backs up (%s, row counts %s) with a complete manifest and restores byte for byte",
    async (format, rowCounts) => {
      const db = `ascii_${format}_${rowCounts}`;
      const dir = await tempDir("sqlascii");
      await sqlAsciiDatabase(db);
      const before = await rawTables(db);
      expect(before[expectedHex]).toBe(37);

      const file = await takeBackup(postgres(), db, dir, {
        BACKUP_FORMAT: format,
        BACKUP_ROW_COUNTS: rowCounts,
      });
      const manifest = JSON.parse(await readFile(`${file}.manifest.json`, "utf8")) as BackupManifest;
      expect(manifest.catalog.error).toBeUndefined();
      const table = manifest.catalog.tables.find((t) => manifest.catalog.rawNames?.[t.name] === expectedHex);
      expect(table).toBeDefined();
      if (rowCounts === "exact") expect(table?.rows).toBe(37);
      expect(manifest.catalog.tables.find((t) => t.name === "public.plain_ascii")).toBeDefined();
      expect(manifest.catalog.schemas.map((s) => manifest.catalog.rawNames?.[s] ?? s)).toContain(
        SCHEMA_BYTES.toString("hex"),
      );
      expect(manifest.databaseProperties?.encoding).toBe("SQL_ASCII");

      await postgres().query(db, "DROP TABLE plain_ascii");
      const { result } = await restoreFile(postgres(), db, file, { RESTORE_DROP_OLD: "true" });
      expect(result.proof.problems).toEqual([]);
      expect(result.proof.comparison?.ok).toBe(true);
      if (rowCounts === "exact")
        expect(result.proof.comparison?.rows.find((r) => r.name === table?.name)).toMatchObject({
          expected: "37",
          actual: "37",
        });
      expect(await rawTables(db)).toEqual(before);
    },
  );

  it("verify checks the backup and test-restores it into a SQL_ASCII scratch database, proven", async () => {
    const db = "ascii_verify";
    const dir = await tempDir("sqlascii");
    await sqlAsciiDatabase(db);
    await takeBackup(postgres(), db, dir);
    const { logger } = capturingLogger();
    const report = await verifyBackups(
      loadVerifyConfig(
        environmentLookup({
          BACKUP_DIR: dir,
          DATABASE_URL: postgres().url("postgres"),
          BACKUP_TEST_RESTORE: "true",
        }),
      ),
      { logger },
    );
    expect(report.reasons).toEqual([]);
    expect(report.testRestore).toMatchObject({ ok: true, dropped: true });
    const table = report.testRestore!.proof!.comparison!.rows.find((r) => r.name === "na\\xefve.caf\\xe9");
    expect(table).toMatchObject({ expected: "37", actual: "37", ok: true });
  });

  it("a catalog query that fails is recorded as such and never aborts the transaction pg_dump imports", async () => {
    const db = "ascii_catalog_error";
    const dir = await tempDir("sqlascii");
    await sqlAsciiDatabase(db);
    const pg = postgres();
    // The role may dump everything, but the count of the non-UTF-8 table (a DO block) is refused to it.
    await pg.query("postgres", "CREATE ROLE ascii_dumper LOGIN PASSWORD 'dump pw'");
    await runRawSql(
      db,
      Buffer.concat([
        Buffer.from('REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC;\nGRANT USAGE ON SCHEMA "'),
        SCHEMA_BYTES,
        Buffer.from('" TO ascii_dumper;\nGRANT SELECT ON ALL TABLES IN SCHEMA "'),
        SCHEMA_BYTES,
        Buffer.from('" TO ascii_dumper;\nGRANT SELECT ON ALL TABLES IN SCHEMA public TO ascii_dumper;\n'),
      ]),
    );
    const { logger, lines } = capturingLogger();
    const result = await backupDatabase(
      loadBackupDbConfig(
        environmentLookup({
          DATABASE_URL: `postgresql://ascii_dumper:dump%20pw@${pg.host}:${pg.port}/${db}`,
          BACKUP_DIR: dir,
          BACKUP_FORMAT: "custom",
        }),
      ),
      { logger },
    );
    expect(result.manifest.catalog.error).toMatch(/permission denied for language plpgsql/);
    expect(lines.join("\n")).toMatch(
      /warn: Could not read the catalog for the manifest: .*the backup continues/,
    );
    // The dump itself is complete: restored, every row is back.
    const { result: restored } = await restoreFile(postgres(), "ascii_catalog_error_copy", result.file);
    expect(restored.proof.problems).toEqual([]);
    expect(await rawTables("ascii_catalog_error_copy")).toEqual(await rawTables(db));
  });

  it("restores into a database that does not exist yet with the recorded encoding", async () => {
    const db = "ascii_fresh_src";
    const dir = await tempDir("sqlascii");
    await sqlAsciiDatabase(db);
    const file = await takeBackup(postgres(), db, dir, { BACKUP_FORMAT: "custom" });
    const { result } = await restoreFile(postgres(), "ascii_fresh_target", file);
    expect(result.proof.comparison?.ok).toBe(true);
    const [enc] = await postgres().query<{ e: string }>(
      "postgres",
      "SELECT pg_encoding_to_char(encoding) AS e FROM pg_database WHERE datname = 'ascii_fresh_target'",
    );
    expect(enc?.e).toBe("SQL_ASCII");
    expect(await rawTables("ascii_fresh_target")).toEqual(await rawTables(db));
  });
});
