import { constants, type Dirent, type Stats } from "node:fs";
import { type FileHandle, lstat, open, readdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { UserError } from "../shared/errors.js";

/**
 * The one way Lifeline opens a file it finds in a backup directory. Only regular files are read:
 * opening a FIFO waits for a writer forever (in a thread no signal reaches), a device may do anything,
 * and a symbolic link points outside what Lifeline manages. Symbolic links are not followed there
 * (Lifeline never writes one); an operator's explicit `--backup-file` path may be one (`followSymlinks`).
 */
export interface RegularFileOptions {
  /** Follow a symbolic link (its target must still be a regular file). Default false. */
  readonly followSymlinks?: boolean;
}

/** What a directory entry is, in words for a message: "a FIFO (named pipe)", "a directory", ... */
export function kindOf(entry: Stats | Dirent): string {
  if (entry.isFile()) return "a regular file";
  if (entry.isFIFO()) return "a FIFO (named pipe)";
  if (entry.isSymbolicLink()) return "a symbolic link";
  if (entry.isDirectory()) return "a directory";
  if (entry.isSocket()) return "a socket";
  if (entry.isCharacterDevice()) return "a character device";
  if (entry.isBlockDevice()) return "a block device";
  return "not a regular file";
}

/** Something that is not a regular file where Lifeline expected one; it was not opened. */
export class NotRegularFileError extends UserError {
  override readonly name = "NotRegularFileError";

  constructor(
    readonly file: string,
    readonly kind: string,
  ) {
    super(
      `${file} is ${kind}, not a regular file: Lifeline reads only regular files in a backup directory` +
        (kind === "a symbolic link"
          ? " and does not follow links there; put the file itself in its place"
          : "; remove it or put the real file in its place"),
    );
  }
}

const isMissing = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
};

/**
 * What is at `file`: undefined when nothing is; throws NotRegularFileError when it is anything but a
 * regular file (a symbolic link unless `followSymlinks`). Never opens it.
 */
export async function statRegularFile(
  file: string,
  options: RegularFileOptions = {},
): Promise<Stats | undefined> {
  let found: Stats;
  try {
    found = await (options.followSymlinks ? stat : lstat)(file);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  if (!found.isFile()) throw new NotRegularFileError(file, kindOf(found));
  return found;
}

/**
 * Opens a regular file for reading. It is judged before it is opened (lstat), then opened without
 * following a link and without blocking (a FIFO swapped in meanwhile opens at once instead of
 * waiting for a writer), and judged again on the open descriptor, which closes the race.
 * Throws ENOENT when it does not exist, NotRegularFileError when it is not a regular file.
 */
export async function openRegularFile(file: string, options: RegularFileOptions = {}): Promise<FileHandle> {
  const before = await statRegularFile(file, options);
  if (!before) {
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), {
      code: "ENOENT",
      path: file,
    });
  }
  const flags =
    constants.O_RDONLY | constants.O_NONBLOCK | (options.followSymlinks ? 0 : constants.O_NOFOLLOW);
  let handle: FileHandle;
  try {
    handle = await open(file, flags);
  } catch (err) {
    // ELOOP: it became a link; ENXIO: it became a socket. Name what it is now.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "ENXIO") {
      const now = await lstat(file).catch(() => undefined);
      if (now && !now.isFile()) throw new NotRegularFileError(file, kindOf(now));
    }
    throw err;
  }
  const opened = await handle.stat();
  if (!opened.isFile()) {
    await handle.close();
    throw new NotRegularFileError(file, kindOf(opened));
  }
  return handle;
}

/** How much of a file `readRegularFile` reads. */
export interface ReadRegularFileOptions extends RegularFileOptions {
  /**
   * Read at most this many bytes plus one from the opened descriptor, however large the file has
   * become since it was listed: more than `maxBytes` bytes in the result means "too large".
   */
  readonly maxBytes?: number;
}

/** Reads a small regular file as UTF-8 (a sidecar, a manifest, a lock), whole or bounded. See `openRegularFile`. */
export async function readRegularFile(file: string, options: ReadRegularFileOptions = {}): Promise<string> {
  const handle = await openRegularFile(file, options);
  try {
    if (options.maxBytes === undefined) return await handle.readFile("utf8");
    // In chunks, so a 64 MiB bound does not allocate 64 MiB for a 200-byte manifest.
    const limit = options.maxBytes + 1;
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < limit) {
      const chunk = Buffer.alloc(Math.min(limit - total, 1 << 16));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, total);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
    }
    return Buffer.concat(chunks, total).toString("utf8");
  } finally {
    await handle.close();
  }
}

/** A directory's entries split into regular files and everything else (never followed, never opened). */
export interface DirectoryListing {
  readonly files: readonly string[];
  /** FIFOs, sockets, devices, directories and symbolic links, with what each is. */
  readonly others: readonly { readonly name: string; readonly kind: string }[];
}

/** A directory Lifeline lists (a tier of BACKUP_DIR, or BACKUP_DIR itself) that is something else. */
export class NotDirectoryError extends UserError {
  override readonly name = "NotDirectoryError";

  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(
      `${path} is ${kind}, not a directory: Lifeline keeps each tier (daily, weekly, monthly) in a directory ` +
        "of BACKUP_DIR; move the file away",
    );
  }
}

/** The path at or above `dir` that exists but is no directory (what made a listing fail with ENOTDIR). */
async function notDirectoryAt(dir: string): Promise<{ path: string; kind: string }> {
  for (let at = dir; ; at = dirname(at)) {
    const found = await lstat(at).catch(() => undefined);
    if (found && !found.isDirectory()) return { path: at, kind: kindOf(found) };
    if (dirname(at) === at) return { path: dir, kind: "not a directory" };
  }
}

/**
 * Lists a directory without opening anything in it; a missing directory lists empty. One that is a
 * file (or under a file) throws NotDirectoryError naming it.
 */
export async function listDirectory(dir: string): Promise<DirectoryListing> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { files: [], others: [] };
    if (code === "ENOTDIR") {
      const at = await notDirectoryAt(dir);
      throw new NotDirectoryError(at.path, at.kind);
    }
    throw err;
  }
  const files: string[] = [];
  const others: { name: string; kind: string }[] = [];
  for (const entry of entries) {
    if (entry.isFile()) files.push(entry.name);
    else others.push({ name: entry.name, kind: kindOf(entry) });
  }
  return { files, others };
}
