import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import type { BackupManifest } from "../../src/catalog/manifest.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { capturingLogger, listTree, shell, usePostgres, useTempDirs } from "../support/fixtures.js";
import { makeGpgKey } from "../support/gpg.js";
import { fingerprint, seedTranscripts } from "../support/seed.js";

const execFileAsync = promisify(execFile);
const postgres = usePostgres();
const tempDir = useTempDirs();

async function backup(vars: Record<string, string>) {
  const { logger, lines } = capturingLogger();
  const result = await backupDatabase(loadBackupDbConfig(environmentLookup(vars)), { logger });
  return { result, lines };
}

async function seeded(name: string) {
  const pg = postgres();
  await pg.createDatabase(name);
  await seedTranscripts(pg, name, 3000);
  return pg;
}

describe("formats and compression, restored by stock tools", () => {
  it.each([
    [
      "zstd",
      { BACKUP_COMPRESSION: "zstd" },
      /\.sql\.zst$/,
      'zstd -dc "$F" | psql -X -q -v ON_ERROR_STOP=1 -d "$D"',
    ],
    [
      "zstd level 19",
      { BACKUP_COMPRESSION: "zstd", BACKUP_COMPRESSION_LEVEL: "19" },
      /\.sql\.zst$/,
      'zstd -dc "$F" | psql -X -q -v ON_ERROR_STOP=1 -d "$D"',
    ],
    [
      "zstd direct: rows not counted, pg_dump feeds zstd through a kernel pipe",
      { BACKUP_COMPRESSION: "zstd", BACKUP_ROW_COUNTS: "off" },
      /\.sql\.zst$/,
      'zstd -dc "$F" | psql -X -q -v ON_ERROR_STOP=1 -d "$D"',
    ],
    ["none", { BACKUP_COMPRESSION: "none" }, /\.sql$/, 'psql -X -q -v ON_ERROR_STOP=1 -d "$D" -f "$F"'],
    [
      "gzip 1",
      { BACKUP_COMPRESSION_LEVEL: "1" },
      /\.sql\.gz$/,
      'gunzip -c "$F" | psql -X -q -v ON_ERROR_STOP=1 -d "$D"',
    ],
    ["custom", { BACKUP_FORMAT: "custom" }, /\.dump$/, 'pg_restore -j 2 --exit-on-error -d "$D" "$F"'],
    [
      "custom, uncompressed",
      { BACKUP_FORMAT: "custom", BACKUP_COMPRESSION: "none" },
      /\.dump$/,
      'pg_restore --exit-on-error -d "$D" "$F"',
    ],
  ])("%s", async (label, vars, extension, restore) => {
    const db = `fmt_${label.replace(/\W+/g, "_")}`.slice(0, 40);
    const pg = await seeded(db);
    const dir = await tempDir("fmt");
    const { result } = await backup({ DATABASE_URL: pg.url(db), BACKUP_DIR: dir, ...vars });
    expect(result.file).toMatch(extension);
    // The dump's own size is known in every topology (zstd reports it when Node never sees the raw bytes).
    const plainSize = Number((await shell(pg, 'pg_dump -d "$D" | wc -c', { D: db })).trim());
    if (!result.file.endsWith(".dump")) expect(result.dumpBytes).toBe(plainSize);
    await execFileAsync("sha256sum", ["-c", path.basename(result.sidecarFile)], {
      cwd: path.dirname(result.file),
    });
    await pg.createDatabase(`${db}_r`);
    await shell(pg, restore, { F: result.file, D: `${db}_r` });
    expect(await fingerprint(pg, `${db}_r`)).toEqual(await fingerprint(pg, db));
  });
});

describe("GPG encryption", () => {
  it("streams through gpg to a public key given as armour; stock gpg -d decrypts; the sidecar covers the .gpg", async () => {
    const pg = await seeded("enc");
    const key = await makeGpgKey("backup@example.com");
    const dir = await tempDir("enc");
    const { result } = await backup({
      DATABASE_URL: pg.url("enc"),
      BACKUP_DIR: dir,
      BACKUP_ENCRYPT: "true",
      BACKUP_GPG_PUBLIC_KEY: key.publicKey,
    });
    expect(path.basename(result.file)).toMatch(/^enc_daily_\d{8}_\d{6}\.sql\.gz\.gpg$/);
    expect(result.manifest.encryption).toEqual({
      method: "gpg",
      recipient: key.fingerprint,
      fingerprint: key.fingerprint,
    });
    const head = (await readFile(result.file)).subarray(0, 2);
    expect(head.equals(Buffer.from([0x1f, 0x8b]))).toBe(false); // not readable gzip: encrypted
    await execFileAsync("sha256sum", ["-c", path.basename(result.sidecarFile)], {
      cwd: path.dirname(result.file),
    });
    await pg.createDatabase("enc_r");
    await shell(
      pg,
      'gpg --batch --quiet --homedir "$H" -d "$F" | gunzip | psql -X -q -v ON_ERROR_STOP=1 -d enc_r',
      {
        H: key.home,
        F: result.file,
      },
    );
    expect(await fingerprint(pg, "enc_r")).toEqual(await fingerprint(pg, "enc"));
  });

  it("uses a recipient from the keyring in GNUPGHOME", async () => {
    const pg = postgres();
    const key = await makeGpgKey("ops@example.com");
    const dir = await tempDir("enc2");
    const saved = process.env.GNUPGHOME;
    process.env.GNUPGHOME = key.home;
    try {
      const { result } = await backup({
        DATABASE_URL: pg.url("postgres"),
        BACKUP_DIR: dir,
        BACKUP_ENCRYPT: "true",
        BACKUP_GPG_RECIPIENT: "ops@example.com",
        BACKUP_COMPRESSION: "zstd",
      });
      expect(result.file).toMatch(/\.sql\.zst\.gpg$/);
      expect(result.manifest.encryption?.fingerprint).toBe(key.fingerprint);
    } finally {
      if (saved === undefined) delete process.env.GNUPGHOME;
      else process.env.GNUPGHOME = saved;
    }
  });

  it.each([
    [
      "a recipient with no key",
      async () => ({
        BACKUP_GPG_RECIPIENT: "nobody@example.com",
        GNUPGHOME_DIR: (await makeGpgKey("x@example.com")).home,
      }),
      /No GPG public key for recipient 'nobody@example.com'/,
    ],
    [
      "a key that is not ASCII armour",
      async () => ({ BACKUP_GPG_PUBLIC_KEY: "-----BEGIN PGP PUBLIC KEY BLOCK-----\nnot a key\n" }),
      /could not be imported/,
    ],
    [
      "an expired key",
      async () => ({
        BACKUP_GPG_PUBLIC_KEY: (await makeGpgKey("old@example.com", { expired: true })).publicKey,
      }),
      /cannot encrypt .*expired, revoked/,
    ],
  ])("fails before dumping for %s, writing nothing", async (_label, make, message) => {
    const pg = postgres();
    const dir = await tempDir("encbad");
    const { GNUPGHOME_DIR, ...vars } = (await make()) as Record<string, string>;
    const saved = process.env.GNUPGHOME;
    if (GNUPGHOME_DIR) process.env.GNUPGHOME = GNUPGHOME_DIR;
    try {
      const { logger } = capturingLogger();
      const config = loadBackupDbConfig(
        environmentLookup({
          DATABASE_URL: pg.url("postgres"),
          BACKUP_DIR: dir,
          BACKUP_ENCRYPT: "true",
          ...vars,
        }),
      );
      await expect(backupDatabase(config, { logger })).rejects.toThrow(message);
      expect((await listTree(dir)).filter((f) => !f.startsWith("logs/"))).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.GNUPGHOME;
      else process.env.GNUPGHOME = saved;
    }
  });
});

describe("the manifest proves what the dump holds", () => {
  it("counts rows in the dump's own snapshot, even while writers keep inserting", async () => {
    const pg = postgres();
    await pg.createDatabase("busy");
    await pg.query(
      "busy",
      "CREATE TABLE events (id bigserial PRIMARY KEY, payload text); CREATE TABLE quiet (x int)",
    );
    await pg.query(
      "busy",
      "INSERT INTO events (payload) SELECT repeat(md5(g::text), 20) FROM generate_series(1, 150000) g",
    );
    await pg.query(
      "busy",
      "CREATE SCHEMA extra; CREATE TABLE extra.t (x int); INSERT INTO extra.t VALUES (1), (2), (3)",
    );
    await pg.query("busy", "CREATE EXTENSION IF NOT EXISTS pg_trgm");
    const dir = await tempDir("busy");
    // A writer inserting small batches throughout the backup.
    let writing = true;
    const writer = (async () => {
      let batches = 0;
      while (writing) {
        await pg.query("busy", "INSERT INTO events (payload) SELECT 'late' FROM generate_series(1, 50)");
        batches++;
      }
      return batches;
    })();
    const { result } = await backup({
      DATABASE_URL: pg.url("busy"),
      BACKUP_DIR: dir,
      BACKUP_COMPRESSION_LEVEL: "9",
    });
    writing = false;
    const batches = await writer;
    expect(batches).toBeGreaterThan(0);

    const catalog = (JSON.parse(await readFile(result.manifestFile, "utf8")) as BackupManifest).catalog;
    expect(catalog.rowCounts).toBe("exact");
    expect(catalog.schemas).toEqual(["extra", "public"]);
    expect(catalog.extensions.map((e) => e.name)).toEqual(["pg_trgm", "plpgsql"]);
    expect(catalog.sequences).toEqual(["public.events_id_seq"]);
    expect(catalog.tables.map((t) => t.name)).toEqual(["extra.t", "public.events", "public.quiet"]);

    await pg.createDatabase("busy_r");
    await shell(pg, 'gunzip -c "$F" | psql -X -q -v ON_ERROR_STOP=1 -d busy_r', { F: result.file });
    for (const t of catalog.tables) {
      const [row] = await pg.query<{ n: string }>("busy_r", `SELECT count(*)::text AS n FROM ${t.name}`);
      expect(Number(row!.n), t.name).toBe(t.rows);
    }
    const [live] = await pg.query<{ n: string }>("busy", "SELECT count(*)::text AS n FROM public.events");
    expect(Number(live!.n)).toBeGreaterThan(catalog.tables.find((t) => t.name === "public.events")!.rows!);
  });

  it("records estimates or no counts when asked", async () => {
    const pg = postgres();
    await pg.createDatabase("est");
    await pg.query("est", "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g");
    await pg.query("est", "ANALYZE t");
    const dir = await tempDir("est");
    const estimated = await backup({
      DATABASE_URL: pg.url("est"),
      BACKUP_DIR: dir,
      BACKUP_ROW_COUNTS: "estimated",
    });
    expect(estimated.result.manifest.catalog.tables).toEqual([{ name: "public.t", rows: 1000 }]);
    const dir2 = await tempDir("off");
    const off = await backup({ DATABASE_URL: pg.url("est"), BACKUP_DIR: dir2, BACKUP_ROW_COUNTS: "off" });
    expect(off.result.manifest.catalog).toMatchObject({
      rowCounts: "off",
      tables: [{ name: "public.t", rows: null }],
    });
  });
});
