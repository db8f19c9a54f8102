import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream, constants as fsConstants, type WriteStream } from "node:fs";
import { copyFile, link, lstat, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../shared/errors.js";
import { describeWriteFailure } from "../shared/write-failure.js";

const PARTIAL_MARK = ".partial-";
/** Random hex characters in a partial name, and the widest pid Linux hands out (pid_max ≤ 2^22). */
const PARTIAL_RANDOM_BYTES = 4;
const PID_DIGITS_MAX = 7;

/** The longest name `partialPath` can give a file named `fileName` (its pid at the widest). */
export function partialNameLength(fileName: string): number {
  return (
    1 + Buffer.byteLength(fileName) + PARTIAL_MARK.length + PID_DIGITS_MAX + 1 + 2 * PARTIAL_RANDOM_BYTES
  );
}

/** A file could not be published because its final name is taken; nothing was overwritten. */
export class NameTakenError extends UserError {
  override readonly name = "NameTakenError";
}

/** The hidden temporary name a file is written under until it is complete. */
function partialPath(finalPath: string): string {
  const dir = path.dirname(finalPath);
  return path.join(
    dir,
    `.${path.basename(finalPath)}${PARTIAL_MARK}${process.pid}-${randomBytes(PARTIAL_RANDOM_BYTES).toString("hex")}`,
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
      throw new NameTakenError(`Refusing to overwrite ${finalPath}: a file with that name already exists`, {
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
      throw new NameTakenError(`Refusing to overwrite ${finalPath}: a file with that name already exists`, {
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
    await this.sync();
    await this.publish();
  }

  /** Flushes the finished file to disk, still under its hidden name. */
  async sync(): Promise<void> {
    if (!this.stream.closed) await once(this.stream, "close");
    // fsync through a fresh descriptor: it flushes the file's data whichever descriptor wrote it.
    const handle = await open(this.tempPath, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Publishes the synced file under its final name, never over an existing file (NameTakenError). */
  async publish(): Promise<void> {
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

/** A small file written and synced under its hidden name, not yet published. */
export interface StagedFile {
  readonly tempPath: string;
  readonly finalPath: string;
}

/**
 * Writes a small file under a hidden temporary name and syncs it, ready to be published. A full disk,
 * quota, read-only filesystem or missing permission is explained naming the directory; nothing is left.
 */
export async function stageFile(finalPath: string, data: string, mode = 0o600): Promise<StagedFile> {
  const tempPath = partialPath(finalPath);
  const dir = path.dirname(finalPath);
  try {
    const handle = await open(tempPath, "wx", mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    await unlink(tempPath).catch(() => {});
    throw describeWriteFailure(err, `'${dir}'`, dir, path.basename(finalPath));
  }
  return { tempPath, finalPath };
}

/** Writes a small file atomically (manifest, checksum sidecar). */
export async function writeFileAtomic(finalPath: string, data: string, mode = 0o600): Promise<void> {
  const staged = await stageFile(finalPath, data, mode);
  await publish(staged.tempPath, staged.finalPath).catch(async (err: unknown) => {
    await unlink(staged.tempPath).catch(() => {});
    throw err;
  });
}

/**
 * Publishes a file together with its companions (a backup with its manifest and sidecar), so that it
 * never exists under its final name without them: the companions are staged, then published, and the
 * data is published last by `publishData`. If any step fails, every companion staged or published by
 * this call is removed again, and the error is thrown: then nothing of it exists under a final name.
 * (A crash between the steps can leave a companion without its data: an orphan retention ignores,
 * never data without its companions.)
 */
export async function publishWithCompanions(
  companions: readonly { readonly path: string; readonly data: string }[],
  publishData: () => Promise<void>,
): Promise<void> {
  const staged: StagedFile[] = [];
  const published: string[] = [];
  try {
    for (const c of companions) staged.push(await stageFile(c.path, c.data));
    for (const s of staged) {
      await publish(s.tempPath, s.finalPath);
      published.push(s.finalPath);
    }
    await publishData();
  } catch (err) {
    for (const s of staged) await unlink(s.tempPath).catch(() => {});
    for (const file of published) await unlink(file).catch(() => {});
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

/** When this process started (ms since the epoch): partials with its pid older than that are a dead run's. */
const PROCESS_STARTED_MS = Date.now() - process.uptime() * 1000;

/**
 * Removes partial files left by runs that died (SIGKILL, power loss) in `dir`. Files of a process that
 * is still alive are left alone, but for files with this process's own pid written before it started
 * (a container gives every run the same pid). With `minAgeMs`, only files at least that old (modified)
 * are considered. Returns the names removed.
 */
export async function removeStalePartials(dir: string, minAgeMs = 0): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    // Partials, and the name probes of earlier versions (`.lifeline-name-probe-<pid>-xxx…`).
    const m =
      new RegExp(`^\\..+${PARTIAL_MARK.replace(".", "\\.")}(\\d+)-[0-9a-f]+$`).exec(name) ??
      /^\.lifeline-name-probe-(\d+)-x*$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const modified = (await stat(path.join(dir, name)).catch(() => undefined))?.mtimeMs;
    if (modified === undefined || Date.now() - modified < minAgeMs) continue;
    const ownLeftover = pid === process.pid && modified < PROCESS_STARTED_MS - 1000;
    if (!ownLeftover && isAlive(pid)) continue;
    await unlink(path.join(dir, name)).then(
      () => removed.push(name),
      () => {},
    );
  }
  return removed;
}

/**
 * Removes companions (a manifest, a checksum sidecar: `<data><suffix>`) whose data file does not exist,
 * left by a crash between publishing the companions and the data (publishWithCompanions). Only those
 * modified before `olderThan` (the run's start: never the companions of a file being published now),
 * and only when `isData` accepts the data file's name. A companion whose data exists is never touched.
 * Returns the names removed.
 */
export async function removeOrphanCompanions(
  dir: string,
  suffixes: readonly string[],
  olderThan: Date,
  isData: (name: string) => boolean,
): Promise<string[]> {
  const removed: string[] = [];
  const names = await readdir(dir).catch(() => [] as string[]);
  const present = new Set(names);
  for (const name of names) {
    const suffix = suffixes.find((s) => name.endsWith(s));
    if (!suffix) continue;
    const data = name.slice(0, -suffix.length);
    if (present.has(data) || !isData(data)) continue;
    const file = path.join(dir, name);
    const info = await lstat(file).catch(() => undefined);
    if (!info?.isFile() || info.mtimeMs >= olderThan.getTime()) continue;
    // Checked again at the last moment: the data may have appeared since the listing.
    if (
      await lstat(path.join(dir, data)).then(
        () => true,
        () => false,
      )
    )
      continue;
    await unlink(file).then(
      () => removed.push(name),
      () => {},
    );
  }
  return removed;
}

/** The longest file name, in bytes, that ext4, xfs, btrfs, tmpfs and most others accept (NAME_MAX). */
export const NAME_MAX = 255;

/**
 * Whether `dir` accepts a file name of `length` bytes: a hidden probe of that length is created and
 * removed at once. Some filesystems allow fewer than NAME_MAX (eCryptfs: 143), which only trying tells.
 * The probe is named like a partial (`.lifeline-name-probe.partial-<pid>-<hex>`, padded with hex
 * digits), so that one left by a killed run is swept by removeStalePartials, and a random part keeps it
 * from clashing with such a leftover (a container's next run has the same pid); a clash is retried.
 */
export async function acceptsNameLength(dir: string, length: number): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const probe = `.lifeline-name-probe${PARTIAL_MARK}${process.pid}-${randomBytes(PARTIAL_RANDOM_BYTES).toString("hex")}`;
    const file = path.join(dir, probe.padEnd(Math.max(length, probe.length), "0"));
    try {
      const handle = await open(file, "wx", 0o600);
      await handle.close();
      await unlink(file);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENAMETOOLONG") return false;
      if (code === "EEXIST" && attempt < 3) continue;
      throw err;
    }
  }
}

/** The longest file name `dir` accepts, at most `upTo` bytes (a binary search of probes). */
export async function longestNameAccepted(dir: string, upTo = NAME_MAX): Promise<number> {
  let low = 0;
  let high = upTo;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (await acceptsNameLength(dir, mid)) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** Creates a directory (and parents) and proves it writable, turning failures into advice. */
export async function ensureWritableDirectory(dir: string, what: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o750 });
    const probe = await AtomicFile.create(path.join(dir, ".lifeline-write-test"));
    await probe.abort();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const described = describeWriteFailure(err, `${what} '${dir}'`, dir, "a probe file");
    if (described !== err) throw described;
    throw new UserError(
      `${what} '${dir}' is not writable (${e.code ?? e.message}): create it and give this user write access ` +
        `(e.g. chown -R $(id -un) ${dir}), or point BACKUP_DIR elsewhere`,
      { cause: err },
    );
  }
}
