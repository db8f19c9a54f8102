import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";

import { SMALL_FILE_BYTES } from "./copy-file.js";

/** Files up to SMALL_FILE_BYTES are hashed in sync reads; larger ones in async reads, two buffers in turn. */
export { SMALL_FILE_BYTES };

const CHUNK_BYTES = 1024 * 1024;
/** Never through a symlink, and never blocked on a FIFO put in a file's place. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** What reading a file found: its SHA-256, its length, and the inode that was read. */
export interface HashedFile {
  readonly sha256: string;
  readonly bytes: number;
  readonly dev: bigint;
  readonly ino: bigint;
}

function openRegular(file: Buffer): number {
  const fd = openSync(file, READ_FLAGS);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new Error("it is no longer a regular file");
  }
  return fd;
}

const scratch = Buffer.allocUnsafe(CHUNK_BYTES);

/** Sync: for a small file a few syscalls cost less than trips through the thread pool. */
export function hashSmallFile(file: Buffer): HashedFile {
  const fd = openRegular(file);
  try {
    const hash = createHash("sha256");
    let bytes = 0;
    for (
      let n = readSync(fd, scratch, 0, CHUNK_BYTES, null);
      n > 0;
      n = readSync(fd, scratch, 0, CHUNK_BYTES, null)
    ) {
      hash.update(scratch.subarray(0, n));
      bytes += n;
    }
    const st = fstatSync(fd, { bigint: true });
    return { sha256: hash.digest("hex"), bytes, dev: st.dev, ino: st.ino };
  } finally {
    closeSync(fd);
  }
}

/** Async, the next chunk read while this one is hashed; cancellation is seen between chunks. */
export async function hashLargeFile(
  file: Buffer,
  pace: () => Promise<void> | undefined,
): Promise<HashedFile> {
  const handle = await open(file, READ_FLAGS);
  const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
  let pending: ReturnType<typeof handle.read> | undefined;
  try {
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) throw new Error("it is no longer a regular file");
    const hash = createHash("sha256");
    let which = 0;
    let position = 0;
    pending = handle.read(buffers[0] as Buffer, 0, CHUNK_BYTES, 0);
    for (;;) {
      const { bytesRead } = await pending;
      pending = undefined;
      if (bytesRead === 0) break;
      const buf = buffers[which] as Buffer;
      position += bytesRead;
      which ^= 1;
      pending = handle.read(buffers[which] as Buffer, 0, CHUNK_BYTES, position);
      pending.catch(() => {}); // awaited next round; a failure meanwhile must not count as unhandled
      hash.update(buf.subarray(0, bytesRead));
      const due = pace();
      if (due) await due;
    }
    return { sha256: hash.digest("hex"), bytes: position, dev: st.dev, ino: st.ino };
  } finally {
    await pending?.catch(() => {}); // a read still in flight owns a buffer and the descriptor
    await handle.close();
  }
}
