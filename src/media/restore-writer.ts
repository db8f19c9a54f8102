import { createHash } from "node:crypto";
import {
  chmodSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  renameSync,
  symlinkSync,
  unlinkSync,
} from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { throwIfCancelled, UserError } from "../shared/errors.js";
import { type CopyMetadata, copySmallFile, SMALL_FILE_BYTES, secondsOf } from "./copy-file.js";
import type { MediaEntry } from "./manifest.js";
import { fsPath, parentOf, type RelPath, showPath } from "./media-path.js";

const CHUNK_BYTES = 1024 * 1024;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
/** Tries at another temp name when one is taken (a leftover of a killed restore with a recycled pid). */
const TEMP_ATTEMPTS = 5;
const CANCELLED = "The media restore was cancelled; entries already placed stay, no temporary file is left";

const asRoot = process.getuid?.() === 0;

/** The snapshot's metadata for an entry: permission bits, mtime (as atime too) and, as root, owner. */
export function metadataOf(entry: MediaEntry): CopyMetadata {
  const t = secondsOf(entry.mtimeNs);
  return { mode: entry.mode, atime: t, mtime: t, ...(asRoot ? { uid: entry.uid, gid: entry.gid } : {}) };
}

/** Where file contents come from when not from the snapshot's tree: e.g. byte ranges of a bucket's packs. */
export type ContentSource = (entry: MediaEntry, signal: AbortSignal | undefined) => Promise<Readable>;

/** What placing one entry came to: placed, or not placed with why (the rest of the restore goes on). */
export type Placed =
  | { readonly ok: true; readonly bytes: number }
  | { readonly ok: false; readonly why: string };

/**
 * Writes entries into the target without ever writing through a symlink: every entry is made under a
 * hidden temp name in its (verified) directory, created exclusively, and then put in place in one step:
 * link()+unlink() (fails rather than replaces) without overwrite, rename() with it. A temp name is
 * tracked until it is placed or removed, so an error or a cancellation leaves none behind.
 */
export class EntryWriter {
  private seq = 0;
  private readonly pending = new Set<string>();
  private readonly scratch = Buffer.allocUnsafe(SMALL_FILE_BYTES + 1);

  constructor(
    private readonly tree: string, // the snapshot's tree/, binary string
    private readonly target: string, // the target's realpath, binary string
    private readonly overwrite: boolean,
    private readonly signal: AbortSignal | undefined,
    /** Contents from elsewhere (a bucket); the tree is then not read. */
    private readonly content?: ContentSource,
  ) {}

  /** Creates a directory 0700 (its own mode comes after its entries); false when a real one was there. */
  makeDir(rel: RelPath): boolean {
    const dst = fsPath(this.target, rel);
    try {
      mkdirSync(dst, 0o700);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    // mkdir never follows a symlink in the last component; lstat tells what is there instead.
    const st = lstatSync(dst);
    if (!st.isDirectory()) throw notADirectory(rel, this.target);
    return false;
  }

  /** A directory's mode, mtime and owner: after everything inside it was written. */
  finishDir(rel: RelPath, entry: MediaEntry): void {
    const dst = fsPath(this.target, rel);
    const meta = metadataOf(entry);
    if (meta.uid !== undefined && meta.gid !== undefined) lchownSync(dst, meta.uid, meta.gid);
    chmodSync(dst, meta.mode); // dst was made or lstat-checked as a real directory in this run
    lutimesSync(dst, meta.atime, meta.mtime);
  }

  /** Copies a file out of the snapshot, hashing it: placed only when size and SHA-256 match the manifest. */
  async file(entry: MediaEntry): Promise<Placed> {
    const src = fsPath(this.tree, entry.path);
    const meta = metadataOf(entry);
    const content = this.content;
    const temp = await this.withTemp(entry.path, (t) =>
      content
        ? this.copyStream(content(entry, this.signal), t, meta, entry.size)
        : entry.size <= SMALL_FILE_BYTES
          ? copySmallFile(src, t, meta, this.scratch)
          : this.copyLarge(src, t, meta),
    ).catch((err: unknown) => {
      if (isFatal(err)) throw err;
      return { why: `cannot be read from the snapshot: ${(err as Error).message}` };
    });
    if ("why" in temp) return { ok: false, why: temp.why };
    const got = temp.value;
    if (got.bytes !== entry.size || got.sha256 !== entry.sha256) {
      this.discard(temp.path);
      return {
        ok: false,
        why: `its copy in the snapshot is damaged (${got.bytes} bytes, sha256 ${got.sha256}; the manifest says ${entry.size} bytes, ${entry.sha256})`,
      };
    }
    return this.place(temp.path, entry.path, got.bytes);
  }

  /** A second path of an inode restored earlier in this run: a hard link to it, as in the source. */
  async hardLink(entry: MediaEntry, first: RelPath): Promise<Placed> {
    const from = fsPath(this.target, first);
    const temp = await this.withTemp(entry.path, (t) => linkSync(from, t)).catch(notMade("linked"));
    return "why" in temp ? { ok: false, why: temp.why } : this.place(temp.path, entry.path, 0);
  }

  /**
   * A symlink, recreated verbatim: its target bytes as the snapshot has them, absolute or dangling
   * included. It is data and is never followed, neither here nor by anything else this restore does.
   */
  async symlink(entry: MediaEntry): Promise<Placed> {
    const target = Buffer.from(entry.target ?? "", "latin1");
    const meta = metadataOf(entry);
    const temp = await this.withTemp(entry.path, (t) => {
      symlinkSync(target, t);
      if (meta.uid !== undefined && meta.gid !== undefined) lchownSync(t, meta.uid, meta.gid);
      lutimesSync(t, meta.atime, meta.mtime);
    }).catch(notMade("created"));
    return "why" in temp ? { ok: false, why: temp.why } : this.place(temp.path, entry.path, 0);
  }

  /** Removes any temp name still pending (after an error or a cancellation). */
  cleanUp(): void {
    for (const p of this.pending) this.discard(Buffer.from(p, "latin1"));
  }

  private place(temp: Buffer, rel: RelPath, bytes: number): Placed {
    const final = fsPath(this.target, rel);
    try {
      if (this.overwrite) {
        renameSync(temp, final);
        // rename() of two links to one inode does nothing: the temp name would stay.
        if (exists(temp)) this.discard(temp);
        else this.pending.delete(temp.toString("latin1"));
      } else {
        linkSync(temp, final); // EEXIST instead of replacing: nothing existing is ever clobbered
        this.discard(temp);
      }
      return { ok: true, bytes };
    } catch (err) {
      this.discard(temp);
      if (isFatal(err)) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === "EEXIST"
          ? "it appeared in the target while the restore ran; it was left as it is"
          : `it cannot be put in place: ${(err as Error).message}`;
      return { ok: false, why };
    }
  }

  /** Runs `make` on a fresh hidden name in the entry's directory, retrying when the name is taken. */
  private async withTemp<T>(
    rel: RelPath,
    make: (temp: Buffer) => T | Promise<T>,
  ): Promise<{ path: Buffer; value: T }> {
    const dir = parentOf(rel);
    for (let attempt = 1; ; attempt++) {
      const name = `.lifeline-restore-${process.pid}-${++this.seq}`;
      const temp = fsPath(this.target, dir === "" ? name : `${dir}/${name}`);
      const key = temp.toString("latin1");
      this.pending.add(key);
      try {
        return { path: temp, value: await make(temp) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST" && attempt < TEMP_ATTEMPTS) {
          this.pending.delete(key); // someone else's file: never removed by us
          continue;
        }
        if ((err as NodeJS.ErrnoException).code === "EEXIST") this.pending.delete(key);
        else this.discard(temp);
        throw err;
      }
    }
  }

  private discard(temp: Buffer): void {
    try {
      unlinkSync(temp);
    } catch {}
    this.pending.delete(temp.toString("latin1"));
  }

  /** A file from a stream (a download), hashed as it is written; metadata set as for a copy. */
  private async copyStream(
    opened: Promise<Readable>,
    dst: Buffer,
    meta: CopyMetadata,
    size: number,
  ): Promise<{ sha256: string; bytes: number }> {
    const input = await opened;
    try {
      const output = await open(dst, WRITE_FLAGS, 0o600);
      try {
        const hash = createHash("sha256");
        let position = 0;
        for await (const chunk of input as AsyncIterable<Buffer>) {
          throwIfCancelled(this.signal, CANCELLED);
          // More than the manifest's size is never written: a source sending more is damaged or hostile.
          if (position + chunk.length > size)
            throw new Error(`more than the ${size} bytes the manifest records arrived`);
          hash.update(chunk);
          let off = 0;
          while (off < chunk.length) {
            off += (await output.write(chunk, off, chunk.length - off, position + off)).bytesWritten;
          }
          position += chunk.length;
        }
        if (meta.uid !== undefined && meta.gid !== undefined) fchownSync(output.fd, meta.uid, meta.gid);
        fchmodSync(output.fd, meta.mode);
        futimesSync(output.fd, meta.atime, meta.mtime);
        return { sha256: hash.digest("hex"), bytes: position };
      } finally {
        await output.close();
      }
    } finally {
      input.destroy();
    }
  }

  /** A large file in chunks, so a cancellation is seen between them. */
  private async copyLarge(
    src: Buffer,
    dst: Buffer,
    meta: CopyMetadata,
  ): Promise<{ sha256: string; bytes: number }> {
    const input = await open(src, READ_FLAGS);
    try {
      if (!(await input.stat()).isFile()) throw new Error("it is not a regular file in the snapshot");
      const output = await open(dst, WRITE_FLAGS, 0o600);
      try {
        const hash = createHash("sha256");
        const buf = Buffer.allocUnsafe(CHUNK_BYTES);
        let position = 0;
        for (;;) {
          throwIfCancelled(this.signal, CANCELLED);
          const { bytesRead } = await input.read(buf, 0, CHUNK_BYTES, position);
          if (bytesRead === 0) break;
          hash.update(buf.subarray(0, bytesRead));
          let off = 0;
          while (off < bytesRead) {
            off += (await output.write(buf, off, bytesRead - off, position + off)).bytesWritten;
          }
          position += bytesRead;
        }
        if (meta.uid !== undefined && meta.gid !== undefined) fchownSync(output.fd, meta.uid, meta.gid);
        fchmodSync(output.fd, meta.mode);
        futimesSync(output.fd, meta.atime, meta.mtime);
        return { sha256: hash.digest("hex"), bytes: position };
      } finally {
        await output.close();
      }
    } finally {
      await input.close();
    }
  }
}

/** An entry that could not be made under its temp name: that entry fails, unless the error stops the restore. */
function notMade(what: string): (err: unknown) => { why: string } {
  return (err) => {
    if (isFatal(err)) throw err;
    return { why: `it cannot be ${what} in the target: ${(err as Error).message}` };
  };
}

/** The refusal for a non-directory where the snapshot has a directory (a planted symlink, say). */
export function notADirectory(rel: RelPath, target: string): UserError {
  const where = showPath(rel === "" ? target : `${target}/${rel}`);
  return new UserError(
    `${where} exists in the target and is not a directory, where the snapshot has a directory: a restore ` +
      "never writes through a symlink or over a file that stands where a directory goes. Move it away and restore again",
  );
}

function exists(p: Buffer): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Errors that stop the restore (the disk, a cancellation) rather than one entry. */
export function isFatal(err: unknown): boolean {
  if ((err as Error).name === "CancelledError") return true;
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "EROFS" || code === "EIO";
}
