import { readFile, writeFile } from "node:fs/promises";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { BackupManifest } from "../../src/catalog/manifest.js";
import { environmentLookup } from "../../src/config/settings.js";
import { loadVerifyConfig } from "../../src/config/verify-config.js";
import { type DatabaseProperties, readDatabaseProperties } from "../../src/db/database-properties.js";
import { applyProperties, compareProperties } from "../../src/restore/database-properties.js";
import { RestoreFailedError } from "../../src/restore/restore-db.js";
import { verifyBackups } from "../../src/verify/verify-backups.js";
import { capturingLogger, usePostgres, useTempDirs } from "../support/fixtures.js";
import { makeGpgKey, type TestKey } from "../support/gpg.js";
import { databases, restoreFile, takeBackup } from "../support/restore.js";
import { fingerprint, seedTranscripts } from "../support/seed.js";
import { execFileAsync, removeDir } from "../support/services/service.js";

const postgres = usePostgres();
const tempDir = useTempDirs();

let key: TestKey | undefined;
async function testKey(): Promise<TestKey> {
  key ??= await makeGpgKey("props@lifeline.test");
  return key;
}
afterAll(async () => {
  if (!key) return;
  await execFileAsync("gpgconf", ["--homedir", key.home, "--kill", "all"]).catch(() => {});
  await removeDir(key.home);
});

/** Everything about a database that pg_dump without --create leaves out, as the server reports it. */
async function properties(db: string) {
  const pg = postgres();
  const [row] = await pg.query<{ acl: string[] | null; comment: string | null; connlimit: number }>(
    "postgres",
    `SELECT (SELECT array_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
                              || ':' || a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END)
               FROM aclexplode(d.datacl) a) AS acl,
            shobj_description(d.oid, 'pg_database') AS comment, d.datconnlimit AS connlimit
       FROM pg_database d WHERE d.datname = $1`,
    [db],
  );
  const settings = await pg.query<{ role: string; config: string[] }>(
    "postgres",
    `SELECT coalesce(pg_get_userbyid(NULLIF(s.setrole, 0)), '(all)') AS role, s.setconfig AS config
       FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1 ORDER BY 1`,
    [db],
  );
  return {
    ...row,
    acl: row?.acl ? [...row.acl].sort() : null,
    settings: settings.map((s) => ({ role: s.role, config: [...s.config].sort() })),
  };
}

/** A seeded database with a non-default ACL, comment, connection limit and database/role settings. */
async function databaseWithProperties(db: string, grantee = "props_reader") {
  const pg = postgres();
  await pg.createDatabase(db);
  await seedTranscripts(pg, db, 200);
  await pg.query(
    "postgres",
    `DO $$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${grantee}') THEN CREATE ROLE ${grantee} LOGIN; END IF;
       IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'props app') THEN CREATE ROLE "props app"; END IF;
     END $$`,
  );
  await pg.query(
    "postgres",
    `REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC;
     GRANT CONNECT ON DATABASE ${db} TO ${grantee};
     GRANT CREATE, CONNECT ON DATABASE ${db} TO "props app" WITH GRANT OPTION;
     COMMENT ON DATABASE ${db} IS 'Transcripts: it''s the live one';
     ALTER DATABASE ${db} CONNECTION LIMIT 17;
     ALTER DATABASE ${db} SET work_mem = '64MB';
     ALTER DATABASE ${db} SET search_path = "$user", public, "Odd, ""schema""";
     ALTER ROLE ${grantee} IN DATABASE ${db} SET statement_timeout = '5s';
     ALTER ROLE "props app" IN DATABASE ${db} SET application_name = 'it''s the app'`,
  );
}

describe("database-level properties: recorded at backup, re-applied before the swap, proven", () => {
  it.each(["plain", "custom"] as const)(
    "a %s backup's restore re-applies the ACL (REVOKE CONNECT FROM PUBLIC), comment, connection limit and settings",
    async (format) => {
      const db = `props_${format}`;
      await databaseWithProperties(db);
      const before = await properties(db);
      expect(before.acl).not.toContain("PUBLIC:CONNECT");
      const dir = await tempDir("props");
      const file = await takeBackup(postgres(), db, dir, { BACKUP_FORMAT: format });
      const manifest = JSON.parse(await readFile(`${file}.manifest.json`, "utf8")) as BackupManifest;
      expect(manifest.manifestVersion).toBe(2);
      expect(manifest.databaseProperties).toMatchObject({
        comment: "Transcripts: it's the live one",
        connectionLimit: 17,
      });
      // The live database drifts after the backup: the restore must bring back what the backup recorded.
      await postgres().query(
        "postgres",
        `GRANT CONNECT ON DATABASE ${db} TO PUBLIC; COMMENT ON DATABASE ${db} IS NULL`,
      );

      const { result, lines } = await restoreFile(postgres(), db, file);
      expect(result.proof.problems).toEqual([]);
      expect(await properties(db)).toEqual(before);
      const propertyRows = result.proof.comparison!.rows.filter((r) => r.kind === "property");
      expect(propertyRows.map((r) => r.name)).toEqual([
        "ACL",
        "comment",
        "connection limit",
        "setting application_name of role props app",
        "setting search_path",
        "setting statement_timeout of role props_reader",
        "setting work_mem",
      ]);
      // Values are compared, never shown (a setting may hold a secret).
      expect(JSON.stringify(propertyRows)).not.toContain("64MB");
      expect(propertyRows.every((r) => r.ok)).toBe(true);
      expect(lines.join("\n")).toContain("ACL, comment, connection limit and settings match the manifest");
    },
  );

  it("an encrypted backup keeps the setting values out of its clear manifest and still re-applies them", async () => {
    const db = "props_encrypted";
    await databaseWithProperties(db);
    const before = await properties(db);
    const k = await testKey();
    const file = await takeBackup(postgres(), db, await tempDir("props"), {
      BACKUP_ENCRYPT: "true",
      BACKUP_GPG_PUBLIC_KEY: k.publicKey,
    });
    const text = await readFile(`${file}.manifest.json`, "utf8");
    expect(text).not.toContain("64MB");
    expect(text).not.toContain("the app");
    expect((JSON.parse(text) as BackupManifest).databaseProperties?.sealedSettings).toMatch(
      /^[A-Za-z0-9+/=]+$/,
    );
    const previousHome = process.env.GNUPGHOME;
    process.env.GNUPGHOME = k.home;
    try {
      const { result } = await restoreFile(postgres(), db, file, { RESTORE_DROP_OLD: "true" });
      expect(result.proof.problems).toEqual([]);
    } finally {
      if (previousHome === undefined) delete process.env.GNUPGHOME;
      else process.env.GNUPGHOME = previousHome;
    }
    expect(await properties(db)).toEqual(before);
  });

  it("a property that differs after applying fails the restore before the swap; the live database is untouched", async () => {
    const db = "props_mismatch";
    await databaseWithProperties(db);
    const file = await takeBackup(postgres(), db, await tempDir("props"));
    await postgres().query(db, "INSERT INTO audit.events (at, what) VALUES (now(), 'live only')");
    const live = await fingerprint(postgres(), db);
    const err = await restoreFile(
      postgres(),
      db,
      file,
      {},
      {
        afterRestoreHook: async (client) => {
          const { rows } = await client.query<{ d: string }>("SELECT current_database() AS d");
          await client.query(`GRANT CONNECT ON DATABASE "${rows[0]!.d}" TO PUBLIC`);
        },
      },
    ).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect((err as Error).message).toMatch(
      /database ACL: .* in the manifest, .*PUBLIC: CONNECT.* in the restore/,
    );
    expect((err as Error).message).toContain(`"${db}" was not touched`);
    expect(await fingerprint(postgres(), db)).toEqual(live);
    expect((await databases(postgres())).filter((d) => d.startsWith(db))).toEqual([db]);
  });

  it("a role missing on the target server is skipped with a warning; everything else is applied and proven", async () => {
    const db = "props_missing_role";
    await databaseWithProperties(db, "props_gone");
    const file = await takeBackup(postgres(), db, await tempDir("props"));
    await postgres().query(db, "DROP OWNED BY props_gone");
    await postgres().query(
      "postgres",
      `REVOKE ALL ON DATABASE ${db} FROM props_gone; DROP OWNED BY props_gone; DROP ROLE props_gone`,
    );
    const { result, lines } = await restoreFile(postgres(), db, file, { RESTORE_DROP_OLD: "true" });
    expect(result.proof.problems).toEqual([]);
    const log = lines.join("\n");
    expect(log).toMatch(/warn: Role "props_gone" does not exist on this server/);
    expect(result.proof.comparison!.notes.join("\n")).toContain("props_gone");
    const after = await properties(db);
    expect(after.acl).not.toContain("PUBLIC:CONNECT");
    expect(after.acl).toContain("props app:CREATE*");
    expect(after.comment).toBe("Transcripts: it's the live one");
    expect(after.settings.map((s) => s.role)).toEqual(["(all)", "props app"]);
  });

  it("a manifest written before properties were recorded (version 1) restores and says they were not re-applied", async () => {
    const db = "props_v1";
    await databaseWithProperties(db);
    const file = await takeBackup(postgres(), db, await tempDir("props"));
    const manifest = JSON.parse(await readFile(`${file}.manifest.json`, "utf8")) as Record<string, unknown>;
    delete manifest.databaseProperties;
    manifest.manifestVersion = 1;
    await writeFile(`${file}.manifest.json`, JSON.stringify(manifest));
    const { result, lines } = await restoreFile(postgres(), db, file, { RESTORE_DROP_OLD: "true" });
    expect(result.proof.comparison?.ok).toBe(true);
    expect(lines.join("\n")).toMatch(/does not record the database's properties .*not re-applied/);
    // A manifest from a newer Lifeline may mean what this one cannot read: refused, nothing created.
    await writeFile(`${file}.manifest.json`, JSON.stringify({ ...manifest, manifestVersion: 99 }));
    const err = await restoreFile(postgres(), db, file).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/manifestVersion 99, newer than this Lifeline reads \(2\)/);
    expect((await databases(postgres())).filter((d) => d.startsWith(db))).toEqual([db]);
  });

  it("verify --test-restore re-applies and proves them in its scratch database, then drops it", async () => {
    const db = "props_verify";
    await databaseWithProperties(db);
    const dir = await tempDir("props");
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
    expect(report.testRestore).toMatchObject({ ok: true, dropped: true });
    const rows = report.testRestore!.proof!.comparison!.rows.filter((r) => r.kind === "property");
    expect(rows.length).toBeGreaterThan(3);
    expect(rows.every((r) => r.ok)).toBe(true);
    const left = await postgres().query<{ n: string }>(
      "postgres",
      "SELECT count(*)::text AS n FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase WHERE s.setdatabase <> 0 AND d.oid IS NULL",
    );
    expect(left[0]!.n).toBe("0");
  });
});

describe("database-level properties restored by a role that is not the backed-up owner", () => {
  it("a non-superuser restorer gets the backed-up owner's privileges (as pg_dump maps them), can connect, and the proof says so", async () => {
    const server = postgres();
    const password = "restorer-pw";
    await server.query(
      "postgres",
      `CREATE ROLE props_oldowner LOGIN; CREATE ROLE props_appuser LOGIN;
       CREATE ROLE props_restorer LOGIN CREATEDB PASSWORD '${password}'`,
    );
    await server.query("postgres", "CREATE DATABASE props_old OWNER props_oldowner");
    await server.query(
      "postgres",
      `REVOKE ALL ON DATABASE props_old FROM PUBLIC;
       GRANT CONNECT ON DATABASE props_old TO props_appuser`,
    );
    const connectAs = (database: string) =>
      new pg.Client({ host: server.host, port: server.port, user: "props_restorer", password, database });
    const recordFrom = new pg.Client({
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      database: "props_old",
    });
    await recordFrom.connect();
    const recorded = await readDatabaseProperties(recordFrom).finally(() => recordFrom.end());
    expect(recorded.owner).toBe("props_oldowner");
    // The backed-up owner does not exist where the restore runs.
    await server.query("postgres", "DROP DATABASE props_old");
    await server.query("postgres", "DROP ROLE props_oldowner");
    const admin = connectAs("postgres");
    await admin.connect();
    try {
      await admin.query("CREATE DATABASE props_new");
      const client = connectAs("props_new");
      await client.connect();
      let restored: DatabaseProperties;
      let missingRoles: string[];
      try {
        ({ missingRoles } = await applyProperties(client, "props_new", recorded));
        restored = await readDatabaseProperties(client);
      } finally {
        await client.end();
      }
      // The owner can still connect (a fresh session, as the swap and later runs make).
      const again = connectAs("props_new");
      await again.connect();
      await again.end();
      const acl = (restored.acl ?? []).map((g) => `${g.grantee}:${g.privilege}`).sort();
      expect(acl).toEqual([
        "props_appuser:CONNECT",
        "props_restorer:CONNECT",
        "props_restorer:CREATE",
        "props_restorer:TEMPORARY",
      ]);
      expect(missingRoles).toEqual([]);
      const proof = compareProperties(recorded, restored, missingRoles);
      expect(proof.rows.find((r) => r.name === "ACL")).toMatchObject({ ok: true });
      expect(proof.notes.join("\n")).toContain(
        "the backed-up owner props_oldowner's privileges (CONNECT, CREATE, TEMPORARY) were given to the restored database's owner props_restorer",
      );
      // Without the mapping the proof is not silently satisfied: the owner's missing privileges show.
      const unmapped = compareProperties(recorded, { ...restored, owner: recorded.owner }, missingRoles);
      expect(unmapped.rows.find((r) => r.name === "ACL")?.ok).toBe(false);
    } finally {
      await admin.query("DROP DATABASE IF EXISTS props_new");
      await admin.end();
      await server.query("postgres", "DROP ROLE props_restorer; DROP ROLE props_appuser");
    }
  });
});

describe("a setting the server refuses", () => {
  it("fails naming the setting and the database, never the value the server's error quotes", async () => {
    const server = postgres();
    await server.createDatabase("props_bad_setting");
    const client = new pg.Client({
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      database: "props_bad_setting",
    });
    await client.connect();
    try {
      const current = await readDatabaseProperties(client);
      const secret = "jwt-s3cr3t-Value";
      const err = await applyProperties(client, "props_bad_setting", {
        ...current,
        acl: null,
        settings: [{ role: null, settings: [`work_mem=${secret}`] }],
      }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      const message = (err as Error).message;
      expect(message).toContain(
        'Could not re-apply the setting work_mem of the backed-up database to "props_bad_setting"',
      );
      // The server's own text is kept, with the value cut out of it.
      expect(message).toContain('invalid value for parameter "work_mem": "(value redacted)"');
      expect(message).not.toContain("s3cr3t");
      expect((err as Error).cause).toBeUndefined();
    } finally {
      await client.end();
      await server.dropDatabase("props_bad_setting");
    }
  });
});
