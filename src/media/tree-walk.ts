import { type BigIntStats, lstatSync, readdirSync } from "node:fs";
import path from "node:path";
import type { EntryType } from "./manifest.js";
import { fsPath, joinRel, type RelPath } from "./media-path.js";

/** One entry met by the walk: its path, what it is and its lstat (never followed). */
export interface WalkEntry {
  readonly path: RelPath;
  readonly type: EntryType;
  readonly stats: BigIntStats;
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
}

/**
 * Walks `root` depth first in walk order (see compareRelPaths), one directory's names in memory at a
 * time, so memory follows the largest directory rather than the tree. Yields the root first. Sync:
 * an lstat is a few microseconds, far less than a trip through the thread pool.
 */
export function* walkTree(root: string, exclude: ExcludeRules): Generator<WalkEntry | WalkError> {
  const rootStats = lstatSync(fsPath(root, ""), { bigint: true });
  const stack: Frame[] = [];
  const enter = (dir: RelPath, stats: BigIntStats): WalkEntry => {
    try {
      const names = (readdirSync(fsPath(root, dir), { encoding: "buffer" }) as Buffer[]).map((n) =>
        n.toString("latin1"),
      );
      names.sort();
      stack.push({ dir, names, index: 0 });
      return { path: dir, type: "dir", stats };
    } catch (err) {
      return { path: dir, type: "dir", stats, listError: err as Error };
    }
  };
  yield enter("", rootStats);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame;
    if (frame.index >= frame.names.length) {
      stack.pop();
      continue;
    }
    const rel = joinRel(frame.dir, frame.names[frame.index++] as string);
    if (exclude.excludes(rel)) continue;
    let stats: BigIntStats;
    try {
      stats = lstatSync(fsPath(root, rel), { bigint: true });
    } catch (err) {
      yield { path: rel, error: err as Error };
      continue;
    }
    const type = typeOf(stats);
    yield type === "dir" ? enter(rel, stats) : { path: rel, type, stats };
  }
}

export function isWalkError(e: WalkEntry | WalkError): e is WalkError {
  return "error" in e;
}
