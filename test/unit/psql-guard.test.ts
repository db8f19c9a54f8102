import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { PsqlGuard, psqlCanRestrict } from "../../src/restore/psql-guard.js";

/** Runs `text` through a guard in chunks of `size` bytes; returns what psql would read. */
async function guarded(text: string, size = 1 << 16): Promise<string> {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  const out: Buffer[] = [];
  const guard = Readable.from(chunks).pipe(new PsqlGuard({ file: "/b/x_daily_20241026_020000.sql" }));
  for await (const chunk of guard) out.push(chunk as Buffer);
  return Buffer.concat(out).toString();
}

const PREAMBLE = /^\\restrict [0-9a-f]{64}\n/;

const KEY = "4SNlpdj199lKMni0RG8V4VfgXFbD8czZbZo3Y7ndHjw1YkGjSMzsjtnEzVmu5u2";
/** What pg_dump 15.14+ writes, with the corners a lexer must get right. */
const DUMP = `--
-- PostgreSQL database dump
--

\\restrict ${KEY}

SET standard_conforming_strings = on;
CREATE FUNCTION public.f() RETURNS text LANGUAGE plpgsql AS $_$
begin
\\! not a command: inside a dollar quote
  return $x$ $_ $$ $x$;
end $_$;
COMMENT ON TABLE public.t IS 'first line
\\connect not a command either (inside a string); it''s still the string
';
CREATE VIEW public.v AS SELECT E'a\\' \\o still inside an E-string', "col \\g inside an identifier" FROM t /* nested /* comment
 \\! in a comment */ still comment
*/;
-- \\! in a line comment
CREATE VIEW public.w AS SELECT $1, a$b$c FROM t;
COPY public.t (a, b) FROM stdin;
\\N\tnull first
\\\\\tbackslash first
\\\\.\tnot the end (an escaped backslash, then a dot)
\\.
COPY public."odd ""name""" (a) FROM stdin;
!\tlooks like a command but is COPY data
\\.
CREATE TABLE public.u (a integer);

\\unrestrict ${KEY}

--
-- PostgreSQL database dump complete
--
`;

describe("PsqlGuard: what a plain backup may send to psql", () => {
  it.each([1, 7, 1 << 16])(
    "passes a genuine dump unchanged but for its own \\restrict pair, behind a fresh key (chunks of %i bytes)",
    async (size) => {
      const out = await guarded(DUMP, size);
      expect(out).toMatch(PREAMBLE);
      const withoutPair = DUMP.replace(`\\restrict ${KEY}\n`, "").replace(`\\unrestrict ${KEY}\n`, "");
      expect(out.replace(PREAMBLE, "")).toBe(withoutPair);
    },
  );

  it("uses a new random key every run, never the dump's", async () => {
    const a = (await guarded(DUMP)).match(PREAMBLE)![0];
    const b = (await guarded(DUMP)).match(PREAMBLE)![0];
    expect(a).not.toBe(b);
    expect(a).not.toContain(KEY);
  });

  it("accepts a dump without any \\restrict (older pg_dump, the runbook's shell backups)", async () => {
    expect((await guarded("CREATE TABLE t ();\n")).replace(PREAMBLE, "")).toBe("CREATE TABLE t ();\n");
    expect(await guarded("")).toMatch(PREAMBLE);
  });

  it.each([
    ["\\! touch /tmp/x\n", 1, "\\!"],
    ["CREATE TABLE t ();\n\\connect live\nDROP TABLE t;\n", 2, "\\connect"],
    ["SELECT 1 \\gexec\n", 1, "\\gexec"],
    ["COMMENT ON TABLE t IS 'a'; \\o |sh\n", 1, "\\o"],
    ["COMMENT ON TABLE t IS 'a\\'; \\! id\n", 1, "\\!"], // standard strings: the backslash does not escape the quote
    ["SELECT 1\n\\restrict abc\n", 2, "\\restrict"], // not at a statement boundary
    [`\\unrestrict ${KEY}\n`, 1, "\\unrestrict"], // no matching \\restrict
    [`\\restrict ${KEY}\n\\unrestrict other\n`, 2, "\\unrestrict"],
    [`\\restrict ${KEY}\n\\restrict ${KEY}\n`, 2, "\\restrict"],
    [`\\restrict ${KEY}\n\\unrestrict ${KEY}\n\\! id\n`, 3, "\\!"],
    [`\\restrict ${KEY}\n\\unrestrict ${KEY}\n\\restrict b\n\\unrestrict b\n`, 3, "\\restrict"],
    ["COPY t FROM stdin;\n1\n\\.\n\\set x 1\n", 4, "\\set"],
    ["COMMENT ON TABLE t IS $$ $$; \\copy t to program 'id'\n", 1, "\\copy"],
    ["CREATE TABLE t (); -- comment\n\\! id", 2, "\\!"], // at the end of input without a newline
  ])("refuses %j: line %i, naming %s", async (text, line, command) => {
    for (const size of [1, 1 << 16]) {
      const err = await guarded(text, size).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain(
        `/b/x_daily_20241026_020000.sql line ${line} holds ${command}`,
      );
    }
  });

  it("stops psql (onRefuse) before the refusal reaches the stream", async () => {
    let stopped = false;
    const guard = new PsqlGuard({ file: "f", onRefuse: () => (stopped = true) });
    const err = await new Promise<Error>((resolve) => {
      guard.on("error", resolve);
      guard.resume();
      guard.end("\\! id\n");
    });
    expect(stopped).toBe(true);
    expect(err.message).toContain("f line 1 holds \\!");
  });

  it("knows which psql releases have \\restrict", () => {
    const can = (version: string) => psqlCanRestrict({ version, major: Number(version.split(".")[0]) });
    expect(["13.22", "14.19", "15.14", "15.18", "16.10", "17.6", "18", "18.1"].map(can)).toEqual(
      Array(8).fill(true),
    );
    expect(["12.22", "13.21", "14.18", "15.13", "16.9", "17.5", "15"].map(can)).toEqual(Array(7).fill(false));
  });
});

/** Runs raw bytes through a guard; resolves to the refusal's message, or undefined when it passed. */
async function refusal(bytes: Buffer | string, size = 1 << 16): Promise<string | undefined> {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
  const guard = Readable.from(chunks).pipe(new PsqlGuard({ file: "/b/x.sql" }));
  try {
    for await (const _ of guard);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

describe("PsqlGuard: where its lexer could part from psql's (each runs \\echo in an unrestricted psql)", () => {
  const sjisString = Buffer.concat([
    Buffer.from("SET client_encoding='SJIS';\nSELECT E'"),
    Buffer.from([0x95, 0x5c]),
    Buffer.from("';\n\\echo PWNED\n'\n"),
  ]);
  it.each([
    ["a ; inside parentheses", "SELECT (1;\nCOPY t FROM STDIN;\n\\echo PWNED\n);\n"],
    [
      "a BEGIN ATOMIC body",
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;\nCOPY t FROM STDIN;\n\\echo PWNED\nEND;\n",
    ],
    [
      "standard_conforming_strings off",
      "SET standard_conforming_strings = off;\nSELECT 'a\\'';\n\\echo PWNED\n",
    ],
    [
      "set_config of standard_conforming_strings",
      "SELECT pg_catalog.set_config('standard_conforming_strings', 'off', false);\n",
    ],
    ["FROM STDIN on its own line", "COPY t FROM STDIN\n;\n'\n\\.\n\\echo PWNED\n"],
    ["options after FROM STDIN", "COPY t FROM STDIN WITH (FORMAT text);\n'\n\\.\n\\echo PWNED\n"],
    ['COPY"t"', 'COPY"t" FROM STDIN;\n\'\n\\.\n\\echo PWNED\n'],
    ["two COPYs on one line", "COPY a FROM STDIN; COPY b FROM STDIN;\n1\n\\.\n$$\n\\.\n\\echo PWNED\n$$;\n"],
    ["a $ continuing an identifier", "SELECT a$$$;\n\\echo PWNED\n$$;\n"],
    [
      "psql's BEGIN heuristic against the server's",
      "CREATE FUNCTION f() RETURNS begin LANGUAGE sql RETURN 1; COPY t FROM STDIN; END;\n$$\n\\.\n\\echo PWNED\n$$\n",
    ],
    ["a backslash at a line start inside an E'' string", "COMMENT ON TABLE t IS E'\n\\echo PWNED\n';\n"],
    ["a backslash at a line start inside a block comment", "/*\n\\echo PWNED\n*/\n"],
    ["a COPY data backslash that COPY text never writes", "COPY t FROM STDIN;\n\\echo PWNED\n\\.\n"],
  ])("refuses %s", async (_name, text) => {
    for (const size of [1, 1 << 16]) expect(await refusal(text, size)).toMatch(/\/b\/x\.sql line \d+/);
  });

  it.each(["SJIS", "shift_jis_2004", "BIG5", "gbk", "UHC", "GB18030", "johab", "win932", "Windows-950"])(
    "refuses client_encoding %s (0x5C as a trail byte)",
    async (enc) => {
      expect(await refusal(`SET client_encoding = '${enc}';\n`)).toMatch(
        /\/b\/x\.sql line 1 .*client_encoding/,
      );
    },
  );

  it("refuses an SJIS E-string whose trail byte is a backslash", async () => {
    expect(await refusal(sjisString)).toMatch(/line 1 .*client_encoding/);
  });

  it("passes what pg_dump writes around those corners", async () => {
    const ok = `SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
CREATE FUNCTION public.add(a integer, b integer) RETURNS integer
    LANGUAGE sql
    BEGIN ATOMIC
 SELECT CASE WHEN ($1 > 0) THEN ($1 + $2) ELSE 0 END AS "case";
 SELECT 1;
END;
CREATE FUNCTION public.re(t text) RETURNS text
    LANGUAGE plpgsql
    AS $_$
begin
\\d is a regex class here, at the start of a line in a dollar quote
  return t;
end $_$;
CREATE TABLE public.t (a integer DEFAULT 1e+20, b text DEFAULT 'x\\y');
COPY public.t (a, b) FROM stdin;
1\t\\\\\t\\N\t\\t\\n\\r\\b\\f\\v\\011\\x41
\\.
SELECT pg_catalog.setval('public.s', 42, true);
SELECT pg_catalog.lo_create('16385');
BEGIN;
SELECT pg_catalog.lo_open('16385', 131072);
SELECT pg_catalog.lowrite(0, '\\x0102');
SELECT pg_catalog.lo_close(0);
COMMIT;
GRANT ALL ON SCHEMA public TO PUBLIC;
`;
    for (const size of [1, 7, 1 << 16]) expect(await refusal(ok, size)).toBeUndefined();
  });
});

describe("PsqlGuard: statements pg_dump never writes", () => {
  it.each([
    "CREATE ROLE evil SUPERUSER;",
    "CREATE USER evil;",
    "create or replace role x;",
    "ALTER ROLE postgres VALID UNTIL '2000-01-01';",
    "ALTER USER postgres NOSUPERUSER;",
    "DROP ROLE postgres;",
    "CREATE DATABASE x;",
    "ALTER DATABASE live CONNECTION LIMIT 0;",
    "ALTER DATABASE live SET default_transaction_read_only=on;",
    "DROP DATABASE live;",
    "ALTER SYSTEM SET archive_command = 'x';",
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/x';",
    "COPY t TO '/tmp/x';",
    "COPY t FROM PROGRAM 'id';",
    "COPY t FROM '/etc/passwd';",
    "DO $$ begin perform 1; end $$;",
    "CALL p();",
    "LOAD 'x';",
    "SET ROLE postgres;",
    "SET SESSION AUTHORIZATION postgres;",
    "SET LOCAL ROLE postgres;",
    "RESET ROLE;",
    "RESET SESSION AUTHORIZATION;",
    "VACUUM;",
    "CHECKPOINT;",
    "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings';",
    "GRANT pg_execute_server_program TO me;",
    "SELECT 1;",
    "SELECT pg_catalog.setval('s', (SELECT 1), true);",
    "SELECT pg_catalog.lo_import('/etc/passwd');",
    "SELECT dblink_connect('host=live');",
    "SET NAMES 'SJIS';",
  ])("refuses %s", async (sql) => {
    for (const size of [1, 1 << 16]) {
      const msg = await refusal(`SET statement_timeout = 0;\n${sql}\n`, size);
      expect(msg).toMatch(/\/b\/x\.sql line 2 holds a statement .*pg_dump never writes/);
    }
  });

  it("checks the last statement even without its semicolon", async () => {
    expect(await refusal("CREATE TABLE t ();\nCREATE ROLE evil")).toMatch(/line 2 holds a statement/);
  });
});
