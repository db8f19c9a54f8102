import { lstatSync, readlinkSync } from "node:fs";
import path from "node:path";
import type { DataSubset } from "../config/media-config.js";
import { type HashedFile, hashLargeFile, hashSmallFile, SMALL_FILE_BYTES } from "./file-hash.js";
import { ManifestError, ManifestReader, type MediaEntry } from "./manifest.js";
import { compareRelPaths, type RelPath, showPath, toBinary } from "./media-path.js";
import { MANIFEST_FILE, TREE_DIR } from "./snapshot-name.js";
import { readManifestSum, type SnapshotRef } from "./snapshot-store.js";
import { ExcludeRules, isWalkError, TreeWalk, type WalkEntry, type WalkError } from "./tree-walk.js";

/** Problems named per snapshot; the count goes on (a damaged tree can have millions). */
export const MAX_PROBLEMS_KEPT = 50;
/** Inodes remembered as read; past this, shared files are simply read again (memory stays bounded). */
export const MAX_REMEMBERED_INODES = 2_000_000;
const NO_EXCLUDES = new ExcludeRules([]);

/** What verifying one snapshot found. */
export interface MediaSnapshotCheck {
  readonly name: string;
  readonly takenAt: Date;
  readonly ok: boolean;
  /** Each names the snapshot, the path and what is wrong; at most MAX_PROBLEMS_KEPT (see problemCount). */
  readonly problems: readonly string[];
  readonly problemCount: number;
  /** The backup recorded unreadable entries (totals.errors > 0): a failure only for the newest snapshot. */
  readonly incomplete: boolean;
  /** Files whose content was read and hashed. */
  readonly filesChecked: number;
  readonly bytesRead: number;
  /** Files checked for type and size only: outside the subset, or their inode already read in this run. */
  readonly filesNotRead: number;
}

/**
 * Content already read and found as a manifest says, per device: inode → the first 28 bits of that
 * SHA-256. The hash is kept, not only the inode, so that a newer manifest that carries a wrong hash
 * for a linked (shared) file still fails: the inode is skipped only for the hash it was read with.
 */
export class ReadInodes {
  private readonly byDevice = new Map<number, Map<number, number>>();
  private count = 0;

  has(dev: bigint, ino: bigint, sha256: string): boolean {
    return this.byDevice.get(Number(dev))?.get(Number(ino)) === hashKey(sha256);
  }

  add(dev: bigint, ino: bigint, sha256: string): void {
    if (this.count >= MAX_REMEMBERED_INODES || ino > BigInt(Number.MAX_SAFE_INTEGER)) return;
    let inodes = this.byDevice.get(Number(dev));
    if (!inodes) {
      inodes = new Map();
      this.byDevice.set(Number(dev), inodes);
    }
    if (!inodes.has(Number(ino))) this.count++;
    inodes.set(Number(ino), hashKey(sha256));
  }
}

const hashKey = (sha256: string): number => Number.parseInt(sha256.slice(0, 7), 16);

/** What one verify run shares across its snapshots. */
export interface SnapshotVerifyContext {
  readonly subset: DataSubset;
  readonly inodes: ReadInodes;
  /** Yields to the event loop and throws when cancelled, when due (every ~50 ms); undefined when not due. */
  readonly pace: () => Promise<void> | undefined;
  /** Counters the run's progress reports show. */
  readonly progress: { entries: number; bytesRead: number };
}

/** Whether the subset reads this file: a percentage at random, a slice by the first 4 hex digits of its hash. */
export function inSubset(subset: DataSubset, sha256: string): boolean {
  if (subset.kind === "percent") return subset.percent >= 100 || Math.random() * 100 < subset.percent;
  return Number.parseInt(sha256.slice(0, 4), 16) % subset.of === subset.n - 1;
}

/** Types that a snapshot records but never holds in its tree, when the backup skipped or could not read them. */
/** Only a backup run as root stores the source's owners; otherwise the tree's files are the runner's. */
const AS_ROOT = process.getuid?.() === 0;

const neverCopied = (m: MediaEntry): boolean =>
  m.type !== "dir" && (m.state === "skipped" || m.state === "unreadable");

/**
 * Verifies one snapshot: its manifest against the sidecar checksum, and its tree merge-joined against
 * the manifest in one pass in walk order (memory bounded by the largest directory): missing and extra
 * entries, types, sizes, symlink targets, and the SHA-256 of the files in the subset.
 */
export async function verifySnapshot(
  ref: SnapshotRef,
  newest: boolean,
  ctx: SnapshotVerifyContext,
): Promise<MediaSnapshotCheck> {
  const problems: string[] = [];
  let problemCount = 0;
  let failed = false;
  let incomplete = false;
  let filesChecked = 0;
  let filesNotRead = 0;
  let bytesRead = 0;
  const treeDir = path.join(ref.dir, TREE_DIR);
  const tree = toBinary(treeDir);
  const note = (rel: RelPath | undefined, what: string, fails = true) => {
    problemCount++;
    if (fails) failed = true;
    const where = rel === undefined ? ref.name : `${ref.name}/${TREE_DIR}/${rel === "" ? "" : showPath(rel)}`;
    if (problems.length < MAX_PROBLEMS_KEPT) problems.push(`${where}: ${what}`);
  };
  const result = (): MediaSnapshotCheck => ({
    name: ref.name,
    takenAt: ref.takenAt,
    ok: !failed,
    problems,
    problemCount,
    incomplete,
    filesChecked,
    bytesRead,
    filesNotRead,
  });

  let expected: string | undefined;
  try {
    expected = await readManifestSum(ref.dir);
  } catch (err) {
    note(undefined, (err as Error).message); // the tree is still checked against the manifest below
  }
  const file = path.join(ref.dir, MANIFEST_FILE);
  let reader: ManifestReader;
  try {
    reader = ManifestReader.open(file);
  } catch (err) {
    note(
      undefined,
      err instanceof ManifestError
        ? err.message
        : `The manifest ${file} cannot be read: ${(err as Error).message}`,
    );
    return result();
  }

  let walk: Generator<WalkEntry | WalkError> | undefined;
  try {
    // lstat first: walkTree lists its root even when it is a symlink, and a snapshot's tree/ never is one.
    if (lstatSync(treeDir).isDirectory()) walk = new TreeWalk(tree, NO_EXCLUDES).entries();
    else note(undefined, `${treeDir} is not a directory; the snapshot's files are not there`);
  } catch (err) {
    note(undefined, `${treeDir} cannot be read: ${(err as Error).message}`);
  }

  const missing = (m: MediaEntry) => {
    if (!neverCopied(m)) note(m.path, `is in the manifest (${m.type}) but missing from the tree`);
  };

  const readContent = async (w: WalkEntry, m: MediaEntry, size: number) => {
    const rel = w.path;
    const sha256 = m.sha256 as string; // the reader refuses a stored file without one
    if (!inSubset(ctx.subset, sha256)) {
      filesNotRead++;
      return;
    }
    if (ctx.inodes.has(w.stats.dev, w.stats.ino, sha256)) {
      filesNotRead++;
      return;
    }
    let read: HashedFile;
    try {
      read = size <= SMALL_FILE_BYTES ? hashSmallFile(w.at) : await hashLargeFile(w.at, ctx.pace);
    } catch (err) {
      note(rel, `cannot be read: ${(err as Error).message}`);
      return;
    }
    filesChecked++;
    bytesRead += read.bytes;
    ctx.progress.bytesRead += read.bytes;
    if (read.sha256 === sha256) ctx.inodes.add(read.dev, read.ino, sha256);
    else {
      note(
        rel,
        `its content does not match the manifest (sha256 ${read.sha256}, ${read.bytes} bytes; the manifest says ` +
          `${sha256}, ${m.size} bytes): this copy is damaged; restore the file from another snapshot`,
      );
    }
  };

  // `cp -a current/tree/.` restores the tree's own metadata: it must be what the manifest recorded.
  const checkMetadata = (w: WalkEntry, m: MediaEntry) => {
    const mode = Number(w.stats.mode) & 0o7777;
    const octal = (n: number) => n.toString(8).padStart(4, "0");
    if (mode !== m.mode)
      note(w.path, `has mode ${octal(mode)} in the tree; the manifest says ${octal(m.mode)}`);
    const off = w.stats.mtimeNs / 1000n - m.mtimeNs / 1000n;
    // Files only: a directory's mtime moves with any change inside it, named on its own already.
    if (w.type === "file" && (off > 1n || off < -1n)) {
      note(w.path, `has mtime ${w.stats.mtimeNs} ns in the tree; the manifest says ${m.mtimeNs} ns`);
    }
    if (AS_ROOT && (Number(w.stats.uid) !== m.uid || Number(w.stats.gid) !== m.gid)) {
      note(
        w.path,
        `is owned by ${w.stats.uid}:${w.stats.gid} in the tree; the manifest says ${m.uid}:${m.gid}`,
      );
    }
  };

  const compare = async (m: MediaEntry | undefined, w: WalkEntry | WalkError) => {
    if (isWalkError(w)) {
      note(w.path, `cannot be examined in the tree: ${w.error.message}`);
      return;
    }
    if (m === undefined) {
      note(w.path, `is in the tree (${w.type}) but not in the manifest`);
      return;
    }
    if (neverCopied(m)) {
      note(w.path, `is in the tree although the manifest records it as ${m.state} (never copied)`);
      return;
    }
    if (w.type !== m.type) {
      note(w.path, `is a ${w.type} in the tree; the manifest says ${m.type}`);
      return;
    }
    if (w.listError) note(w.path, `the directory cannot be listed: ${w.listError.message}`);
    if (w.type === "file" || w.type === "dir") checkMetadata(w, m);
    if (w.type === "symlink") {
      try {
        const target = readlinkSync(w.at, { encoding: "buffer" }).toString("latin1");
        if (target !== m.target) {
          note(w.path, `points at '${showPath(target)}'; the manifest says '${showPath(m.target ?? "")}'`);
        }
      } catch (err) {
        note(w.path, `cannot be read: ${(err as Error).message}`);
      }
    } else if (w.type === "file") {
      const size = Number(w.stats.size);
      if (size !== m.size) note(w.path, `is ${size} bytes; the manifest says ${m.size}`);
      else await readContent(w, m, size);
    }
  };

  try {
    let entries = 0;
    const next = (): MediaEntry | undefined => {
      const e = reader.next();
      if (e) {
        entries++;
        ctx.progress.entries++;
      }
      return e;
    };
    let m = next();
    for (const w of walk ?? []) {
      const due = ctx.pace();
      if (due) await due;
      while (m && compareRelPaths(m.path, w.path) < 0) {
        missing(m);
        m = next();
      }
      if (m && m.path === w.path) {
        await compare(m, w);
        m = next();
      } else await compare(undefined, w);
    }
    for (; m; m = next()) {
      if (walk) missing(m); // without a tree, one problem says so, not one per entry
      const due = ctx.pace();
      if (due) await due;
    }
    if (expected !== undefined && reader.digest() !== expected) {
      note(
        undefined,
        `The manifest ${file} does not match its checksum (${path.basename(file)}.sha256 says ${expected}): it was ` +
          "changed or damaged after the snapshot was taken; use another snapshot",
      );
    }
    if (reader.header.snapshot !== ref.name) {
      note(
        undefined,
        `The manifest ${file} is the manifest of ${reader.header.snapshot}, not of this snapshot`,
      );
    }
    const { totals } = reader;
    if (totals.entries !== entries) {
      note(undefined, `The manifest ${file} lists ${entries} entries; its totals say ${totals.entries}`);
    }
    if (totals.errors > 0) {
      incomplete = true;
      // An old incomplete snapshot is one retention will remove; only the newest one is the backup that counts.
      note(
        undefined,
        `incomplete: the backup could not read ${totals.errors} entr${totals.errors === 1 ? "y" : "ies"} of the source ` +
          `(named in its manifest and the backup's log)${newest ? "; it is the newest snapshot, so the latest backup is not whole" : "; a newer snapshot supersedes it"}`,
        newest,
      );
    }
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    note(undefined, err.message); // nothing after a line that cannot be trusted is checked
  } finally {
    reader.close();
  }
  return result();
}
