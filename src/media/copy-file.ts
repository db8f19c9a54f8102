import { createHash } from "node:crypto";
import {
  type BigIntStats,
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  ftruncateSync,
  futimesSync,
  openSync,
  read,
  readSync,
  unlinkSync,
  write,
  writeSync,
} from "node:fs";
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
const writeAt = promisify(write);

/**
 * Copies a large file from a descriptor (openSource; left open) through two buffers, so the next read
 * runs in the thread pool while this one is hashed and written; the signal is checked between chunks.
 * With `reflink`, the copy is first tried as a clone of the descriptor (btrfs, XFS: no bytes moved) and
 * the source is then only read for its hash; `reflink.supported` turns false after one refusal.
 */
export async function copyLargeFile(
  fd: number,
  dst: Buffer,
  meta: CopyMetadata,
  reflink: { supported: boolean },
  signal?: AbortSignal,
): Promise<CopiedFile> {
  let out: number | undefined;
  let cloned = false;
  try {
    if (reflink.supported) {
      try {
        copyFileSync(`/proc/self/fd/${fd}`, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
        cloned = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") throw onSnapshotSide(err);
        reflink.supported = false; // ext4 and most others: copy the bytes ourselves from now on
      }
    }
    try {
      out = openSync(dst, cloned ? constants.O_WRONLY : WRITE_FLAGS, 0o600);
    } catch (err) {
      throw onSnapshotSide(err);
    }
    const output = out;
    const hash = createHash("sha256");
    const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
    let which = 0;
    let position = 0;
    let writing: Promise<unknown> = Promise.resolve();
    for (;;) {
      throwIfCancelled(signal, "The media backup was cancelled; the partial snapshot is removed");
      const buf = buffers[which] as Buffer;
      const { bytesRead } = await readAt(fd, buf, 0, CHUNK_BYTES, position);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      await writing; // the other buffer's write is done before that buffer is read into again
      if (!cloned) {
        writing = writeAll(output, buf, bytesRead, position);
        // Awaited before the next write; until then a failure (ENOSPC) must not count as unhandled.
        writing.catch(() => {});
      }
      position += bytesRead;
      which ^= 1;
    }
    await writing;
    if (cloned) ftruncateSync(output, position); // the source grew or shrank after the clone
    applyMetadata(output, meta);
    const after = fstatSync(fd, { bigint: true });
    closeSync(output);
    out = undefined;
    return { sha256: hash.digest("hex"), bytes: position, after };
  } catch (err) {
    if (out !== undefined) closeSync(out);
    if (out !== undefined || cloned) unlinkSync(dst);
    throw err;
  }
}

async function writeAll(fd: number, buf: Buffer, length: number, position: number): Promise<void> {
  try {
    let off = 0;
    while (off < length) off += (await writeAt(fd, buf, off, length - off, position + off)).bytesWritten;
  } catch (err) {
    throw onSnapshotSide(err);
  }
}
