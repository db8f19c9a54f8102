import { describe, expect, it } from "vitest";
import { CopyRowCounter, unquoteQualified } from "../../src/backup/copy-row-counter.js";

const DUMP = [
  "--",
  "-- PostgreSQL database dump",
  "--",
  "CREATE TABLE public.videos (id integer, title text);",
  "COMMENT ON TABLE public.videos IS 'COPY public.fake FROM stdin;';",
  "COPY public.videos (id, title) FROM stdin;",
  "1\tfirst\\nwith escaped newline",
  "2\t\\\\.",
  "3\t\\.x",
  "\\.",
  "",
  'COPY audit."Weird ""Name""" (x) FROM stdin;',
  "\\.",
  "COPY public.segments (id, text) FROM stdin;",
  ...Array.from({ length: 40 }, (_, i) => `${i}\t${"é".repeat(i % 7)} row`),
  "\\.",
  "CREATE INDEX x ON public.segments (id);",
  "-- PostgreSQL database dump complete",
  "",
].join("\n");

function countIn(chunks: Buffer[]): Record<string, number> {
  const counter = new CopyRowCounter();
  for (const c of chunks) counter.write(c);
  return Object.fromEntries(counter.counts);
}

const EXPECTED = { "public.videos": 3, 'audit.Weird "Name"': 0, "public.segments": 40 };

describe("CopyRowCounter", () => {
  it("counts rows per COPY section, ignoring escaped newlines, \\\\. data and COPY text outside headers", () => {
    expect(countIn([Buffer.from(DUMP)])).toEqual(EXPECTED);
  });

  it("gives the same counts for every chunk size from 1 to 64 bytes", () => {
    const bytes = Buffer.from(DUMP);
    for (let size = 1; size <= 64; size++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      expect(countIn(chunks), `chunk size ${size}`).toEqual(EXPECTED);
    }
  });

  it("unquotes qualified names as the catalog reports them", () => {
    expect(unquoteQualified("public.videos")).toBe("public.videos");
    expect(unquoteQualified('"My Schema"."T"')).toBe("My Schema.T");
    expect(unquoteQualified('s."a.b"')).toBe("s.a.b");
  });
});
