import { execFile } from "node:child_process";
import { chmod, mkdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { MANIFEST_SUFFIX } from "../../src/catalog/manifest.js";
import { main } from "../../src/cli/main.js";
import { environmentLookup } from "../../src/config/settings.js";
import { loadVerifyConfig } from "../../src/config/verify-config.js";
import { verifyBackups } from "../../src/verify/verify-backups.js";
import { capturingLogger, usePostgres, useTempDirs } from "../support/fixtures.js";
import { databases, restoreFile, takeBackup } from "../support/restore.js";
import { fingerprint, seedTranscripts } from "../support/seed.js";

const execFileAsync = promisify(execFile);
const postgres = usePostgres();
const tempDir = useTempDirs();

const LIVE = "tamper";
let genuine = "";
let genuineName = "";

beforeAll(async () => {
  const pg = postgres();
  await pg.createDatabase(LIVE);
  await seedTranscripts(pg, LIVE, 300);
  const file = await takeBackup(pg, LIVE, await tempDir("genuine"), { BACKUP_COMPRESSION: "none" });
  genuine = await readFile(file, "utf8");
  genuineName = path.basename(file);
});

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/**
 * A tampered plain backup as an attacker with write access would leave it: `injected` at the top of
 * the file (ahead of pg_dump's own `\restrict` line, or just after it), the .sha256 sidecar regenerated,
 * no manifest.
 */
async function tampered(
  inject: (marker: string) => string,
  options: { gzip?: boolean; afterRestrict?: boolean } = {},
) {
  const dir = await tempDir("tampered");
  await mkdir(path.join(dir, "daily"));
  const marker = path.join(dir, "marker");
  const injected = inject(marker);
  const lines = genuine.split("\n");
  const at = options.afterRestrict ? lines.findIndex((l) => l.startsWith("\\restrict ")) + 1 : 0;
  const text = [...lines.slice(0, at), injected, ...lines.slice(at)].join("\n");
  const name = options.gzip ? `${genuineName}.gz` : genuineName;
  const file = path.join(dir, "daily", name);
  await writeFile(file, options.gzip ? gzipSync(text) : text);
  const { stdout } = await execFileAsync("sha256sum", [file]);
  await writeFile(`${file}.sha256`, `${stdout.split(" ")[0]}  ${name}\n`);
  return { dir, file, marker };
}

interface Trick {
  readonly label: string;
  /** The SQL injected; `marker` is a file the trick would create on the restore host. */
  readonly inject: (marker: string) => string;
  /** The command the refusal names. */
  readonly command: string;
  /** Injected just after the dump's own `\restrict` line instead of at the very top. */
  readonly afterRestrict?: boolean;
}

/** Each trick would create the marker on the restore host, or reach the live database, if psql ran it. */
const TRICKS: readonly Trick[] = [
  { label: "\\! (shell)", inject: (m) => `\\! touch ${m}`, command: "\\!" },
  {
    label: "\\connect to the live database, then DROP TABLE",
    inject: () => `\\connect ${LIVE}\nDROP TABLE segments;`,
    command: "\\connect",
  },
  { label: "\\o |cmd (output to a program)", inject: (m) => `\\o |touch ${m}\nSELECT 1;`, command: "\\o" },
  {
    label: "\\copy ... to program",
    inject: (m) => `\\copy (SELECT 1) to program 'touch ${m}'`,
    command: "\\copy",
  },
  { label: "\\g |cmd mid-line", inject: (m) => `SELECT 1 \\g |touch ${m}`, command: "\\g" },
  {
    label: "a meta-command after a statement on the same line",
    inject: (m) => `CREATE TABLE tricked (); \\! touch ${m}`,
    command: "\\!",
  },
  {
    label: "\\gexec",
    inject: () => `SELECT 'DROP TABLE segments' \\gexec`,
    command: "\\gexec",
  },
  {
    label: "\\gset then \\! :var",
    inject: (m) => `SELECT 'touch ${m}' AS cmd \\gset\n\\! :cmd`,
    command: "\\gset",
  },
  {
    label: "\\set ON_ERROR_STOP off, then \\!",
    inject: (m) => `\\set ON_ERROR_STOP off\n\\! touch ${m}`,
    command: "\\set",
  },
  {
    label: "\\unrestrict with the dump's own key, then \\!",
    inject: (m) => `\\unrestrict ${/^\\restrict (\S+)$/m.exec(genuine)![1]!}\n\\! touch ${m}`,
    command: "\\!",
    afterRestrict: true,
  },
  {
    label: "a \\restrict/\\unrestrict pair of its own, then \\!",
    inject: (m) => `\\restrict evil\n\\unrestrict evil\n\\! touch ${m}`,
    command: "\\!",
  },
  // Statements pg_dump never writes, which would reach beyond the new database with a privileged role
  {
    label: "CREATE ROLE ... SUPERUSER",
    inject: () => "CREATE ROLE lifeline_evil SUPERUSER LOGIN;",
    command: "a statement CREATE ROLE",
    afterRestrict: true,
  },
  {
    label: "ALTER DATABASE <live> CONNECTION LIMIT 0",
    inject: () => `ALTER DATABASE ${LIVE} CONNECTION LIMIT 0;`,
    command: "a statement ALTER DATABASE",
    afterRestrict: true,
  },
  {
    label: "COPY ... TO PROGRAM",
    inject: (m) => `COPY (SELECT 1) TO PROGRAM 'touch ${m}';`,
    command: "a statement COPY",
    afterRestrict: true,
  },
  {
    label: "a COPY whose FROM STDIN sits on its own line, hiding a meta-command in its 'data'",
    inject: (m) => `COPY segments FROM STDIN\n;\n'\n\\.\n\\! touch ${m}\n';`,
    command: "\\!",
    afterRestrict: true,
  },
];

/** What a trick could have changed in the cluster beyond the new database. */
async function clusterState(pg: ReturnType<typeof postgres>) {
  return pg.query(
    "postgres",
    "SELECT (SELECT count(*)::int FROM pg_roles WHERE rolname = 'lifeline_evil') AS roles, " +
      `(SELECT datconnlimit FROM pg_database WHERE datname = '${LIVE}') AS connlimit`,
  );
}

describe("a tampered plain backup never runs psql meta-commands (restricted psql + guard)", () => {
  it("genuine pg_dump output holds its own \\restrict/\\unrestrict pair (psql 15.14+), and still restores", () => {
    expect(genuine).toMatch(/^\\restrict [A-Za-z0-9]+$/m);
    expect(genuine).toMatch(/^\\unrestrict [A-Za-z0-9]+$/m);
  });

  it.each(TRICKS)(
    "restore refuses $label: named, nothing run, live database unchanged",
    async ({ inject, command, afterRestrict }) => {
      const pg = postgres();
      const { file, marker } = await tampered(inject, { afterRestrict });
      const live = await fingerprint(pg, LIVE);
      const cluster = await clusterState(pg);
      const err = await restoreFile(pg, LIVE, file, { RESTORE_FORCE: "true" }).catch((e: Error) => e);
      // The effects first: nothing ran on this host, the live database is as it was.
      expect(await exists(marker)).toBe(false);
      expect(await clusterState(pg)).toEqual(cluster);
      expect(await fingerprint(pg, LIVE)).toEqual(live);
      expect((await databases(pg)).filter((d) => d.startsWith(LIVE))).toEqual([LIVE]);
      expect(err).toBeInstanceOf(Error);
      const message = (err as Error).message;
      expect(message).toContain(file);
      expect(message).toContain(`holds ${command}`);
      expect(message).toContain(`"${LIVE}" was not touched`);
    },
  );

  it.each(TRICKS)(
    "verify --test-restore refuses $label: named, nothing run, live database unchanged",
    async ({ inject, command, afterRestrict }) => {
      const pg = postgres();
      const { dir, file, marker } = await tampered(inject, { afterRestrict });
      const live = await fingerprint(pg, LIVE);
      const cluster = await clusterState(pg);
      const { logger } = capturingLogger();
      const report = await verifyBackups(
        loadVerifyConfig(
          environmentLookup({
            BACKUP_DIR: dir,
            DATABASE_URL: pg.url("postgres"),
            BACKUP_TEST_RESTORE: "true",
          }),
        ),
        { logger },
      );
      expect(await exists(marker)).toBe(false);
      expect(await clusterState(pg)).toEqual(cluster);
      expect(await fingerprint(pg, LIVE)).toEqual(live);
      expect(report.exitCode).not.toBe(0);
      expect(report.testRestore).toMatchObject({ ok: false, dropped: true });
      expect(report.testRestore!.problems.join("\n")).toContain(`${file} line `);
      expect(report.testRestore!.problems.join("\n")).toContain(`holds ${command}`);
      expect((await databases(pg)).filter((d) => d.startsWith("lifeline_verify"))).toEqual([]);
    },
  );

  it("the CLI's restore --force refuses a gzip'd backup holding \\! and \\connect + DROP TABLE (the reported case)", async () => {
    const pg = postgres();
    const { file, marker } = await tampered(
      (m) => `\\! touch ${m}\n\\connect ${LIVE}\nDROP TABLE segments;`,
      {
        gzip: true,
      },
    );
    const live = await fingerprint(pg, LIVE);
    const out = new PassThrough();
    const err = new PassThrough();
    const code = await main(["restore", "--backup-file", file, "--force", "--database-url", pg.url(LIVE)], {
      out,
      err,
    });
    const said = String(err.read() ?? "");
    expect(code).not.toBe(0);
    expect(said).toContain(`${file} line `);
    expect(said).toContain("holds \\!");
    expect(await exists(marker)).toBe(false);
    expect(await fingerprint(pg, LIVE)).toEqual(live);
  });

  it("a backup that turns standard_conforming_strings off (where psql would lex differently) is refused", async () => {
    // With standard_conforming_strings off psql reads '\'' as one string and then sees \!: the guard
    // refuses the SET itself (pg_dump always writes on), and restricted psql would refuse the \! anyway.
    const pg = postgres();
    const { file, marker } = await tampered(
      (m) => `SET standard_conforming_strings = off;\nSELECT '\\'' \\! touch ${m} --';`,
    );
    const live = await fingerprint(pg, LIVE);
    const err = await restoreFile(pg, LIVE, file, { RESTORE_FORCE: "true" }).catch((e: Error) => e);
    expect((err as Error).message).toContain("standard_conforming_strings");
    expect((err as Error).message).toContain(file);
    expect(await exists(marker)).toBe(false);
    expect(await fingerprint(pg, LIVE)).toEqual(live);
  });

  it("a psql too old for \\restrict is refused for plain backups before any database is created, and never fed", async () => {
    const pg = postgres();
    const bin = await tempDir("old-psql");
    const fed = path.join(bin, "fed");
    // A psql that claims 15.13 and records being run on anything but --version.
    await writeFile(
      path.join(bin, "psql"),
      `#!/bin/sh\nif [ "$1" = --version ]; then echo 'psql (PostgreSQL) 15.13'; exit 0; fi\ntouch ${fed}\ncat > /dev/null\n`,
    );
    await chmod(path.join(bin, "psql"), 0o755);
    await symlink(path.join(pg.binDir, "pg_restore"), path.join(bin, "pg_restore"));
    const { file } = await tampered(() => "");
    const err = await restoreFile(pg, LIVE, file, { PG_BIN_DIR: bin }).catch((e: Error) => e);
    expect((err as Error).message).toContain("15.13");
    expect((err as Error).message).toContain("restricted mode");
    expect((err as Error).message).toContain(file);
    expect(await exists(fed)).toBe(false);
    expect((await databases(pg)).filter((d) => d.startsWith(LIVE))).toEqual([LIVE]);
  });
});

describe("the guard and psql read a plain backup alike", () => {
  it("backslashes inside strings, E-strings, dollar quotes, identifiers, comments and COPY data restore as data", async () => {
    const pg = postgres();
    const dir = await tempDir("corners");
    await mkdir(path.join(dir, "daily"));
    const name = "corners_daily_20241026_020000.sql";
    const file = path.join(dir, "daily", name);
    const sql = [
      "\\restrict abc123",
      "SET standard_conforming_strings = on;",
      "CREATE TABLE t (a text, b text);",
      "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $_$",
      "begin",
      "  return $x$ $_ $$",
      "\\! not a command: inside a dollar quote$x$;",
      "end $_$;",
      "COMMENT ON TABLE t IS 'first line",
      "\\connect not a command: inside a string; it''s still the string';",
      "CREATE VIEW v AS SELECT E'a\\'",
      " \\o inside an E-string' AS e, 1 AS \"col",
      ' \\g inside an identifier" /* nested /* comment',
      " \\! in a comment */ still comment",
      "*/;",
      "-- \\! in a line comment",
      "COPY t (a, b) FROM stdin;",
      "\\N\tnull first",
      "\\\\\tbackslash first",
      "\\\\!\tlooks like a command but is COPY data",
      "\\.",
      "\\unrestrict abc123",
      "",
    ].join("\n");
    await writeFile(file, sql);
    const { stdout } = await execFileAsync("sha256sum", [file]);
    await writeFile(`${file}.sha256`, `${stdout.split(" ")[0]}  ${name}\n`);
    await restoreFile(pg, "corners", file);
    expect(await pg.query("corners", "SELECT a, b FROM t ORDER BY b")).toEqual([
      { a: "\\", b: "backslash first" },
      { a: "\\!", b: "looks like a command but is COPY data" },
      { a: null, b: "null first" },
    ]);
    expect(await pg.query("corners", 'SELECT f(), e, "col\n \\g inside an identifier" AS c FROM v')).toEqual([
      { f: " $_ $$\n\\! not a command: inside a dollar quote", e: "a'\n o inside an E-string", c: 1 },
    ]);
    expect(
      (await pg.query<{ d: string }>("corners", "SELECT obj_description('t'::regclass) AS d"))[0]!.d,
    ).toBe("first line\n\\connect not a command: inside a string; it's still the string");
  });
});

describe("genuine pg_dump output always passes the guard's statement check", () => {
  it("a rich database (extension, sequences, large objects, SQL and plpgsql functions, comments, policies, publication, grants) restores", async () => {
    const pg = postgres();
    const db = "richdump";
    await pg.createDatabase(db);
    await pg.query(
      db,
      `CREATE EXTENSION hstore;
       CREATE SCHEMA app;
       CREATE SEQUENCE app.counter START 7;
       SELECT nextval('app.counter');
       CREATE TABLE app.items (id serial PRIMARY KEY, tags hstore, note text DEFAULT 'a\\b' CHECK (length(note) < 1e+20), owner name DEFAULT current_user);
       INSERT INTO app.items (tags, note) VALUES ('a=>1', E'line\\n\\\\d starts a line'), (NULL, NULL);
       COMMENT ON TABLE app.items IS E'first line\\n\\\\d a comment line starting with a backslash';
       CREATE FUNCTION app.add(a integer, b integer) RETURNS integer LANGUAGE sql
         BEGIN ATOMIC SELECT CASE WHEN a > 0 THEN a + b ELSE 0 END; END;
       CREATE FUNCTION app.re(t text) RETURNS text LANGUAGE plpgsql AS $f$
begin
  /*
\\d is a regex class, at the start of a line of a function body
  */
  return regexp_replace(t, '\\d', 'N', 'g');
end $f$;
       CREATE PROCEDURE app.p() LANGUAGE plpgsql AS $$ begin perform 1; end $$;
       ALTER TABLE app.items ENABLE ROW LEVEL SECURITY;
       CREATE POLICY own ON app.items USING (owner = current_user);
       CREATE PUBLICATION pub FOR TABLE app.items;
       CREATE VIEW app.v AS SELECT id, (tags -> 'a') AS a, app.add(id, 1) AS n FROM app.items;
       CREATE MATERIALIZED VIEW app.mv AS SELECT count(*) AS c FROM app.items;
       GRANT USAGE ON SCHEMA app TO PUBLIC;
       ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO PUBLIC;
       SELECT lo_from_bytea(0, '\\x0001025c0a'::bytea);`,
    );
    const file = await takeBackup(pg, db, await tempDir("rich"), { BACKUP_COMPRESSION: "none" });
    const text = await readFile(file, "utf8");
    expect(text).toContain("BEGIN ATOMIC");
    expect(text).toContain("lo_open");
    expect(text).toContain("CREATE PUBLICATION");
    await restoreFile(pg, db, file, { RESTORE_FORCE: "true" });
    expect(
      await pg.query(
        db,
        "SELECT app.re('a1') AS r, app.add(2, 3) AS s, (SELECT count(*)::int FROM pg_largeobject_metadata) AS lo",
      ),
    ).toEqual([{ r: "aN", s: 5, lo: 1 }]);
  });
});

describe("a privileged restoring role is called out", () => {
  it("restoring as a superuser warns (log and summary) that a tampered backup could reach beyond the new database", async () => {
    const pg = postgres();
    const { file } = await tampered(() => "");
    const { result, lines } = await restoreFile(pg, "privileged_restore", file);
    expect(result.proof.warnings).toHaveLength(1);
    expect(result.proof.warnings[0]).toMatch(/is a superuser: .*beyond the new database.*CREATEDB only/);
    expect(lines.join("\n")).toContain("is a superuser");
    const { restoreSummary } = await import("../../src/restore/restore-summary.js");
    expect(restoreSummary({ result }, "privileged_restore")).toContain("⚠️ The restoring role");
  });
});

describe("a tampered custom archive is held to the same statement rule", () => {
  /** A genuine custom archive whose TOC entry `CREATE SCHEMA abcdefghijklm;` is byte-patched to `sql` (same length). */
  async function patchedArchive(sql: string) {
    const pg = postgres();
    if (!(await databases(pg)).includes("customsrc")) {
      await pg.createDatabase("customsrc");
      await pg.query(
        "customsrc",
        "CREATE SCHEMA abcdefghijklm; CREATE TABLE abcdefghijklm.t (a int); INSERT INTO abcdefghijklm.t VALUES (1)",
      );
    }
    const file = await takeBackup(pg, "customsrc", await tempDir("custom"), { BACKUP_FORMAT: "custom" });
    const bytes = await readFile(file);
    const from = Buffer.from("CREATE SCHEMA abcdefghijklm;");
    const to = Buffer.from(sql.padEnd(from.length, " "));
    expect(to.length).toBe(from.length);
    const at = bytes.indexOf(from);
    expect(at).toBeGreaterThan(0);
    to.copy(bytes, at);
    await writeFile(file, bytes);
    const { stdout } = await execFileAsync("sha256sum", [file]);
    await writeFile(`${file}.sha256`, `${stdout.split(" ")[0]}  ${path.basename(file)}\n`);
    await rm(`${file}${MANIFEST_SUFFIX}`, { force: true }); // its recorded sha256 would give the patch away
    return file;
  }

  it.each([
    ["CREATE ROLE lifeline_evil;", "a statement CREATE ROLE"],
    [`DROP DATABASE ${LIVE};`, "a statement DROP DATABASE"],
  ])("restore and verify --test-restore refuse a TOC entry %s, nothing restored", async (sql, refusal) => {
    const pg = postgres();
    const file = await patchedArchive(sql);
    const cluster = await clusterState(pg);
    const err = await restoreFile(pg, "custom_target", file).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toContain(refusal);
    expect(await clusterState(pg)).toEqual(cluster);
    expect((await databases(pg)).filter((d) => d.startsWith("custom_target"))).toEqual([]);
    const { logger } = capturingLogger();
    const report = await verifyBackups(
      loadVerifyConfig(
        environmentLookup({
          BACKUP_DIR: path.dirname(path.dirname(file)),
          DATABASE_URL: pg.url("postgres"),
          BACKUP_TEST_RESTORE: "true",
        }),
      ),
      { logger },
    );
    expect(report.testRestore).toMatchObject({ ok: false, dropped: true });
    expect(report.testRestore!.problems.join("\n")).toContain(refusal);
    expect(await clusterState(pg)).toEqual(cluster);
  });

  it("a genuine custom archive passes the check and restores", async () => {
    const pg = postgres();
    const file = await patchedArchive("CREATE SCHEMA abcdefghijklm;");
    await restoreFile(pg, "custom_genuine", file);
    expect(await pg.query("custom_genuine", "SELECT a FROM abcdefghijklm.t")).toEqual([{ a: 1 }]);
  });
});
