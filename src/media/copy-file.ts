import { createHash } from "node:crypto";
import {
  type BigIntStats,
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  openSync,
  readSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { open } from "node:fs/promises";

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

function openSource(src: Buffer): number {
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

/**
 * Copies a small file in one read and one write (sync: a few syscalls cost less than a trip through
 * the thread pool), hashing the bytes read. The copy is created exclusively and never left half
 * written: on any error it is removed.
 */
export function copySmallFile(src: Buffer, dst: Buffer, meta: CopyMetadata, scratch: Buffer): CopiedFile {
  const fd = openSource(src);
  let out: number | undefined;
  try {
    let total = 0;
    const hash = createHash("sha256");
    out = openSync(dst, WRITE_FLAGS, 0o600);
    for (;;) {
      const n = readSync(fd, scratch, 0, scratch.length, null);
      if (n === 0) break;
      hash.update(scratch.subarray(0, n));
      let off = 0;
      while (off < n) off += writeSync(out, scratch, off, n - off);
      total += n;
    }
    applyMetadata(out, meta);
    const after = fstatSync(fd, { bigint: true });
    closeSync(out);
    out = undefined;
    return { sha256: createHashHex(hash), bytes: total, after };
  } catch (err) {
    if (out !== undefined) {
      closeSync(out);
      unlinkSync(dst);
    }
    throw err;
  } finally {
    closeSync(fd);
  }
}

const createHashHex = (hash: ReturnType<typeof createHash>): string => hash.digest("hex");

/**
 * Copies a large file through two buffers, so the next read runs in the thread pool while this one is
 * hashed and written. With `reflink`, the copy is first tried as a clone (btrfs, XFS: no bytes moved)
 * and the source is then only read for its hash; `reflink.supported` turns false after one refusal.
 */
export async function copyLargeFile(
  src: Buffer,
  dst: Buffer,
  meta: CopyMetadata,
  reflink: { supported: boolean },
): Promise<CopiedFile> {
  const input = await open(src, READ_FLAGS);
  let output: Awaited<ReturnType<typeof open>> | undefined;
  let cloned = false;
  try {
    if (!(await input.stat()).isFile()) {
      throw Object.assign(
        new Error("it was replaced by something that is not a regular file while being copied"),
        {
          code: "ENOTREG",
        },
      );
    }
    if (reflink.supported) {
      try {
        copyFileSync(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
        cloned = true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") throw err;
        reflink.supported = false; // ext4 and most others: copy the bytes ourselves from now on
      }
    }
    output = await open(dst, cloned ? constants.O_WRONLY : WRITE_FLAGS, 0o600);
    const hash = createHash("sha256");
    const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
    let which = 0;
    let position = 0;
    let writing: Promise<unknown> = Promise.resolve();
    for (;;) {
      const buf = buffers[which] as Buffer;
      const { bytesRead } = await input.read(buf, 0, CHUNK_BYTES, position);
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
    if (cloned) await output.truncate(position); // the source grew or shrank after the clone
    const fd = output.fd;
    applyMetadata(fd, meta);
    const after = await input.stat({ bigint: true });
    await output.close();
    output = undefined;
    return { sha256: hash.digest("hex"), bytes: position, after };
  } catch (err) {
    if (output !== undefined) {
      await output.close().catch(() => {});
    }
    if (output !== undefined || cloned) unlinkSync(dst);
    throw err;
  } finally {
    await input.close();
  }
}

async function writeAll(
  handle: Awaited<ReturnType<typeof open>>,
  buf: Buffer,
  length: number,
  position: number,
): Promise<void> {
  let off = 0;
  while (off < length) {
    const { bytesWritten } = await handle.write(buf, off, length - off, position + off);
    off += bytesWritten;
  }
}
