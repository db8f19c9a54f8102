import {
  type BigIntStats,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
} from "node:fs";
import path from "node:path";
import type { EntryType } from "./manifest.js";
import { fsPath, joinRel, type RelPath } from "./media-path.js";

/** One entry met by the walk: its path, what it is and its lstat (never followed). */
export interface WalkEntry {
  readonly path: RelPath;
  readonly type: EntryType;
  readonly stats: BigIntStats;
  /**
   * How to reach the entry without resolving any directory of its path again: through the open
   * descriptor of its parent (/proc/self/fd/N/name). A directory swapped for a symlink after it was
   * listed cannot lead the walk or a copy outside the source.
   */
  readonly at: Buffer;
  /** A directory whose listing failed: its children are unknown (named, and the run exits 1). */
  readonly listError?: Error;
}

/** A path the walk could not lstat (removed since listed, or no permission). */
export interface WalkError {
  readonly path: RelPath;
  readonly error: Error;
}

export function typeOf(stats: BigIntStats): EntryType {
  if (stats.isDirectory()) return "dir";
  if (stats.isFile()) return "file";
  if (stats.isSymbolicLink()) return "symlink";
  if (stats.isFIFO()) return "fifo";
  if (stats.isSocket()) return "socket";
  if (stats.isCharacterDevice()) return "char-device";
  return "block-device";
}

/**
 * Glob patterns a walk leaves out (MEDIA_EXCLUDE): a pattern without "/" matches a name at any depth
 * ("*.tmp", ".cache"), one with "/" the path from the tree's root ("cache/**", "tmp/*.part"). An
 * excluded directory is not descended into.
 */
export class ExcludeRules {
  readonly patterns: readonly string[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.map((p) => p.replace(/^\/+/, "").replace(/\/+$/, "")).filter((p) => p !== "");
  }

  excludes(rel: RelPath): boolean {
    if (this.patterns.length === 0) return false;
    const text = Buffer.from(rel, "latin1").toString("utf8");
    const name = text.slice(text.lastIndexOf("/") + 1);
    return this.patterns.some((p) => path.posix.matchesGlob(p.includes("/") ? text : name, p));
  }
}

interface Frame {
  readonly dir: RelPath;
  readonly names: string[];
  index: number;
  /** The directory's descriptor (undefined without /proc: then paths are resolved from the root). */
  readonly fd: number | undefined;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const HAVE_PROC_FD = existsSync("/proc/self/fd");

/**
 * A depth-first walk in walk order (see compareRelPaths), one directory's names in memory at a time, so
 * memory follows the largest directory rather than the tree. Yields the root first. Each directory is
 * opened (O_NOFOLLOW), checked to be the one listed (same device and inode) and read through its
 * descriptor. Sync: an lstat is a few microseconds, far less than a trip through the thread pool.
 */
export class TreeWalk {
  private readonly stack: Frame[] = [];
  private readonly rootBytes: string;

  constructor(
    root: string,
    private readonly exclude: ExcludeRules,
  ) {
    this.rootBytes = root;
  }

  /** Leaves out the children of `dir`, the directory just yielded (it could not be stored). */
  skipChildrenOf(dir: RelPath): void {
    const top = this.stack[this.stack.length - 1];
    if (top && top.dir === dir) this.pop();
  }

  /** Closes every directory still open (the walk was left early). */
  close(): void {
    while (this.stack.length > 0) this.pop();
  }

  *entries(): Generator<WalkEntry | WalkError> {
    try {
      const rootAt = fsPath(this.rootBytes, "");
      yield this.enter("", rootAt, lstatSync(rootAt, { bigint: true }));
      while (this.stack.length > 0) {
        const frame = this.stack[this.stack.length - 1] as Frame;
        if (frame.index >= frame.names.length) {
          this.pop();
          continue;
        }
        const name = frame.names[frame.index++] as string;
        const rel = joinRel(frame.dir, name);
        if (this.exclude.excludes(rel)) continue;
        const at = this.childPath(frame, name);
        let stats: BigIntStats;
        try {
          stats = lstatSync(at, { bigint: true });
        } catch (err) {
          yield { path: rel, error: err as Error };
          continue;
        }
        const type = typeOf(stats);
        yield type === "dir" ? this.enter(rel, at, stats) : { path: rel, type, stats, at };
      }
    } finally {
      this.close();
    }
  }

  private childPath(frame: Frame, name: string): Buffer {
    return frame.fd === undefined
      ? fsPath(this.rootBytes, joinRel(frame.dir, name))
      : Buffer.from(`/proc/self/fd/${frame.fd}/${name}`, "latin1");
  }

  private enter(dir: RelPath, at: Buffer, stats: BigIntStats): WalkEntry {
    let fd: number | undefined;
    try {
      let listFrom: Buffer | string = at;
      if (HAVE_PROC_FD) {
        fd = openSync(at, DIR_FLAGS);
        const opened = fstatSync(fd, { bigint: true });
        if (opened.ino !== stats.ino || opened.dev !== stats.dev) {
          throw Object.assign(new Error("it was replaced while the backup read it"), { code: "ECHANGED" });
        }
        listFrom = `/proc/self/fd/${fd}`;
      }
      const names = (readdirSync(listFrom, { encoding: "buffer" }) as Buffer[]).map((n) =>
        n.toString("latin1"),
      );
      names.sort();
      this.stack.push({ dir, names, index: 0, fd });
      return { path: dir, type: "dir", stats, at };
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      return { path: dir, type: "dir", stats, at, listError: err as Error };
    }
  }

  private pop(): void {
    const frame = this.stack.pop();
    if (frame?.fd !== undefined) closeSync(frame.fd);
  }
}

export function isWalkError(e: WalkEntry | WalkError): e is WalkError {
  return "error" in e;
}
