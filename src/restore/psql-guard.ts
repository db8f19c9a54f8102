import { randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import type { PgTool } from "../db/pg-tools.js";
import { UserError } from "../shared/errors.js";

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
const CR = 0x0d;
const BACKSLASH = 0x5c;
/** The longest backslash line looked at (pg_dump's `\restrict` line is 74 bytes). */
const MAX_META_LINE = 512;
/** Tokens of a statement kept for the statement check; a longer statement is judged by its start. */
const MAX_TOKENS = 64;
/** Characters of a string literal or quoted identifier kept for the statement check. */
const MAX_TEXT = 256;

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
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isIdentStart = (b: number) => isIdentByte(b) && !isDigit(b);
/** What may follow a backslash in COPY text data as pg_dump writes it (and COPY text reads it). */
const COPY_ESCAPES = new Set([..."\\Nbfnrtv01234567x"].map((c) => c.charCodeAt(0)));

/** One token of a statement, as the statement check sees it. */
interface Token {
  /** w: unquoted word (lowercased), n: number, s: string literal, q: quoted identifier, p: punctuation. */
  readonly kind: "w" | "n" | "s" | "q" | "p";
  readonly text: string;
  /** Parenthesis depth. */
  readonly depth: number;
}

/**
 * Client encodings psql may be switched to in which 0x5C (a backslash) can be the second byte of a
 * character, so psql's lexer and this one would part ways (names as PostgreSQL normalises them:
 * lowercase, only letters and digits). No database can have them, so pg_dump never sets them.
 */
const UNSAFE_CLIENT_ENCODINGS = new Set([
  "sjis",
  "shiftjis",
  "mskanji",
  "win932",
  "windows932",
  "shiftjis2004",
  "big5",
  "win950",
  "windows950",
  "gbk",
  "win936",
  "windows936",
  "uhc",
  "win949",
  "windows949",
  "gb18030",
  "johab",
]);
const normaliseEncoding = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, "");

/** The functions pg_dump's own top-level SELECTs call (search path, sequences, large objects). */
const DUMP_SELECTS = new Set(["set_config", "setval", "lo_create", "lo_open", "lowrite", "lo_close"]);
/** First words of the statements pg_dump writes into a plain dump of one database. */
const DUMP_STATEMENTS = new Set([
  "set",
  "select",
  "create",
  "alter",
  "drop",
  "comment",
  "copy",
  "grant",
  "revoke",
  "security",
  "refresh",
  "insert",
  "begin",
  "commit",
]);
/** Objects beyond the database being restored: CREATE/ALTER/DROP of these is refused. */
const CLUSTER_OBJECTS = new Set(["role", "user", "group", "database", "tablespace", "system"]);

/**
 * Why a statement (its first tokens) is not one pg_dump writes into a plain dump of one database, or
 * undefined when it is. Judged by its kind only: a statement of an allowed kind can still call
 * functions (an index expression, a default) — this is a fence around the restore, not a sandbox.
 */
export function statementRefusal(tokens: readonly Token[], truncated: boolean): string | undefined {
  if (!tokens.length) return undefined;
  const words = tokens.map((t) =>
    t.kind === "w" ? t.text : t.kind === "q" ? `"${t.text}"` : `\u0000${t.text}`,
  );
  const first = tokens[0]!;
  const kind = first.kind === "w" ? first.text : "";
  const show = `${tokens
    .slice(0, 4)
    .map((t) => (t.kind === "s" ? "'...'" : t.text))
    .join(" ")
    .toUpperCase()
    .replace(/[^\x20-\x7e]/g, "?")}`;
  const never = `${show}, which pg_dump never writes`;
  if (!DUMP_STATEMENTS.has(kind)) return never;
  const at = (i: number) => words[i] ?? "";
  if (kind === "create" || kind === "alter" || kind === "drop") {
    let i = 1;
    if (at(1) === "or" && at(2) === "replace") i = 3;
    if (CLUSTER_OBJECTS.has(at(i)) && !(at(i) === "user" && at(i + 1) === "mapping")) return never;
    return undefined;
  }
  if (kind === "begin" || kind === "commit") return tokens.length === 1 ? undefined : never;
  if (kind === "grant" || kind === "revoke") {
    // pg_dump grants privileges ON objects; a role membership (GRANT role TO ...) is the cluster's
    return tokens.some((t) => t.kind === "w" && t.text === "on" && t.depth === 0) ? undefined : never;
  }
  if (kind === "copy") {
    const top = tokens.filter((t) => t.depth === 0);
    const from = top.findIndex((t) => t.kind === "w" && t.text === "from");
    const fromStdin = from > 0 && top[from + 1]?.kind === "w" && top[from + 1]?.text === "stdin";
    const to = top.some((t) => t.kind === "w" && (t.text === "to" || t.text === "program"));
    return fromStdin && !to && !truncated ? undefined : `${never} (only COPY ... FROM stdin)`;
  }
  if (kind === "set") {
    let i = 1;
    if ((at(1) === "session" && at(2) !== "authorization") || at(1) === "local") i = 2;
    const name = tokens[i]?.kind === "q" ? tokens[i]!.text.toLowerCase() : at(i);
    const valueToken = tokens[i + 1]?.kind === "p" || at(i + 1) === "to" ? tokens[i + 2] : undefined;
    const value = valueToken?.text.toLowerCase() ?? "";
    if (name === "role" || name === "session" || name === "names") return never;
    if (name === "client_encoding" && UNSAFE_CLIENT_ENCODINGS.has(normaliseEncoding(value)))
      return `${show}: client_encoding ${value.toUpperCase()} can hide a backslash in a character's second byte, and no database has that encoding, so pg_dump never writes it`;
    if (name === "standard_conforming_strings" && !["on", "true", "yes", "1", "default"].includes(value))
      return `${show}: standard_conforming_strings other than on changes how strings end, and pg_dump always writes on`;
    return undefined;
  }
  if (kind === "select") {
    // SELECT pg_catalog.fn(literal, ...) and nothing else
    const fn = at(3);
    const ok =
      !truncated &&
      at(1) === "pg_catalog" &&
      at(2) === "\u0000." &&
      DUMP_SELECTS.has(fn) &&
      at(4) === "\u0000(" &&
      at(words.length - 1) === "\u0000)" &&
      tokens
        .slice(5, -1)
        .every(
          (t) =>
            t.kind === "s" ||
            t.kind === "n" ||
            (t.kind === "p" && (t.text === "," || t.text === "-")) ||
            (t.kind === "w" && (t.text === "true" || t.text === "false")),
        ) &&
      (fn !== "set_config" || (tokens[5]?.kind === "s" && tokens[5].text === "search_path"));
    return ok ? undefined : never;
  }
  return undefined;
}

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
 * 2. the SQL is lexed the way psql 13-18 lexes it (quotes, E'' strings, dollar quotes, comments,
 *    parentheses and BEGIN ATOMIC bodies for statement ends, COPY ... FROM stdin data up to `\.`), and
 *    any backslash command outside COPY data is refused here, before psql sees it. Where the two lexers
 *    could still part ways the guard refuses rather than guesses: settings that change how psql lexes
 *    (standard_conforming_strings off, client encodings with 0x5C trail bytes), a backslash at the start
 *    of a line inside an E'' string or block comment, COPY data escapes COPY text never writes, a statement
 *    psql and the server would split differently, a `$` or number glued to a word the way pg_dump never
 *    writes. The one exception is the dump's own `\restrict K` ... `\unrestrict K` pair (pg_dump 13.22+;
 *    at the start of a line, one of each, the same key): those two lines are dropped, so psql stays
 *    in our restricted mode for the whole stream.
 * Besides, every statement must be of a kind pg_dump writes into a plain dump of one database (see
 * statementRefusal): no roles, databases, tablespaces, ALTER SYSTEM, COPY to/from files or programs,
 * DO, CALL, LOAD, SET ROLE, SELECTs other than pg_dump's own. SQL passes through unchanged.
 */
export class PsqlGuard extends Transform {
  /** `\restrict <key>` for psql; the key never leaves this object. */
  readonly #preamble = Buffer.from(`\\restrict ${randomBytes(32).toString("hex")}\n`);
  readonly #file: string;
  readonly #onRefuse: (() => void) | undefined;
  #started = false;
  /** COPY ... FROM stdin statements sent and not yet fed: each reads data from the next line on. */
  #pendingCopies = 0;
  #copy = false;
  /** Bytes of the current COPY data line so far (capped), whether the last was an escaping backslash. */
  #copyCol = 0;
  #copyEsc = false;
  /** The COPY data line is `\.` so far (1), or `\.\r` (2). */
  #copyEnd = 0;
  #state: SqlState = "normal";
  #line = 1;
  #atLineStart = true;
  #prev = 0;
  #blockDepth = 0;
  #tag: number[] = [];
  #tagMatch = 0;
  /** The unquoted word or number being read: "" none, "w" word, "n" number, "e" after its exponent's e, "s" after the sign. */
  #wordKind: "" | "w" | "n" | "e" | "s" = "";
  #word = "";
  #text = "";
  #tokens: Token[] = [];
  #truncated = false;
  #stmtLine = 0;
  #paren = 0;
  /** psql's own heuristic (psqlscan.l): BEGIN/CASE ... END depth inside CREATE [OR REPLACE] FUNCTION|PROCEDURE. */
  #psqlBegin = 0;
  #identCount = 0;
  #idents = ["", "", "", ""];
  /** The server's view: depth inside a BEGIN ATOMIC body (CASE ... END nest inside it). */
  #atomic = 0;
  #lastWord = "";
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
      if (!this.#copy) {
        this.#endWord(0);
        // psql sends what is left at the end of its input as a last statement
        if (this.#state === "normal" || this.#state === "lineComment") this.#endStatement();
      }
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
          if (this.#meta.length >= MAX_META_LINE) this.#refuseMeta();
          this.#meta.push(b);
        }
        i++;
        continue;
      }
      if (b === BACKSLASH && this.#state === "normal") {
        this.#endWord(b);
        if (i > emitFrom) this.push(chunk.subarray(emitFrom, i));
        this.#state = "meta";
        this.#meta = [b];
        this.#metaAtLineStart = this.#atLineStart;
        this.#metaLine = this.#line;
        i++;
        continue;
      }
      if (
        b === BACKSLASH &&
        this.#atLineStart &&
        (this.#state === "escape" || this.#state === "escapeQuote" || this.#state === "blockComment")
      )
        // pg_dump writes no E'' string (standard_conforming_strings is on) and no block comment, while
        // a genuine '' string (a COMMENT) or dollar quote (a function body) may hold such a line
        this.#refuse(
          this.#line,
          "a backslash at the start of a line inside an E'' string or a block comment (pg_dump writes neither), " +
            "where psql would run it as a meta-command if its lexer saw the quoting differently",
        );
      this.#step(b);
      if (b === NL) {
        this.#newLine();
        if (this.#pendingCopies > 0 && !this.#copy) {
          this.#pendingCopies--;
          this.#copy = true;
          this.#copyCol = 0;
          this.#copyEsc = false;
          this.#copyEnd = 0;
        }
      } else this.#atLineStart = false;
      i++;
    }
    if (this.#state !== "meta" && emitFrom < n) this.push(emitFrom === 0 ? chunk : chunk.subarray(emitFrom));
  }

  /**
   * COPY data: only a line that is exactly `\.` ends it. A backslash must start one of COPY text's
   * escapes (a line psql would read as a command, were it not in COPY, never passes). Returns where SQL resumes.
   */
  #scanCopy(chunk: Buffer, from: number): number {
    let i = from;
    const n = chunk.length;
    while (i < n) {
      const b = chunk[i]!;
      i++;
      if (this.#copyEnd) {
        if (b === NL) {
          this.#line++;
          this.#copy = false;
          this.#atLineStart = true;
          this.#prev = NL;
          if (this.#pendingCopies > 0) {
            this.#pendingCopies--;
            this.#copy = true;
            this.#copyCol = 0;
            this.#copyEsc = false;
            this.#copyEnd = 0;
            continue;
          }
          return i;
        }
        if (b === CR && this.#copyEnd === 1) this.#copyEnd = 2;
        else
          this.#refuse(
            this.#line,
            "COPY data that starts with \\. but goes on (COPY text never writes that)",
          );
        continue;
      }
      if (this.#copyEsc) {
        this.#copyEsc = false;
        if (b === 0x2e && this.#copyCol === 1) this.#copyEnd = 1;
        else if (!COPY_ESCAPES.has(b))
          this.#refuse(
            this.#line,
            `a backslash followed by ${JSON.stringify(String.fromCharCode(b))} in COPY data, which COPY text never writes`,
          );
        this.#copyCol++;
        continue;
      }
      if (b === NL) {
        this.#line++;
        this.#copyCol = 0;
        continue;
      }
      if (b === BACKSLASH) this.#copyEsc = true;
      if (this.#copyCol < 8) this.#copyCol++;
    }
    return n;
  }

  #newLine(): void {
    this.#line++;
    this.#atLineStart = true;
  }

  #token(kind: Token["kind"], text: string, depth = this.#paren): void {
    if (!this.#tokens.length) this.#stmtLine = this.#line;
    if (this.#tokens.length < MAX_TOKENS) this.#tokens.push({ kind, text, depth });
    else this.#truncated = true;
  }

  /** Ends the word or number being read; `next` is the byte that ended it. */
  #endWord(next: number): void {
    const kind = this.#wordKind;
    if (!kind) return;
    const word = this.#word;
    this.#wordKind = "";
    this.#word = "";
    if (kind !== "w") {
      this.#token("n", word);
      return;
    }
    const lower = word.toLowerCase();
    // E'', X'', B'', N'' and U&'' / U&"" are literals to psql, not identifiers
    if (next === 0x27 && ["e", "x", "b", "n"].includes(lower)) return;
    if (next === 0x26 && lower === "u")
      this.#refuse(this.#line, "a U& literal outside quotes (pg_dump writes none)");
    this.#token("w", lower);
    this.#identifier(lower);
  }

  /** psqlscan.l's BEGIN ... END tracking, and the server's BEGIN ATOMIC. */
  #identifier(word: string): void {
    if (this.#identCount === 0) this.#idents = ["", "", "", ""];
    if (["create", "function", "procedure", "or", "replace"].includes(word) && this.#identCount < 4)
      this.#idents[this.#identCount] = word[0]!;
    this.#identCount++;
    const [a, b, c, d] = this.#idents;
    const routine =
      a === "c" && (b === "f" || b === "p" || (b === "o" && c === "r" && (d === "f" || d === "p")));
    if (routine && this.#paren === 0) {
      if (word === "begin") this.#psqlBegin++;
      else if (word === "case") {
        if (this.#psqlBegin >= 1) this.#psqlBegin++;
        if (this.#atomic >= 1) this.#atomic++;
      } else if (word === "end") {
        if (this.#psqlBegin > 0) this.#psqlBegin--;
        if (this.#atomic > 0) this.#atomic--;
      } else if (word === "atomic" && this.#lastWord === "begin" && this.#atomic === 0) this.#atomic = 1;
    }
    this.#lastWord = word;
  }

  #semicolon(): void {
    if (this.#paren > 0) return; // psql: not the end of a statement, whatever the server thinks
    if (this.#psqlBegin > 0 || this.#atomic > 0) {
      if (this.#psqlBegin > 0 && this.#atomic > 0) return; // inside a BEGIN ATOMIC body, for both
      this.#refuse(
        this.#line,
        "a ; that psql and the server would see differently (psql's BEGIN ... END heuristic against BEGIN ATOMIC)",
      );
    }
    this.#endStatement();
  }

  #endStatement(): void {
    const why = statementRefusal(this.#tokens, this.#truncated);
    if (why) this.#refuse(this.#stmtLine, `a statement ${why}`, true);
    const top = this.#tokens.filter((t) => t.depth === 0);
    if (this.#tokens[0]?.kind === "w" && this.#tokens[0].text === "copy") {
      const from = top.findIndex((t) => t.kind === "w" && t.text === "from");
      if (from > 0 && top[from + 1]?.kind === "w" && top[from + 1]?.text === "stdin") this.#pendingCopies++;
    }
    this.#tokens = [];
    this.#truncated = false;
    this.#paren = 0;
    this.#psqlBegin = 0;
    this.#atomic = 0;
    this.#identCount = 0;
    this.#lastWord = "";
  }

  /** One byte of SQL outside COPY data and outside a backslash command. */
  #step(b: number): void {
    const prev = this.#prev;
    switch (this.#state) {
      case "normal": {
        let ended = "";
        if (this.#wordKind) {
          const k = this.#wordKind;
          if (k === "w" && (isIdentByte(b) || b === 0x24)) {
            if (this.#word.length < MAX_TEXT) this.#word += String.fromCharCode(b);
            break;
          }
          if (k !== "w") {
            if (isDigit(b) || (b === 0x2e && k === "n")) {
              this.#wordKind = "n";
              this.#word += String.fromCharCode(b);
              break;
            }
            if (k === "n" && (b === 0x65 || b === 0x45) && !/e/i.test(this.#word)) {
              this.#wordKind = "e";
              this.#word += "e";
              break;
            }
            if (k === "e" && (b === 0x2b || b === 0x2d)) {
              this.#wordKind = "s";
              this.#word += String.fromCharCode(b);
              break;
            }
            if (isIdentByte(b) || k === "e" || k === "s")
              this.#refuse(
                this.#line,
                "a number glued to a word (psql splits those its own way; pg_dump writes none)",
              );
          }
          if (k === "w") ended = this.#word.toLowerCase();
          this.#endWord(b);
        }
        if (b === 0x2d && prev === 0x2d) {
          this.#state = "lineComment";
          this.#untoken("-");
        } else if (b === 0x2a && prev === 0x2f) {
          this.#state = "blockComment";
          this.#blockDepth = 1;
          this.#untoken("/");
          this.#prev = 0;
          return;
        } else if (b === 0x27) {
          this.#state = ended === "e" ? "escape" : "single";
          this.#text = "";
        } else if (b === 0x22) {
          this.#state = "double";
          this.#text = "";
        } else if (b === 0x24) {
          this.#state = "dollarOpen";
          this.#tag = [b];
        } else if (b === 0x3b) {
          this.#semicolon();
        } else if (isIdentStart(b)) {
          this.#wordKind = "w";
          this.#word = String.fromCharCode(b);
        } else if (isDigit(b)) {
          this.#wordKind = "n";
          this.#word = String.fromCharCode(b);
        } else if (b === 0x28) {
          this.#token("p", "(");
          this.#paren++;
        } else if (b === 0x29) {
          if (this.#paren > 0) this.#paren--;
          this.#token("p", ")");
        } else if (b > 0x20 && b < 0x7f) {
          this.#token("p", String.fromCharCode(b));
        }
        break;
      }
      case "single":
      case "escape":
        if (b === 0x27) {
          if (this.#state === "escape") this.#state = "escapeQuote";
          else {
            this.#state = "normal";
            this.#token("s", this.#text);
          }
        } else {
          if (b === BACKSLASH && this.#state === "escape") this.#state = "escapeBackslash";
          if (this.#text.length < MAX_TEXT) this.#text += String.fromCharCode(b);
        }
        break;
      case "escapeBackslash":
        this.#state = "escape";
        if (this.#text.length < MAX_TEXT) this.#text += String.fromCharCode(b);
        break;
      case "escapeQuote":
        if (b === 0x27) this.#state = "escape";
        else {
          this.#state = "normal";
          this.#token("s", this.#text);
          this.#prev = 0;
          this.#step(b);
          return;
        }
        break;
      case "double":
        if (b === 0x22) {
          this.#state = "normal";
          this.#token("q", this.#text);
        } else if (this.#text.length < MAX_TEXT) this.#text += String.fromCharCode(b);
        break;
      case "dollarOpen":
        if (b === 0x24) {
          this.#tag.push(b);
          this.#state = "dollar";
          this.#tagMatch = 0;
          this.#token("s", "$");
        } else if (this.#tag.length === 1 ? isIdentStart(b) : isIdentByte(b)) this.#tag.push(b);
        else {
          // `$1` or `a $ b`: not a dollar quote after all
          this.#state = "normal";
          this.#token("p", "$");
          this.#prev = 0x24;
          this.#step(b);
          return;
        }
        break;
      case "dollar":
        if (b === this.#tag[this.#tagMatch]) {
          this.#tagMatch++;
          if (this.#tagMatch === this.#tag.length) {
            this.#state = "normal";
            this.#prev = 0;
            return;
          }
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
    this.#prev = b;
  }

  /** The `-` or `/` that opened a comment was not a token. */
  #untoken(c: string): void {
    const last = this.#tokens[this.#tokens.length - 1];
    if (last?.kind === "p" && last.text === c) this.#tokens.pop();
  }

  /** A whole backslash line: only the dump's own `\restrict K` / `\unrestrict K` pass (and are dropped). */
  #endMeta(): void {
    const text = Buffer.from(this.#meta).toString("latin1").replace(/\r$/, "");
    this.#state = "normal";
    this.#prev = 0;
    const restrict = /^\\restrict ([A-Za-z0-9]{1,64})\s*$/.exec(text);
    const unrestrict = /^\\unrestrict ([A-Za-z0-9]{1,64})\s*$/.exec(text);
    if (this.#metaAtLineStart && this.#tokens.length === 0 && this.#paren === 0) {
      if (restrict && this.#dumpKey === undefined) {
        this.#dumpKey = restrict[1]!;
        return;
      }
      if (unrestrict && this.#dumpKey === unrestrict[1] && !this.#unrestricted) {
        this.#unrestricted = true;
        return;
      }
    }
    this.#refuseMeta();
  }

  #refuseMeta(): never {
    const name = (/^\\[^\s\\]{0,20}/.exec(Buffer.from(this.#meta).toString("latin1"))?.[0] ?? "\\").replace(
      /[^\x21-\x7e]/g,
      "?",
    );
    const why =
      name === "\\restrict" || name === "\\unrestrict"
        ? "a second or unmatched \\restrict/\\unrestrict (pg_dump writes one pair with one key)"
        : "a psql meta-command outside COPY data, which pg_dump never writes";
    this.#refuse(this.#metaLine, `${name}: ${why}`);
  }

  #refuse(line: number, what: string, statement = false): never {
    this.#onRefuse?.();
    throw new UserError(
      `${this.#file} line ${line} holds ${what}. The backup was refused before psql could ${statement ? "run that statement" : "read it"}; ` +
        "it is not a genuine pg_dump backup (it was altered, or written by something else). Restore another backup",
    );
  }
}
