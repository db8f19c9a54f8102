import { describe, expect, it } from "vitest";
import { CopyRowCounter, parseCopyHeader } from "../../src/stream/copy-row-counter.js";

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
  "COPY public.nocols  FROM stdin;",
  "",
  "",
  "\\.",
  'COPY public."odd (name)" (x) FROM stdin;',
  "1",
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

const EXPECTED = {
  "public.videos": 3,
  'audit.Weird "Name"': 0,
  "public.nocols": 2,
  "public.odd (name)": 1,
  "public.segments": 40,
};

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

  it("reads COPY headers as the catalog names tables", () => {
    expect(parseCopyHeader("COPY public.videos (id, title) FROM stdin;")).toBe("public.videos");
    expect(parseCopyHeader("COPY public.t  FROM stdin;")).toBe("public.t");
    expect(parseCopyHeader('COPY "My Schema"."T" (x) FROM stdin;')).toBe("My Schema.T");
    expect(parseCopyHeader('COPY s."a.b" (x) FROM stdin;')).toBe("s.a.b");
    expect(parseCopyHeader('COPY s."x (y) FROM stdin;" (x) FROM stdin;')).toBe("s.x (y) FROM stdin;");
    expect(parseCopyHeader("COPY public.t (x) TO stdout;")).toBeUndefined();
    expect(parseCopyHeader("-- COPY public.t FROM stdin;")).toBeUndefined();
  });

  it("names a table as the catalog does, byte for byte: UTF-8 as text, other bytes escaped", () => {
    const counter = new CopyRowCounter();
    counter.write(
      Buffer.concat([
        Buffer.from('COPY "na'),
        Buffer.from([0xef]),
        Buffer.from('ve"."caf'),
        Buffer.from([0xe9]),
        Buffer.from('" (id) FROM stdin;\n1\n2\n\\.\nCOPY public."café" (id) FROM stdin;\n1\n\\.\n'),
      ]),
    );
    expect(Object.fromEntries(counter.counts)).toEqual({ "na\\xefve.caf\\xe9": 2, "public.café": 1 });
  });
});
