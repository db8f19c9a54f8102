import { displayName } from "../db/names.js";

const NOT_COPY = "#";

/**
 * Counts the rows of every table in a plain-format dump as it streams by: pg_dump writes each table's
 * data as `COPY schema.table (cols) FROM stdin;`, one line per row (newlines inside values are escaped
 * as \n), ended by a line `\.`. These counts describe exactly what the file holds, and cost the live
 * database nothing, unlike a count(*) per table.
 */
export class CopyRowCounter {
  readonly counts = new Map<string, number>();
  private inData = false;
  private table = "";
  private rows = 0;
  /** Text mode: the partial line carried over from the previous chunk (bounded). */
  private carry = "";
  /** Data mode: first bytes of a row split across chunks, enough to recognise `\.`. */
  private partial: number[] = [];
  private partialOpen = false;

  private static readonly MAX_CARRY = 1 << 20;

  write(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.inData) pos = this.scanData(chunk, pos);
      else pos = this.scanText(chunk, pos);
    }
  }

  private scanText(chunk: Buffer, from: number): number {
    const nl = chunk.indexOf(10, from);
    // Only lines that may be COPY headers are decoded; other lines are skipped unread ("#" marks one).
    const mayBeCopy =
      this.carry.length > 0
        ? this.carry !== NOT_COPY && ("COPY ".startsWith(this.carry) || this.carry.startsWith("COPY "))
        : chunk[from] === 0x43; // 'C'
    if (nl === -1) {
      if (!mayBeCopy) this.carry = NOT_COPY;
      else if (this.carry.length < CopyRowCounter.MAX_CARRY) this.carry += chunk.toString("latin1", from);
      return chunk.length;
    }
    if (mayBeCopy) {
      // Parsed byte for byte (latin1 keeps each byte one character; pg_dump quotes every name that is
      // not plain ASCII), then named as the catalog names it: UTF-8, or escaped when not UTF-8.
      const table = parseCopyHeader(this.carry + chunk.toString("latin1", from, nl));
      if (table !== undefined) {
        this.inData = true;
        this.table = displayName(Buffer.from(table, "latin1"));
        this.rows = 0;
        this.partial = [];
        this.partialOpen = false;
      }
    }
    this.carry = "";
    return nl + 1;
  }

  private scanData(chunk: Buffer, from: number): number {
    let start = from;
    if (this.partialOpen) {
      // Complete the row begun in the previous chunk.
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      for (let i = start; i < end && this.partial.length < 3; i++) this.partial.push(chunk[i]!);
      if (nl === -1) return chunk.length;
      if (this.endsSection(this.partial, this.partial.length)) return this.closeSection(nl + 1);
      this.rows++;
      this.partialOpen = false;
      this.partial = [];
      start = nl + 1;
    }
    let nl = chunk.indexOf(10, start);
    while (nl !== -1) {
      if (nl - start === 2 && chunk[start] === 0x5c && chunk[start + 1] === 0x2e)
        return this.closeSection(nl + 1); // "\."
      this.rows++;
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) {
      this.partialOpen = true;
      this.partial = [...chunk.subarray(start, Math.min(chunk.length, start + 3))];
    }
    return chunk.length;
  }

  private endsSection(bytes: number[], length: number): boolean {
    return length === 2 && bytes[0] === 0x5c && bytes[1] === 0x2e;
  }

  private closeSection(next: number): number {
    this.counts.set(this.table, (this.counts.get(this.table) ?? 0) + this.rows);
    this.inData = false;
    this.partialOpen = false;
    this.partial = [];
    return next;
  }
}

/**
 * The table of a pg_dump COPY header — `COPY public.t (a, b) FROM stdin;`, `COPY s."x (y)" FROM stdin;`,
 * or for a table without columns `COPY public.t  FROM stdin;` — in the catalog's unquoted form, or
 * undefined when the line is not a COPY header. Identifiers are read one by one, so quoted names may
 * hold spaces, dots, parentheses and doubled quotes.
 */
export function parseCopyHeader(line: string): string | undefined {
  if (!line.startsWith("COPY ") || !line.endsWith(" FROM stdin;")) return undefined;
  const parts: string[] = [];
  let i = 5;
  for (;;) {
    if (line[i] === '"') {
      let part = "";
      let j = i + 1;
      for (;;) {
        if (j >= line.length) return undefined;
        if (line[j] === '"' && line[j + 1] === '"') {
          part += '"';
          j += 2;
        } else if (line[j] === '"') break;
        else part += line[j++];
      }
      parts.push(part);
      i = j + 1;
    } else {
      const m = /^[^\s."(]+/.exec(line.slice(i));
      if (!m) return undefined;
      parts.push(m[0]);
      i += m[0].length;
    }
    if (line[i] !== ".") break;
    i++;
  }
  // What follows the name: an optional column list, then FROM stdin;
  return /^\s*(?:\(.*\))?\s*FROM stdin;$/.test(line.slice(i)) ? parts.join(".") : undefined;
}
