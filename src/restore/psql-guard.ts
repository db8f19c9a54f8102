import { randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { UserError } from "../config/errors.js";
import type { PgTool } from "../db/pg-tools.js";

/**
 * First psql release of each major that understands `\restrict` (CVE-2025-8714): from there on a
 * restricted psql refuses every backslash command but `\unrestrict <key>`. 18 has it from its release.
 */
const RESTRICT_SINCE: Readonly<Record<number, number>> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };

/** Whether this psql can be put in restricted mode (`\restrict`). */
export function psqlCanRestrict(tool: Pick<PgTool, "version" | "major">): boolean {
  if (tool.major >= 18) return true;
  const since = RESTRICT_SINCE[tool.major];
  const minor = Number(/^\d+\.(\d+)/.exec(tool.version)?.[1] ?? Number.NaN);
  return since !== undefined && Number.isInteger(minor) && minor >= since;
}

/** Refuses a psql that cannot be restricted: a plain backup is never fed to an unrestricted psql. */
export function requireRestrictablePsql(tool: PgTool, file: string): void {
  if (psqlCanRestrict(tool)) return;
  throw new UserError(
    `${file} is a plain SQL backup, and the psql chosen to restore it (${tool.version} at ${tool.path}) is too old ` +
      "to be put in restricted mode (\\restrict needs psql 13.22+, 14.19+, 15.14+, 16.10+, 17.6+ or 18): " +
      "a backup that holds psql meta-commands could run programs on this host. Nothing was restored. Update the " +
      `PostgreSQL client (e.g. apt-get install --only-upgrade postgresql-client-${tool.major}) or set PG_BIN_DIR to a newer one`,
  );
}

const NL = 0x0a;
const BACKSLASH = 0x5c;
/** The longest backslash line looked at (pg_dump's `\restrict` line is 74 bytes). */
const MAX_META_LINE = 512;

type SqlState =
  | "normal"
  | "single" // '...'
  | "escape" // E'...' (backslash escapes)
  | "escapeBackslash" // the byte after a backslash in E'...'
  | "escapeQuote" // a quote in E'...': the end, or the first half of ''
  | "double" // "..."
  | "dollarOpen" // reading a $tag$
  | "dollar" // inside $tag$...$tag$
  | "lineComment"
  | "blockComment"
  | "meta"; // a backslash command, up to the end of its line

const isIdentByte = (b: number) =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b >= 0x80;
const isIdentStart = (b: number) => isIdentByte(b) && !(b >= 0x30 && b <= 0x39);
const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0c;

export interface PsqlGuardOptions {
  /** Named in the refusal. */
  readonly file: string;
  /** Called synchronously before the refusal is raised, so psql dies before it can see the end of input. */
  readonly onRefuse?: (() => void) | undefined;
}

/**
 * Everything a plain backup sends to psql passes through here. Two independent locks:
 * 1. the stream starts with `\restrict <fresh random key>`, so psql itself refuses every backslash
 *    command that follows (the key exists only in this process, is never logged, and changes every run);
 * 2. the SQL is lexed as psql lexes it (quotes, E'' strings, dollar quotes, comments, COPY ... FROM stdin
 *    data up to `\.`), and any backslash command outside COPY data is refused here, before psql sees it.
 * The one exception is the dump's own `\restrict K` ... `\unrestrict K` pair that pg_dump 13.22+ writes
 * (only at the start of a line, one of each, the same key): those two lines are dropped, so psql stays
 * in our restricted mode for the whole stream. SQL passes through unchanged.
 */
export class PsqlGuard extends Transform {
  /** `\restrict <key>` for psql; the key never leaves this object. */
  readonly #preamble = Buffer.from(`\\restrict ${randomBytes(32).toString("hex")}\n`);
  readonly #file: string;
  readonly #onRefuse: (() => void) | undefined;
  #started = false;
  #copy = false;
  /** In COPY data: how many bytes of the current line match `\.` so far; -1 when it cannot be the end. */
  #copyLineMatch = 0;
  #state: SqlState = "normal";
  #line = 1;
  #atLineStart = true;
  #prev = 0;
  #prev2 = 0;
  #blockDepth = 0;
  #tag: number[] = [];
  #tagMatch = 0;
  /** The statement so far starts with COPY (only the first word matters). */
  #head = "";
  #inStatement = false;
  /** Bytes of the current statement so far: a comment that starts it does not start a statement. */
  #statementBytes = 0;
  #copyAfterLine = false;
  /** Normal-state bytes of the current statement's last line, to see `FROM stdin` before its `;`. */
  #tail = "";
  /** The statement's first word so far is (a prefix of) COPY: only then is `#tail` kept. */
  #mayBeCopy = false;
  #meta: number[] = [];
  #metaAtLineStart = false;
  #metaLine = 0;
  #dumpKey: string | undefined;
  #unrestricted = false;

  constructor(options: PsqlGuardOptions) {
    super();
    this.#file = options.file;
    this.#onRefuse = options.onRefuse;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (!this.#started) {
      this.#started = true;
      this.push(this.#preamble);
    }
    try {
      this.#scan(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    if (!this.#started) {
      this.#started = true;
      this.push(this.#preamble);
    }
    try {
      if (this.#state === "meta") this.#endMeta();
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  #scan(chunk: Buffer): void {
    let emitFrom = 0;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#copy) {
        i = this.#scanCopy(chunk, i);
        continue;
      }
      const b = chunk[i]!;
      if (this.#state === "meta") {
        if (b === NL) {
          this.#endMeta();
          this.#newLine();
          emitFrom = i + 1; // the allowed lines (`\restrict`/`\unrestrict`) are dropped with their newline
        } else {
          if (this.#meta.length >= MAX_META_LINE) this.#refuse();
          this.#meta.push(b);
        }
        i++;
        continue;
      }
      if (b === BACKSLASH && this.#state === "normal") {
        if (i > emitFrom) this.push(chunk.subarray(emitFrom, i));
        this.#state = "meta";
        this.#meta = [b];
        this.#metaAtLineStart = this.#atLineStart;
        this.#metaLine = this.#line;
        i++;
        continue;
      }
      this.#step(b);
      if (b === NL) {
        this.#newLine();
        if (this.#copyAfterLine) {
          this.#copyAfterLine = false;
          this.#copy = true;
          this.#copyLineMatch = 0;
        }
      } else this.#atLineStart = false;
      i++;
    }
    if (this.#state !== "meta" && emitFrom < n) this.push(emitFrom === 0 ? chunk : chunk.subarray(emitFrom));
  }

  /** COPY data: whole lines pass; only a line that is exactly `\.` ends it. Returns where SQL resumes. */
  #scanCopy(chunk: Buffer, from: number): number {
    let i = from;
    const n = chunk.length;
    while (i < n) {
      if (this.#copyLineMatch >= 0) {
        const b = chunk[i]!;
        const m = this.#copyLineMatch;
        if (b === NL) {
          this.#line++;
          if (m === 2 || m === 3) {
            this.#copy = false;
            this.#atLineStart = true;
            this.#prev = NL;
            return i + 1;
          }
          this.#copyLineMatch = 0;
        } else if ((m === 0 && b === BACKSLASH) || (m === 1 && b === 0x2e) || (m === 2 && b === 0x0d)) {
          this.#copyLineMatch = m + 1;
        } else this.#copyLineMatch = -1;
        i++;
        continue;
      }
      const nl = chunk.indexOf(NL, i);
      if (nl < 0) return n;
      this.#line++;
      this.#copyLineMatch = 0;
      i = nl + 1;
    }
    return n;
  }

  #newLine(): void {
    this.#line++;
    this.#atLineStart = true;
    this.#tail = "";
  }

  /** One byte of SQL outside COPY data and outside a backslash command. */
  #step(b: number): void {
    const prev = this.#prev;
    switch (this.#state) {
      case "normal":
        if (b === 0x2d && prev === 0x2d) {
          this.#state = "lineComment";
          this.#uncountCommentStart();
        } else if (b === 0x2a && prev === 0x2f) {
          this.#state = "blockComment";
          this.#blockDepth = 1;
          this.#uncountCommentStart();
          this.#prev = 0;
          return;
        } else if (b === 0x27) {
          const eString = (prev === 0x45 || prev === 0x65) && !isIdentByte(this.#prev2);
          this.#state = eString ? "escape" : "single";
          this.#sawStatementByte(b);
        } else if (b === 0x22) {
          this.#state = "double";
          this.#sawStatementByte(b);
        } else if (b === 0x24 && !isIdentByte(prev)) {
          this.#state = "dollarOpen";
          this.#tag = [b];
          this.#sawStatementByte(b);
        } else if (b === 0x3b) {
          if (/^COPY( |$)/i.test(this.#head) && /\bFROM\s+STDIN\s*$/i.test(this.#tail))
            this.#copyAfterLine = true;
          this.#inStatement = false;
          this.#statementBytes = 0;
          this.#head = "";
          this.#tail = "";
        } else if (!isSpace(b)) {
          this.#sawStatementByte(b);
          if (this.#mayBeCopy) {
            this.#tail += String.fromCharCode(b);
            if (this.#tail.length > 64) this.#tail = this.#tail.slice(-32);
          }
        } else if (this.#inStatement) {
          if (this.#head.length < 5 && this.#head.length > 0 && !this.#head.endsWith(" ")) {
            this.#head += " "; // ends the first word
            this.#mayBeCopy = /^copy $/i.test(this.#head);
          }
          if (this.#mayBeCopy) this.#tail += " ";
        }
        break;
      case "single":
        if (b === 0x27) this.#state = "normal";
        break;
      case "escape":
        if (b === BACKSLASH) this.#state = "escapeBackslash";
        else if (b === 0x27) this.#state = "escapeQuote";
        break;
      case "escapeBackslash":
        this.#state = "escape";
        break;
      case "escapeQuote":
        if (b === 0x27) this.#state = "escape";
        else {
          this.#state = "normal";
          this.#step(b);
          return;
        }
        break;
      case "double":
        if (b === 0x22) this.#state = "normal";
        break;
      case "dollarOpen":
        if (b === 0x24) {
          this.#tag.push(b);
          this.#state = "dollar";
          this.#tagMatch = 0;
        } else if (this.#tag.length === 1 ? isIdentStart(b) : isIdentByte(b)) this.#tag.push(b);
        else {
          // `$1` or `a $ b`: not a dollar quote after all
          this.#state = "normal";
          this.#prev = 0x24;
          this.#step(b);
          return;
        }
        break;
      case "dollar":
        if (b === this.#tag[this.#tagMatch]) {
          this.#tagMatch++;
          if (this.#tagMatch === this.#tag.length) this.#state = "normal";
        } else this.#tagMatch = b === 0x24 ? 1 : 0;
        break;
      case "lineComment":
        if (b === NL) this.#state = "normal";
        break;
      case "blockComment":
        if (b === 0x2a && prev === 0x2f) {
          this.#blockDepth++;
          this.#prev = 0;
          return;
        }
        if (b === 0x2f && prev === 0x2a) {
          this.#blockDepth--;
          if (this.#blockDepth === 0) this.#state = "normal";
          this.#prev = 0;
          return;
        }
        break;
      case "meta":
        break;
    }
    this.#prev2 = prev;
    this.#prev = b;
  }

  /** The `-` or `/` that opened a comment was not part of a statement if nothing came before it. */
  #uncountCommentStart(): void {
    this.#tail = this.#tail.slice(0, -1);
    if (this.#statementBytes === 1) {
      this.#inStatement = false;
      this.#statementBytes = 0;
      this.#head = "";
    }
  }

  #sawStatementByte(b: number): void {
    if (!this.#inStatement) {
      this.#inStatement = true;
      this.#head = "";
    }
    this.#statementBytes++;
    if (this.#head.length < 5 && !this.#head.endsWith(" ")) {
      this.#head += String.fromCharCode(b);
      this.#mayBeCopy = "COPY ".startsWith(this.#head.toUpperCase());
    }
  }

  /** A whole backslash line: only the dump's own `\restrict K` / `\unrestrict K` pass (and are dropped). */
  #endMeta(): void {
    const text = Buffer.from(this.#meta).toString("latin1").replace(/\r$/, "");
    this.#state = "normal";
    this.#prev = 0;
    const restrict = /^\\restrict ([A-Za-z0-9]{1,64})\s*$/.exec(text);
    const unrestrict = /^\\unrestrict ([A-Za-z0-9]{1,64})\s*$/.exec(text);
    if (this.#metaAtLineStart && !this.#inStatement) {
      if (restrict && this.#dumpKey === undefined) {
        this.#dumpKey = restrict[1]!;
        return;
      }
      if (unrestrict && this.#dumpKey === unrestrict[1] && !this.#unrestricted) {
        this.#unrestricted = true;
        return;
      }
    }
    this.#refuse();
  }

  #refuse(): never {
    this.#onRefuse?.();
    const name = (/^\\[^\s\\]{0,20}/.exec(Buffer.from(this.#meta).toString("latin1"))?.[0] ?? "\\").replace(
      /[^\x21-\x7e]/g,
      "?",
    );
    const why =
      name === "\\restrict" || name === "\\unrestrict"
        ? "a second or unmatched \\restrict/\\unrestrict (pg_dump writes one pair with one key)"
        : "a psql meta-command outside COPY data, which pg_dump never writes";
    throw new UserError(
      `${this.#file} line ${this.#metaLine} holds ${name}: ${why}. The backup was refused before psql could run it; ` +
        "it is not a genuine pg_dump backup (it was altered, or written by something else). Restore another backup",
    );
  }
}
