// A canonical listing of a directory tree, and one SHA-256 over it, for asserting that a backup, a
// copy or a restore equals its source in content and in the metadata a backup must keep.
//
// What a listing line holds: relative path bytes, type, permission bits (mode & 0o7777), uid, gid,
// size (not for directories: a directory's size is an artefact of its filesystem's history), mtime
// to the microsecond, symlink target bytes, the SHA-256 of a regular file's content, the device number
// of a device, and a hard-link group. Left out on purpose, because every faithful copy changes them:
// inode and device numbers, link counts, ctime and atime.
//
// Why microseconds: Node sets times only as fractional seconds (a double, about 0.24 µs apart at
// today's dates; Node 20's libuv even truncates to whole microseconds), so a restore written in
// JavaScript cannot reproduce the nanoseconds that cp -a and rsync keep. Such a restore should aim
// at the middle of the microsecond (add 0.5 µs), or rounding can land it one low, which shows here.
import { createHash } from "node:crypto";
import {
  type BigIntStats,
  closeSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  statSync,
} from "node:fs";

const SLASH = Buffer.from("/");
const READ_CHUNK = 1 << 20;
let readBuffer: Buffer | undefined;

/** An entry met by `walkTree`: its path relative to the root (empty for the root) and its lstat. */
export interface WalkedEntry {
  readonly rel: Buffer;
  readonly full: Buffer;
  readonly stat: BigIntStats;
}

/**
 * Visits every entry below `root` in walk order: each directory's names sorted by bytes, depth first,
 * a directory before its children, the root first (rel empty). Symlinks are never followed, except
 * the root itself when it is one (so `MEDIA_BACKUP_DIR/current/tree` can be passed).
 */
export function walkTree(root: string | Buffer, visit: (entry: WalkedEntry) => void): void {
  const rootBuf = typeof root === "string" ? Buffer.from(root) : root;
  let rootStat: BigIntStats;
  try {
    rootStat = statSync(rootBuf, { bigint: true });
  } catch (error) {
    throw new Error(`Cannot walk the tree ${rootBuf.toString("latin1")}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!rootStat.isDirectory()) {
    throw new Error(`Cannot walk the tree ${rootBuf.toString("latin1")}: it is not a directory`);
  }
  visit({ rel: Buffer.alloc(0), full: rootBuf, stat: rootStat });
  const descend = (dirFull: Buffer, dirRel: Buffer) => {
    const names = readdirSync(dirFull, { encoding: "buffer" }).sort(Buffer.compare);
    for (const name of names) {
      const full = Buffer.concat([dirFull, SLASH, name]);
      const rel = dirRel.length === 0 ? name : Buffer.concat([dirRel, SLASH, name]);
      const stat = lstatSync(full, { bigint: true });
      visit({ rel, full, stat });
      if (stat.isDirectory()) descend(full, rel);
    }
  };
  descend(rootBuf, Buffer.alloc(0));
}

/** Bytes as readable text: printable ASCII stays, everything else (and backslash) becomes \xNN. */
export function escapeBytes(bytes: Buffer): string {
  let out = "";
  for (const b of bytes) {
    out +=
      b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** The SHA-256 (hex) of a regular file's content, read in 1 MiB chunks. */
export function fileSha256(file: string | Buffer): string {
  readBuffer ??= Buffer.allocUnsafe(READ_CHUNK);
  const hash = createHash("sha256");
  const fd = openSync(file, "r");
  try {
    for (;;) {
      const n = readSync(fd, readBuffer, 0, READ_CHUNK, null);
      if (n === 0) break;
      hash.update(readBuffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

function typeOf(stat: BigIntStats): string {
  if (stat.isDirectory()) return "dir";
  if (stat.isFile()) return "file";
  if (stat.isSymbolicLink()) return "symlink";
  if (stat.isFIFO()) return "fifo";
  if (stat.isSocket()) return "socket";
  if (stat.isCharacterDevice()) return "char-device";
  if (stat.isBlockDevice()) return "block-device";
  return "unknown";
}

/** Nanoseconds as "seconds.microseconds" (truncated), the precision the listing compares. */
function microseconds(ns: bigint): string {
  const us = ns / 1000n;
  const sign = us < 0n ? "-" : "";
  const abs = us < 0n ? -us : us;
  return `${sign}${abs / 1_000_000n}.${(abs % 1_000_000n).toString().padStart(6, "0")}`;
}

/**
 * The canonical listing of the tree under `root`: one tab-separated line per entry in walk order, the
 * root first as ".". Entries sharing an inode get `link=<n>`, groups numbered in walk order of their
 * first member; an inode met once in the tree has `link=-` whatever its link count outside.
 */
export function treeListing(root: string | Buffer): string[] {
  const lines: string[] = [];
  const inodeOf = new Map<number, string>();
  const seen = new Map<string, number>();
  walkTree(root, ({ rel, full, stat }) => {
    const type = typeOf(stat);
    const fields = [
      rel.length === 0 ? "." : escapeBytes(rel),
      type,
      `mode=${(Number(stat.mode) & 0o7777).toString(8).padStart(4, "0")}`,
      `uid=${stat.uid}`,
      `gid=${stat.gid}`,
      `size=${type === "dir" ? "-" : stat.size}`,
      `mtime=${microseconds(stat.mtimeNs)}`,
    ];
    if (type === "file") fields.push(`sha256=${fileSha256(full)}`);
    if (type === "symlink") fields.push(`target=${escapeBytes(readlinkSync(full, { encoding: "buffer" }))}`);
    if (type === "char-device" || type === "block-device") fields.push(`rdev=${stat.rdev}`);
    if (type !== "dir" && stat.nlink > 1n) {
      const key = `${stat.dev}:${stat.ino}`;
      inodeOf.set(lines.length, key);
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    lines.push(fields.join("\t"));
  });
  // Second pass: only inodes met at least twice inside the tree form a group.
  const groups = new Map<string, number>();
  return lines.map((line, index) => {
    const key = inodeOf.get(index);
    if (key === undefined || (seen.get(key) ?? 0) < 2) return `${line}\tlink=-`;
    if (!groups.has(key)) groups.set(key, groups.size + 1);
    return `${line}\tlink=${groups.get(key)}`;
  });
}

/** One SHA-256 (hex) over `treeListing(root)`: equal digests mean equal trees, as the listing sees them. */
export function treeDigestSync(root: string | Buffer): string {
  const hash = createHash("sha256");
  for (const line of treeListing(root)) hash.update(`${line}\n`);
  return hash.digest("hex");
}

/** `treeDigestSync` as a promise, for callers that await it. */
export async function treeDigest(root: string | Buffer): Promise<string> {
  return treeDigestSync(root);
}
