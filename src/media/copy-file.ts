import { createHash } from "node:crypto";
import {
  type BigIntStats,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  openSync,
  read,
  readSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { copyFile } from "node:fs/promises";
import { promisify } from "node:util";
import { throwIfCancelled } from "../shared/errors.js";

/** Files up to this size are copied in one sync read and write; larger ones stream through two buffers. */
export const SMALL_FILE_BYTES = 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** What a copy read: the bytes' SHA-256 and count, and the source's fstat after the last read. */
export interface CopiedFile {
  readonly sha256: string;
  readonly bytes: number;
  readonly after: BigIntStats;
  /** The copy's size differs from the bytes hashed: the source changed while it was copied. */
  readonly torn?: true;
}

/** The metadata a copy gets: the source's permission bits, times and (as root) owner. */
export interface CopyMetadata {
  readonly mode: number;
  readonly atime: number;
  readonly mtime: number;
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * Seconds for utimes from nanoseconds, aimed at the middle of the microsecond: utimes takes a double
 * (about 0.24 µs apart at today's dates), so aiming at the µs boundary itself lands one µs low about
 * half the time. The snapshot and the restore both keep mtimes to the microsecond this way.
 */
export function secondsOf(ns: bigint): number {
  return (Number(ns / 1000n) + 0.5) / 1e6;
}

function applyMetadata(fd: number, meta: CopyMetadata): void {
  if (meta.uid !== undefined && meta.gid !== undefined) fchownSync(fd, meta.uid, meta.gid);
  fchmodSync(fd, meta.mode);
  futimesSync(fd, meta.atime, meta.mtime);
}

/** Opens a file to copy (never following a symlink, never blocking on a FIFO); throws unless it is a regular file. */
export function openSource(src: Buffer): number {
  const fd = openSync(src, READ_FLAGS);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw Object.assign(
      new Error("it was replaced by something that is not a regular file while being copied"),
      {
        code: "ENOTREG",
      },
    );
  }
  return fd;
}

/** Marks an error as the snapshot's (writing the copy), not the source's: a full disk, a path too long. */
function onSnapshotSide(err: unknown): unknown {
  if (err && typeof err === "object") Object.assign(err, { side: "snapshot" });
  return err;
}

/** Whether an error came from writing the copy rather than from reading the source. */
export const isSnapshotSide = (err: unknown): boolean =>
  (err as { side?: string } | undefined)?.side === "snapshot";

/**
 * Copies a small file in one read and one write (sync: a few syscalls cost less than a trip through
 * the thread pool), hashing the bytes read. `src` is a path, or a descriptor from openSource (read from
 * its start, left open). The copy is created exclusively and never left half written.
 */
export function copySmallFile(
  src: Buffer | number,
  dst: Buffer,
  meta: CopyMetadata,
  scratch: Buffer,
): CopiedFile {
  const fd = typeof src === "number" ? src : openSource(src);
  let out: number | undefined;
  try {
    let total = 0;
    const hash = createHash("sha256");
    try {
      out = openSync(dst, WRITE_FLAGS, 0o600);
    } catch (err) {
      throw onSnapshotSide(err);
    }
    for (;;) {
      const n = readSync(fd, scratch, 0, scratch.length, total);
      if (n === 0) break;
      hash.update(scratch.subarray(0, n));
      try {
        let off = 0;
        while (off < n) off += writeSync(out, scratch, off, n - off);
      } catch (err) {
        throw onSnapshotSide(err);
      }
      total += n;
    }
    applyMetadata(out, meta);
    const after = fstatSync(fd, { bigint: true });
    closeSync(out);
    out = undefined;
    return { sha256: hash.digest("hex"), bytes: total, after };
  } catch (err) {
    if (out !== undefined) {
      closeSync(out);
      unlinkSync(dst);
    }
    throw err;
  } finally {
    if (typeof src !== "number") closeSync(fd);
  }
}

const readAt = promisify(read);

/**
 * Copies a large file from a descriptor (openSource; left open): the kernel copies it in the thread
 * pool (copy_file_range, or a clone where the filesystem offers one: btrfs, XFS) while this thread
 * reads the same source for its SHA-256, so the bytes cross user space once and two cores share the
 * work. A copy whose size differs from what was hashed is reported `torn` (the source changed
 * meanwhile); the caller copies it again. The signal is checked between chunks.
 */
export async function copyLargeFile(
  fd: number,
  dst: Buffer,
  meta: CopyMetadata,
  signal?: AbortSignal,
): Promise<CopiedFile> {
  const copying = copyFile(`/proc/self/fd/${fd}`, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  copying.catch(() => {}); // awaited below; a failure meanwhile must not count as unhandled
  let out: number | undefined;
  try {
    const hash = createHash("sha256");
    const size = Math.min(CHUNK_BYTES, fstatSync(fd).size + 1);
    const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
    let which = 0;
    let position = 0;
    let reading = readAt(fd, buffers[0] as Buffer, 0, size, 0);
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      throwIfCancelled(signal, "The media backup was cancelled; the partial snapshot is removed");
      const buf = buffers[which] as Buffer;
      position += bytesRead;
      which ^= 1;
      reading = readAt(fd, buffers[which] as Buffer, 0, size, position);
      reading.catch(() => {});
      hash.update(buf.subarray(0, bytesRead));
    }
    try {
      await copying;
    } catch (err) {
      throw onSnapshotSide(err);
    }
    out = openSync(dst, constants.O_WRONLY);
    const torn = fstatSync(out).size !== position;
    applyMetadata(out, meta);
    const after = fstatSync(fd, { bigint: true });
    closeSync(out);
    out = undefined;
    return { sha256: hash.digest("hex"), bytes: position, after, ...(torn ? { torn } : {}) };
  } catch (err) {
    if (out !== undefined) closeSync(out);
    const made = await copying.then(
      () => true,
      (e: NodeJS.ErrnoException) => e.code !== "EEXIST",
    );
    if (made) {
      try {
        unlinkSync(dst);
      } catch {}
    }
    throw err;
  }
}
