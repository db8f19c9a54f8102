import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream, constants as fsConstants, type WriteStream } from "node:fs";
import { copyFile, link, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../config/errors.js";

const PARTIAL_MARK = ".partial-";

/** The hidden temporary name a file is written under until it is complete. */
function partialPath(finalPath: string): string {
  const dir = path.dirname(finalPath);
  return path.join(
    dir,
    `.${path.basename(finalPath)}${PARTIAL_MARK}${process.pid}-${randomBytes(4).toString("hex")}`,
  );
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => {}); // some filesystems refuse fsync on directories; the rename is still atomic
  await handle.close();
}

/**
 * Publishes `tempPath` as `finalPath` without ever replacing an existing file: a hard link fails with
 * EEXIST where a rename would silently overwrite an earlier backup.
 */
async function publish(tempPath: string, finalPath: string): Promise<void> {
  try {
    await link(tempPath, finalPath);
    await unlink(tempPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      throw new UserError(`Refusing to overwrite ${finalPath}: a file with that name already exists`, {
        cause: err,
      });
    }
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV") throw err;
    // Filesystems without hard links: check, then rename (a narrow race, but never a torn file).
    if (
      await stat(finalPath).then(
        () => true,
        () => false,
      )
    ) {
      throw new UserError(`Refusing to overwrite ${finalPath}: a file with that name already exists`, {
        cause: err,
      });
    }
    await rename(tempPath, finalPath);
  }
  await fsyncDirectory(path.dirname(finalPath));
}

/**
 * A file that appears under its final name only once it is complete and on disk: written to a hidden
 * temporary name in the same directory, fsynced, then published. Until `commit`, readers see nothing.
 */
export class AtomicFile {
  private constructor(
    readonly finalPath: string,
    readonly tempPath: string,
    readonly stream: WriteStream,
  ) {}

  static async create(finalPath: string, mode = 0o600): Promise<AtomicFile> {
    const tempPath = partialPath(finalPath);
    const stream = createWriteStream(tempPath, { flags: "wx", mode, highWaterMark: 1 << 20 });
    await once(stream, "ready"); // surfaces EACCES, EROFS, ENOENT here rather than mid-pipeline
    return new AtomicFile(finalPath, tempPath, stream);
  }

  /** Flushes to disk and publishes under the final name. Call after the stream has finished. */
  async commit(): Promise<void> {
    if (!this.stream.closed) await once(this.stream, "close");
    // fsync through a fresh descriptor: it flushes the file's data whichever descriptor wrote it.
    const handle = await open(this.tempPath, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await publish(this.tempPath, this.finalPath);
  }

  /** Discards the partial file. Safe to call more than once and after a failed commit. */
  async abort(): Promise<void> {
    if (!this.stream.closed) {
      const closed = once(this.stream, "close").catch(() => {});
      this.stream.destroy();
      await closed;
    }
    await unlink(this.tempPath).catch(() => {});
  }
}

/** Copies a file atomically: to a hidden temporary name, fsynced, then published without clobbering. */
export async function copyFileAtomic(source: string, finalPath: string): Promise<void> {
  const tempPath = partialPath(finalPath);
  try {
    await copyFile(source, tempPath, fsConstants.COPYFILE_EXCL);
    const handle = await open(tempPath, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await publish(tempPath, finalPath);
  } catch (err) {
    await unlink(tempPath).catch(() => {});
    throw err;
  }
}

/** Writes a small file atomically (manifest, checksum sidecar). */
export async function writeFileAtomic(finalPath: string, data: string, mode = 0o600): Promise<void> {
  const tempPath = partialPath(finalPath);
  const handle = await open(tempPath, "wx", mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    await publish(tempPath, finalPath);
  } catch (err) {
    await handle.close().catch(() => {});
    await unlink(tempPath).catch(() => {});
    throw err;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes partial files left by runs that died (SIGKILL, power loss) in `dir`. Files of a process that
 * is still alive are left alone. Returns the names removed.
 */
export async function removeStalePartials(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = new RegExp(`^\\..+${PARTIAL_MARK.replace(".", "\\.")}(\\d+)-[0-9a-f]+$`).exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    await unlink(path.join(dir, name)).then(
      () => removed.push(name),
      () => {},
    );
  }
  return removed;
}

/** Creates a directory (and parents) and proves it writable, turning failures into advice. */
export async function ensureWritableDirectory(dir: string, what: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o750 });
    const probe = await AtomicFile.create(path.join(dir, ".lifeline-write-test"));
    await probe.abort();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UserError(
      `${what} '${dir}' is not writable (${e.code ?? e.message}): create it and give this user write access ` +
        `(e.g. chown -R $(id -un) ${dir}), or point BACKUP_DIR elsewhere`,
      { cause: err },
    );
  }
}
