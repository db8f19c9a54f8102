import { createReadStream } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { AtomicFile, ensureWritableDirectory } from "../fs/atomic-file.js";
import {
  listDirectory,
  NotRegularFileError,
  openRegularFile,
  type RegularFileOptions,
  readRegularFile,
  statRegularFile,
} from "../fs/regular-file.js";
import type {
  BackupStore,
  ByteRange,
  GetTextOptions,
  PutOptions,
  StoredObject,
  StreamUpload,
} from "./store.js";

/**
 * A local directory as a BackupStore: names are file names in it. Uploads appear under their final
 * name only when complete (AtomicFile); hidden files (partials, locks) are never listed. Only regular
 * files are objects: anything else under a name (a FIFO, a directory, a symbolic link unless
 * `followSymlinks`) is never opened; `stat` throws NotRegularFileError for it and `listOthers` names it.
 */
export class LocalStore implements BackupStore {
  readonly kind = "local" as const;

  constructor(
    readonly dir: string,
    private readonly options: RegularFileOptions = {},
  ) {}

  get location(): string {
    return `${path.resolve(this.dir)}/`;
  }

  uri(name: string): string {
    return path.join(path.resolve(this.dir), name);
  }

  async preflight(): Promise<void> {
    await ensureWritableDirectory(this.dir, "Backup directory");
  }

  async upload(name: string, options: PutOptions = {}): Promise<StreamUpload> {
    const file = await AtomicFile.create(this.uri(name));
    const abort = async (_reason: Error) => {
      await file.abort();
    };
    options.signal?.addEventListener("abort", () => void abort(new Error("aborted")), { once: true });
    const done = (async () => {
      try {
        // Rejects when the stream is destroyed before it ended (abort): never waits forever.
        await finished(file.stream);
        await file.commit();
      } catch (err) {
        await file.abort();
        throw err;
      }
    })();
    done.catch(() => {}); // observed by the caller through `done`
    return { name, stream: file.stream, done, abort };
  }

  /** Replaces the file atomically (write a hidden temp file, fsync, rename), as a cloud PUT would. */
  async put(name: string, body: string | Buffer): Promise<void> {
    const final = this.uri(name);
    const temp = path.join(this.dir, `.${name}.put-${process.pid}`);
    const handle = await open(temp, "w", 0o600);
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, final).catch(async (err: unknown) => {
      await unlink(temp).catch(() => {});
      throw err;
    });
  }

  /** A local file's checksum lives in its `.sha256` sidecar, written by the caller: nothing to add. */
  async recordChecksum(_name: string, _sha256: string): Promise<void> {}

  async list(): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    for (const name of (await listDirectory(this.dir)).files) {
      if (name.startsWith(".")) continue;
      // Replaced by something else since it was listed: not an object any more.
      const found = await this.stat(name).catch(() => undefined);
      if (found) out.push(found);
    }
    return out;
  }

  /** The entries that are not objects (FIFOs, sockets, directories, symbolic links), with what each is. */
  async listOthers(): Promise<{ name: string; kind: string }[]> {
    return (await listDirectory(this.dir)).others.filter((o) => !o.name.startsWith("."));
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    const s = await statRegularFile(this.uri(name), this.options).catch((err: unknown) => {
      if (err instanceof NotRegularFileError) throw err;
      return undefined; // unreadable metadata (EACCES on the directory): as good as absent
    });
    return s ? { name, sizeBytes: s.size, lastModified: s.mtime } : undefined;
  }

  async get(name: string, signal?: AbortSignal, range?: ByteRange): Promise<Readable> {
    // Opened here: ENOENT, EACCES and a non-regular file name the file, rather than mid-pipeline.
    const handle = await openRegularFile(this.uri(name), this.options);
    return createReadStream(this.uri(name), {
      fd: handle,
      highWaterMark: 1 << 20,
      ...(range ? { start: range.start, end: range.end - 1 } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  async getText(name: string, options: GetTextOptions = {}): Promise<string | undefined> {
    return readRegularFile(this.uri(name), { ...this.options, ...options }).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      },
    );
  }

  /** Removes a file; a directory under the name is never removed (NotRegularFileError names it). */
  async delete(name: string): Promise<void> {
    await unlink(this.uri(name)).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return;
      // unlink(2) refuses a directory with EISDIR (Linux) or EPERM (macOS): say what it is.
      if (err.code === "EISDIR" || err.code === "EPERM") await statRegularFile(this.uri(name));
      throw err;
    });
  }
}
