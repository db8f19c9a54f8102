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
      const line = Buffer.from(this.carry + chunk.toString("latin1", from, nl), "latin1").toString("utf8");
      const m = /^COPY (.+?)(?: \(.*\))? FROM stdin;$/.exec(line);
      if (m) {
        this.inData = true;
        this.table = unquoteQualified(m[1]!);
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

/** `public."Weird ""Name"""` → `public.Weird "Name"`: the form the catalog query reports. */
export function unquoteQualified(name: string): string {
  const parts: string[] = [];
  let i = 0;
  while (i < name.length) {
    if (name[i] === '"') {
      let j = i + 1;
      let part = "";
      while (j < name.length) {
        if (name[j] === '"' && name[j + 1] === '"') {
          part += '"';
          j += 2;
        } else if (name[j] === '"') break;
        else part += name[j++];
      }
      parts.push(part);
      i = j + 2; // closing quote and the dot
    } else {
      const dot = name.indexOf(".", i);
      const end = dot === -1 ? name.length : dot;
      parts.push(name.slice(i, end));
      i = end + 1;
    }
  }
  return parts.join(".");
}
