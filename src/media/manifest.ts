import { createHash, type Hash } from "node:crypto";
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";
import { UserError } from "../shared/errors.js";
import { compareRelPaths, isUtf8, parentOf, type RelPath, relPathProblem, showPath } from "./media-path.js";

export const MANIFEST_FORMAT = "lifeline-media-manifest";
export const MANIFEST_VERSION = 1;
/** A line longer than this is not one a snapshot writes (two 4 KiB paths in base64 fit many times). */
export const MAX_MANIFEST_LINE_BYTES = 1024 * 1024;
const WRITE_BUFFER_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

export const ENTRY_TYPES = [
  "dir",
  "file",
  "symlink",
  "fifo",
  "socket",
  "char-device",
  "block-device",
] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];
/** skipped: a socket, FIFO or device (never copied); unreadable: named, not in the tree; changed-during-backup: copied twice, changed both times. */
export const ENTRY_STATES = ["skipped", "unreadable", "changed-during-backup"] as const;
export type EntryState = (typeof ENTRY_STATES)[number];

/** One entry of a snapshot: what the source held at that path when it was copied. */
export interface MediaEntry {
  readonly path: RelPath;
  readonly type: EntryType;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtimeNs: bigint;
  /** The source's ctime and inode: with size and mtime, what says a file is unchanged since the last snapshot. */
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly sha256?: string;
  /** A symlink's target bytes (binary string), never followed. */
  readonly target?: RelPath;
  /** An earlier file of this snapshot that is the same inode (a hard link in the source). */
  readonly linkTo?: RelPath;
  readonly state?: EntryState;
  readonly error?: string;
}

export interface ManifestHeader {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: typeof MANIFEST_VERSION;
  readonly snapshot: string;
  readonly source: string;
  readonly createdAt: string;
  readonly tool: string;
  readonly mode: "incremental" | "full";
  readonly previous: string | null;
}

export interface ManifestTotals {
  readonly entries: number;
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  /** Bytes of every file in the snapshot. */
  readonly bytes: number;
  readonly newFiles: number;
  readonly changedFiles: number;
  readonly unchangedFiles: number;
  readonly deletedFiles: number;
  readonly bytesCopied: number;
  readonly bytesLinked: number;
  readonly errors: number;
  readonly skipped: number;
  readonly changedDuringBackup: number;
}

const TOTAL_KEYS: readonly (keyof ManifestTotals)[] = [
  "entries",
  "files",
  "dirs",
  "symlinks",
  "bytes",
  "newFiles",
  "changedFiles",
  "unchangedFiles",
  "deletedFiles",
  "bytesCopied",
  "bytesLinked",
  "errors",
  "skipped",
  "changedDuringBackup",
];

/** A manifest that cannot be trusted: names the file, the line and what was wrong. */
export class ManifestError extends UserError {
  override readonly name = "ManifestError";
}

function pathField(key: "path" | "target" | "linkTo", rel: RelPath): Record<string, string> {
  if (key === "path" && rel === "") return { path: "." };
  return isUtf8(rel)
    ? { [key]: Buffer.from(rel, "latin1").toString("utf8") }
    : { [`${key}B64`]: Buffer.from(rel, "latin1").toString("base64") };
}

/** One entry as its manifest line (without the newline). */
export function encodeEntry(e: MediaEntry): string {
  return JSON.stringify({
    ...pathField("path", e.path),
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size: e.size,
    mtimeNs: e.mtimeNs.toString(),
    ctimeNs: e.ctimeNs.toString(),
    ino: e.ino.toString(),
    ...(e.sha256 === undefined ? {} : { sha256: e.sha256 }),
    ...(e.target === undefined ? {} : pathField("target", e.target)),
    ...(e.linkTo === undefined ? {} : pathField("linkTo", e.linkTo)),
    ...(e.state === undefined ? {} : { state: e.state }),
    ...(e.error === undefined ? {} : { error: e.error }),
  });
}

/** Writes a manifest as the snapshot is built, in buffered sync writes, hashing what it writes. */
export class ManifestWriter {
  private readonly hash: Hash = createHash("sha256");
  private buffered: string[] = [];
  private bufferedBytes = 0;
  private bytes = 0;

  private constructor(
    private readonly fd: number,
    readonly file: string,
  ) {}

  static create(file: string, header: ManifestHeader): ManifestWriter {
    const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    const writer = new ManifestWriter(fd, file);
    writer.line(JSON.stringify(header));
    return writer;
  }

  add(entry: MediaEntry): void {
    this.line(encodeEntry(entry));
  }

  /** Writes the totals, flushes and fsyncs; returns the manifest's SHA-256 and size. */
  finish(totals: ManifestTotals): { sha256: string; bytes: number } {
    this.line(JSON.stringify({ totals }));
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    return { sha256: this.hash.digest("hex"), bytes: this.bytes };
  }

  /** Closes without finishing (a failed run: the partial snapshot is removed). */
  abandon(): void {
    try {
      closeSync(this.fd);
    } catch {}
  }

  private line(text: string): void {
    this.buffered.push(text, "\n");
    this.bufferedBytes += text.length + 1;
    if (this.bufferedBytes >= WRITE_BUFFER_BYTES) this.flush();
  }

  private flush(): void {
    if (this.buffered.length === 0) return;
    const chunk = Buffer.from(this.buffered.join(""), "utf8");
    this.buffered = [];
    this.bufferedBytes = 0;
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    this.bytes += chunk.length;
  }
}

/**
 * Reads a manifest line by line in bounded memory, refusing anything a snapshot does not write:
 * unsafe paths, entries out of walk order or outside a directory listed before them, unknown types.
 * A tampered manifest fails here, before a restore writes or a backup links anything from it.
 */
export class ManifestReader {
  readonly header: ManifestHeader;
  private readonly hash: Hash = createHash("sha256");
  private chunk = Buffer.alloc(0);
  private offset = 0;
  private eof = false;
  private lineNo = 0;
  private previous: RelPath | undefined;
  private readonly dirs: RelPath[] = [];
  private done = false;
  private totalsRead: ManifestTotals | undefined;

  private constructor(
    private readonly fd: number,
    readonly file: string,
  ) {
    const first = this.nextLine();
    if (first === undefined) throw this.fail("it is empty");
    this.header = this.parseHeader(first);
  }

  static open(file: string): ManifestReader {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) throw new ManifestError(`${file} is not a regular file`);
      return new ManifestReader(fd, file);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** The next entry, or undefined after the last (then `totals` and `sha256` are known). */
  next(): MediaEntry | undefined {
    if (this.done) return undefined;
    const line = this.nextLine();
    if (line === undefined) throw this.fail("it ends without its totals line (the manifest is cut short)");
    const obj = this.parseJson(line);
    if ("totals" in obj) {
      this.totalsRead = this.parseTotals(obj.totals);
      if (this.nextLine() !== undefined) throw this.fail("there are lines after the totals");
      this.done = true;
      return undefined;
    }
    const entry = this.parseEntry(obj);
    this.checkPlace(entry);
    return entry;
  }

  /** The trailer's totals; only after `next()` returned undefined. */
  get totals(): ManifestTotals {
    if (!this.totalsRead) throw new Error("ManifestReader.totals read before the end");
    return this.totalsRead;
  }

  /** The SHA-256 of every byte read; the whole manifest's once `next()` returned undefined. */
  digest(): string {
    return this.hash.digest("hex");
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {}
  }

  private fail(what: string): ManifestError {
    const where = this.lineNo > 0 ? ` line ${this.lineNo}` : "";
    return new ManifestError(
      `Manifest ${this.file}${where} cannot be trusted: ${what}. The snapshot may have been tampered with or ` +
        "cut short; verify it (lifeline verify --media) and use another snapshot",
    );
  }

  private nextLine(): string | undefined {
    for (;;) {
      const nl = this.chunk.indexOf(0x0a, this.offset);
      if (nl >= 0) {
        const line = this.chunk.subarray(this.offset, nl);
        this.offset = nl + 1;
        this.lineNo++;
        return line.toString("utf8");
      }
      if (this.chunk.length - this.offset > MAX_MANIFEST_LINE_BYTES) {
        this.lineNo++;
        throw this.fail(`a line is longer than ${MAX_MANIFEST_LINE_BYTES} bytes`);
      }
      if (this.eof) {
        if (this.offset < this.chunk.length) {
          this.lineNo++;
          throw this.fail("its last line has no newline (the manifest is cut short)");
        }
        return undefined;
      }
      const rest = this.chunk.subarray(this.offset);
      const buf = Buffer.allocUnsafe(rest.length + READ_CHUNK_BYTES);
      rest.copy(buf);
      const n = readSync(this.fd, buf, rest.length, READ_CHUNK_BYTES, null);
      if (n === 0) this.eof = true;
      else this.hash.update(buf.subarray(rest.length, rest.length + n));
      this.chunk = buf.subarray(0, rest.length + n);
      this.offset = 0;
    }
  }

  private parseJson(line: string): Record<string, unknown> {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw this.fail("a line is not JSON");
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw this.fail("a line is not a JSON object");
    }
    return value as Record<string, unknown>;
  }

  private parseHeader(line: string): ManifestHeader {
    const h = this.parseJson(line);
    if (h.format !== MANIFEST_FORMAT) throw this.fail(`its first line is not a ${MANIFEST_FORMAT} header`);
    if (h.version !== MANIFEST_VERSION) {
      throw this.fail(`it is version ${String(h.version)}; this Lifeline reads version ${MANIFEST_VERSION}`);
    }
    for (const key of ["snapshot", "source", "createdAt", "tool"]) {
      if (typeof h[key] !== "string") throw this.fail(`its header has no '${key}'`);
    }
    if (h.mode !== "incremental" && h.mode !== "full") throw this.fail("its header has no valid 'mode'");
    if (h.previous !== null && typeof h.previous !== "string")
      throw this.fail("its header's 'previous' is invalid");
    return h as unknown as ManifestHeader;
  }

  private parseTotals(value: unknown): ManifestTotals {
    if (typeof value !== "object" || value === null) throw this.fail("its totals are not an object");
    const t = value as Record<string, unknown>;
    for (const key of TOTAL_KEYS) {
      if (!Number.isSafeInteger(t[key]) || (t[key] as number) < 0)
        throw this.fail(`its totals' '${key}' is invalid`);
    }
    return t as unknown as ManifestTotals;
  }

  private pathOf(obj: Record<string, unknown>, key: "path" | "target" | "linkTo"): RelPath | undefined {
    const text = obj[key];
    const b64 = obj[`${key}B64`];
    if (typeof text === "string") return Buffer.from(text, "utf8").toString("latin1");
    if (typeof b64 === "string") {
      const bytes = Buffer.from(b64, "base64");
      // Canonical only: one spelling per name, so two entries cannot be the same bytes in disguise.
      if (bytes.toString("base64") !== b64) throw this.fail(`'${key}B64' is not canonical base64`);
      return bytes.toString("latin1");
    }
    if (text !== undefined || b64 !== undefined) throw this.fail(`'${key}' is not a string`);
    return undefined;
  }

  private integer(obj: Record<string, unknown>, key: string): number {
    const v = obj[key];
    if (!Number.isSafeInteger(v) || (v as number) < 0)
      throw this.fail(`'${key}' is not a non-negative integer`);
    return v as number;
  }

  private bigint(obj: Record<string, unknown>, key: string): bigint {
    const v = obj[key];
    if (typeof v !== "string" || !/^-?\d{1,25}$/.test(v))
      throw this.fail(`'${key}' is not an integer string`);
    return BigInt(v);
  }

  private parseEntry(obj: Record<string, unknown>): MediaEntry {
    const raw = this.pathOf(obj, "path");
    if (raw === undefined) throw this.fail("an entry has no 'path'");
    const path = raw === "." ? "" : raw;
    if (path !== "") {
      const problem = relPathProblem(path);
      if (problem) throw this.fail(`the path '${showPath(path)}' is unsafe: ${problem}`);
    }
    const type = obj.type as EntryType;
    if (!ENTRY_TYPES.includes(type)) throw this.fail(`'${showPath(path)}' has an unknown type`);
    const state = obj.state as EntryState | undefined;
    if (state !== undefined && !ENTRY_STATES.includes(state))
      throw this.fail(`'${showPath(path)}' has an unknown state`);
    const mode = this.integer(obj, "mode");
    if (mode > 0o7777) throw this.fail(`'${showPath(path)}' has an invalid mode`);
    const sha256 = obj.sha256;
    if (sha256 !== undefined && (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256))) {
      throw this.fail(`'${showPath(path)}' has an invalid sha256`);
    }
    const stored = type === "file" && state !== "unreadable";
    if (stored && sha256 === undefined) throw this.fail(`the file '${showPath(path)}' has no sha256`);
    const target = this.pathOf(obj, "target");
    if (type === "symlink" && (target === undefined || target === "" || target.includes("\0"))) {
      throw this.fail(`the symlink '${showPath(path)}' has no valid target`);
    }
    const linkTo = this.pathOf(obj, "linkTo");
    if (linkTo !== undefined) {
      const problem = relPathProblem(linkTo);
      if (type !== "file" || problem || compareRelPaths(linkTo, path) >= 0) {
        throw this.fail(`'${showPath(path)}' has a linkTo that is not an earlier file of the snapshot`);
      }
    }
    const error = obj.error;
    if (error !== undefined && typeof error !== "string")
      throw this.fail(`'${showPath(path)}' has an invalid error`);
    return {
      path,
      type,
      mode,
      uid: this.integer(obj, "uid"),
      gid: this.integer(obj, "gid"),
      size: this.integer(obj, "size"),
      mtimeNs: this.bigint(obj, "mtimeNs"),
      ctimeNs: this.bigint(obj, "ctimeNs"),
      ino: this.bigint(obj, "ino"),
      ...(sha256 === undefined ? {} : { sha256: sha256 as string }),
      ...(type === "symlink" ? { target } : {}),
      ...(linkTo === undefined ? {} : { linkTo }),
      ...(state === undefined ? {} : { state }),
      ...(error === undefined ? {} : { error: error as string }),
    };
  }

  /** Walk order, and every entry inside a directory listed before it: the root first, as a directory. */
  private checkPlace(entry: MediaEntry): void {
    if (this.previous === undefined) {
      if (entry.path !== "" || entry.type !== "dir")
        throw this.fail("its first entry is not the root directory");
    } else {
      if (compareRelPaths(this.previous, entry.path) >= 0) {
        throw this.fail(`'${showPath(entry.path)}' is out of order or listed twice`);
      }
      const parent = parentOf(entry.path);
      while (this.dirs.length > 0 && this.dirs[this.dirs.length - 1] !== parent) this.dirs.pop();
      if (this.dirs.length === 0) {
        throw this.fail(`'${showPath(entry.path)}' is not inside a directory listed before it`);
      }
    }
    if (entry.type === "dir") this.dirs.push(entry.path);
    this.previous = entry.path;
  }
}
