import { once } from "node:events";
import { createReadStream } from "node:fs";
import { open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { AtomicFile, ensureWritableDirectory } from "../fs/atomic-file.js";
import type { BackupStore, PutOptions, StoredObject, StreamUpload } from "./store.js";

/**
 * A local directory as a BackupStore: names are file names in it. Uploads appear under their final
 * name only when complete (AtomicFile); hidden files (partials, locks) are never listed.
 */
export class LocalStore implements BackupStore {
  readonly kind = "local" as const;

  constructor(readonly dir: string) {}

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
    const entries = await readdir(this.dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [];
      throw err;
    });
    const out: StoredObject[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || entry.name.startsWith(".")) continue;
      const found = await this.stat(entry.name);
      if (found) out.push(found);
    }
    return out;
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    const s = await stat(this.uri(name)).catch(() => undefined);
    return s?.isFile() ? { name, sizeBytes: s.size, lastModified: s.mtime } : undefined;
  }

  async get(name: string, signal?: AbortSignal): Promise<Readable> {
    const stream = createReadStream(this.uri(name), {
      highWaterMark: 1 << 20,
      ...(signal ? { signal } : {}),
    });
    await once(stream, "open"); // ENOENT and EACCES here, naming the file, rather than mid-pipeline
    return stream;
  }

  async getText(name: string): Promise<string | undefined> {
    return readFile(this.uri(name), "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
  }

  async delete(name: string): Promise<void> {
    await unlink(this.uri(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }
}
