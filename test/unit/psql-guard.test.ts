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
SELECT E'a\\'
\\o still inside an E-string', "col
\\g inside an identifier" FROM t /* nested /* comment
\\! in a comment */ still comment
*/;
-- \\! in a line comment
SELECT $1, a$b$c FROM t;
COPY public.t (a, b) FROM stdin;
\\N\tnull first
\\\\\tbackslash first
\\.x\tnot the end
\\.
COPY public."odd ""name""" (a) FROM stdin;
\\!	looks like a command but is COPY data
\\.
SELECT 1;

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
    expect((await guarded("SELECT 1;\n")).replace(PREAMBLE, "")).toBe("SELECT 1;\n");
    expect(await guarded("")).toMatch(PREAMBLE);
  });

  it.each([
    ["\\! touch /tmp/x\n", 1, "\\!"],
    ["SELECT 1;\n\\connect live\nDROP TABLE t;\n", 2, "\\connect"],
    ["SELECT 1 \\gexec\n", 1, "\\gexec"],
    ["SELECT 'a'; \\o |sh\n", 1, "\\o"],
    ["SELECT 'a\\'; \\! id\n", 1, "\\!"], // standard strings: the backslash does not escape the quote
    ["SELECT 1\n\\restrict abc\n", 2, "\\restrict"], // not at a statement boundary
    [`\\unrestrict ${KEY}\n`, 1, "\\unrestrict"], // no matching \\restrict
    [`\\restrict ${KEY}\n\\unrestrict other\n`, 2, "\\unrestrict"],
    [`\\restrict ${KEY}\n\\restrict ${KEY}\n`, 2, "\\restrict"],
    [`\\restrict ${KEY}\n\\unrestrict ${KEY}\n\\! id\n`, 3, "\\!"],
    [`\\restrict ${KEY}\n\\unrestrict ${KEY}\n\\restrict b\n\\unrestrict b\n`, 3, "\\restrict"],
    ["COPY t FROM stdin;\n1\n\\.\n\\set x 1\n", 4, "\\set"],
    ["SELECT $$ $$; \\copy t to program 'id'\n", 1, "\\copy"],
    ["SELECT 1; -- comment\n\\! id", 2, "\\!"], // at the end of input without a newline
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
