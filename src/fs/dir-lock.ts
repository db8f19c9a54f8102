import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { link, open, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../config/errors.js";
import type { Logger } from "../log/logger.js";
import { removeStalePartials, stageFile } from "./atomic-file.js";
import { readRegularFile } from "./regular-file.js";
import { describeWriteFailure } from "./write-failure.js";

export const LOCK_FILE = ".lifeline.lock";

interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
  readonly command: string;
  /** Kernel start time of the process (/proc/PID/stat field 22): tells a live holder from a reused pid. */
  readonly procStart?: string;
  readonly token: string;
}

function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function isAlive(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = procStart(holder.pid);
  return holder.procStart === undefined || now === undefined || now === holder.procStart;
}

/** How long an unreadable lock is watched for a writer finishing it before it is judged left by a crash. */
const UNREADABLE_RECHECK_MS = 500;

/**
 * Creates the lock file whole, never over an existing one: its content is written and synced under a
 * hidden name, then hard-linked into place (EEXIST when held). So a lock file is never empty or torn,
 * and a full disk leaves no lock behind. Where hard links are not possible, an exclusive create
 * (O_EXCL) is written instead and removed again if writing it fails. False when the lock is held.
 */
async function createLockFile(file: string, content: string): Promise<boolean> {
  const dir = path.dirname(file);
  const describe = (err: unknown) =>
    describeWriteFailure(err, `BACKUP_DIR '${dir}'`, dir, `its lock file ${LOCK_FILE}`);
  const staged = await stageFile(file, content, 0o644).catch((err: unknown) => {
    throw describe((err as Error).cause ?? err);
  });
  try {
    await link(staged.tempPath, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV")
      throw describe(err);
  } finally {
    await unlink(staged.tempPath).catch(() => {});
  }
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "wx", 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw describe(err);
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
    await handle.close();
    return true;
  } catch (err) {
    await handle.close().catch(() => {});
    await unlink(file).catch(() => {}); // ours: created exclusively a moment ago
    throw describe(err);
  }
}

/**
 * An exclusive lock on a backup directory, so that two runs never write or prune it at once. A second
 * run fails fast naming the holder; a lock left by a dead process on this host is taken over with a
 * warning, and so is an empty or unparsable one (locks are written whole, so only a crash or damage
 * leaves one). A lock from another host (shared storage) is never taken over automatically.
 */
export class DirectoryLock {
  private constructor(
    readonly file: string,
    private readonly token: string,
  ) {}

  static async acquire(dir: string, command: string, logger: Logger): Promise<DirectoryLock> {
    const file = path.join(dir, LOCK_FILE);
    const token = randomBytes(8).toString("hex");
    const me: LockHolder = {
      pid: process.pid,
      host: hostname(),
      startedAt: new Date().toISOString(),
      command,
      token,
      ...(procStart(process.pid) ? { procStart: procStart(process.pid)! } : {}),
    };
    // Hidden lock files of runs that died between writing and linking them.
    await removeStalePartials(dir);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await createLockFile(file, `${JSON.stringify(me)}\n`)) return new DirectoryLock(file, token);
      const holder = await readHolder(file);
      if (holder === "gone") continue;
      if (holder === "unreadable") {
        // Only the fallback without hard links shows a lock before its content: give a writer a moment.
        const seen = await stat(file).catch(() => undefined);
        await sleep(UNREADABLE_RECHECK_MS);
        const again = await readHolder(file);
        const now = await stat(file).catch(() => undefined);
        if (
          again !== "unreadable" ||
          !seen ||
          !now ||
          now.mtimeMs !== seen.mtimeMs ||
          now.size !== seen.size
        ) {
          continue;
        }
        logger.warn(
          `Taking over an unreadable lock file ${file} (${now.size === 0 ? "empty" : `${now.size} bytes, not a lock`}, ` +
            `${Math.round((Date.now() - now.mtimeMs) / 1000)} s old): locks are written whole, so a run that crashed or a damaged disk left it`,
        );
      } else if (holder.host !== hostname()) {
        throw new UserError(
          `${dir} is locked by pid ${holder.pid} on host ${holder.host} since ${holder.startedAt} (${holder.command}). ` +
            `If that run is gone, remove ${file}`,
        );
      } else if (isAlive(holder)) {
        throw new UserError(
          `Another Lifeline run holds ${dir}: pid ${holder.pid} on ${holder.host}, started ${holder.startedAt} (${holder.command}). ` +
            "Wait for it to finish; runs of one backup directory never overlap",
        );
      } else {
        logger.warn(
          `Taking over a stale lock on ${dir}: pid ${holder.pid} (${holder.command}, started ${holder.startedAt}) is no longer running`,
        );
      }
      await takeOver(file, holder, token);
    }
    throw new UserError(`Could not lock ${dir}: another run took the lock at the same moment; retry`);
  }

  /** Releases the lock if it is still ours. */
  async release(): Promise<void> {
    const holder = await readHolder(this.file);
    if (typeof holder === "object" && holder.token === this.token) await unlink(this.file).catch(() => {});
  }
}

/**
 * Removes a lock judged stale, without ever removing a fresh one: two runs may judge the same stale lock
 * at once, and the second must not delete the first's new lock. The file is renamed aside (atomic), and
 * only if it is still the lock that was judged is it dropped; otherwise it is put back.
 */
async function takeOver(file: string, judged: LockHolder | "unreadable", token: string): Promise<void> {
  const aside = `${file}.stale-${process.pid}-${token}`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // someone else removed it: try again
    throw err;
  }
  const moved = await readHolder(aside);
  const same =
    judged === "unreadable"
      ? moved === "unreadable"
      : typeof moved === "object" && moved.token === judged.token;
  if (!same) {
    await link(aside, file).catch(() => {});
    await unlink(aside).catch(() => {});
    throw new UserError(
      `Could not lock ${path.dirname(file)}: another run took the lock at the same moment; retry`,
    );
  }
  await unlink(aside).catch(() => {});
}

async function readHolder(file: string): Promise<LockHolder | "gone" | "unreadable"> {
  let text: string;
  try {
    text = await readRegularFile(file); // a FIFO in its place is named, never waited on
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw err;
  }
  try {
    const holder = JSON.parse(text) as LockHolder;
    return typeof holder.pid === "number" && typeof holder.host === "string" ? holder : "unreadable";
  } catch {
    return "unreadable";
  }
}
