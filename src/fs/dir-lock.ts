import { randomBytes } from "node:crypto";
import { link, open, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log/logger.js";
import { judgeOwner, ownIdentity, type ProcessIdentity } from "../process/process-identity.js";
import { UserError } from "../shared/errors.js";
import { describeWriteFailure } from "../shared/write-failure.js";
import { removeStalePartials, stageFile } from "./atomic-file.js";
import { readRegularFile } from "./regular-file.js";

export const LOCK_FILE = ".lifeline.lock";

/**
 * What a lock file holds: the holder's identity (pid, PID namespace, boot id, start time: a pid means
 * something only in its own namespace, and pids are reused), host, command and a token of its own.
 */
interface LockHolder extends ProcessIdentity {
  readonly host: string;
  readonly startedAt: string;
  readonly command: string;
  readonly token: string;
}

/** How long an unreadable lock is watched for a writer finishing it before it is judged left by a crash. */
const UNREADABLE_RECHECK_MS = 500;
/**
 * Where hard links are not possible, a lock is created empty and then written (O_EXCL): an empty or
 * unreadable lock there may be a run writing it, and is taken over only once this old.
 */
export const UNREADABLE_LOCK_MIN_AGE_MS = 60_000;
/** Hidden partials in BACKUP_DIR's root younger than this are left by the sweep (a contender's staged lock). */
const ROOT_PARTIAL_MIN_AGE_MS = 60_000;

/**
 * Creates the lock file whole, never over an existing one: its content is written and synced under a
 * hidden name, then hard-linked into place (EEXIST when held). So a lock file is never empty or torn,
 * and a full disk leaves no lock behind. Where hard links are not possible, an exclusive create
 * (O_EXCL) is written instead, removed again if writing it fails, and read back: it is ours only if it
 * still holds our token (a contender may have judged it empty meanwhile). `created` is false when the
 * lock is held; `hardLinks` tells which way was taken (and so whether an empty lock can be a writer's).
 */
async function createLockFile(
  file: string,
  content: string,
  token: string,
): Promise<{ created: boolean; hardLinks: boolean }> {
  const dir = path.dirname(file);
  const describe = (err: unknown) =>
    describeWriteFailure(err, `BACKUP_DIR '${dir}'`, dir, `its lock file ${LOCK_FILE}`);
  for (let attempt = 0; ; attempt++) {
    const staged = await stageFile(file, content, 0o644).catch((err: unknown) => {
      throw describe((err as Error).cause ?? err);
    });
    try {
      await link(staged.tempPath, file);
      return { created: true, hardLinks: true };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return { created: false, hardLinks: true };
      if (code === "ENOENT") {
        // Our staged copy vanished before the link: something else removed it (a run elsewhere sweeping).
        if (attempt < 2) continue;
        throw new UserError(
          `Could not lock ${dir}: the staged lock file ${path.basename(staged.tempPath)} was removed before it ` +
            "could be linked into place, three times; another process keeps deleting hidden files in this " +
            "directory (a run on another host or container sharing it?). Find it, then retry",
          { cause: err },
        );
      }
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV")
        throw describe(err);
    } finally {
      await unlink(staged.tempPath).catch(() => {});
    }
    break;
  }
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "wx", 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return { created: false, hardLinks: false };
    throw describe(err);
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
    await handle.close();
    const written = await readHolder(file);
    return { created: typeof written === "object" && written.token === token, hardLinks: false };
  } catch (err) {
    await handle.close().catch(() => {});
    await unlink(file).catch(() => {}); // ours: created exclusively a moment ago
    throw describe(err);
  }
}

/**
 * An exclusive lock on a backup directory, so that two runs never write or prune it at once. A second
 * run fails fast naming the holder; a lock left by a dead process of this PID namespace on this host, or
 * by an earlier boot of this host, is taken over with a warning. A lock from another host (shared
 * storage) or another PID namespace (a container, even with the same hostname), or one that does not
 * record its namespace (older versions), is never taken over automatically: nothing here can tell
 * whether its holder still runs. An empty or unparsable lock is taken over where hard links work (locks
 * are written whole there, so only a crash or damage leaves one); elsewhere only once
 * UNREADABLE_LOCK_MIN_AGE_MS old, since a run may be writing it.
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
      ...ownIdentity(),
      host: hostname(),
      startedAt: new Date().toISOString(),
      command,
      token,
    };
    for (let attempt = 0; attempt < 2; attempt++) {
      const made = await createLockFile(file, `${JSON.stringify(me)}\n`, token);
      if (made.created) {
        // Hidden files of runs that died mid-write, swept only now that no other run can be writing here;
        // a contender's lock partial (staged a moment ago, maybe on another host) is left to its owner.
        await removeStalePartials(dir, ROOT_PARTIAL_MIN_AGE_MS);
        return new DirectoryLock(file, token);
      }
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
        const age = Date.now() - now.mtimeMs;
        if (!made.hardLinks && age < UNREADABLE_LOCK_MIN_AGE_MS) {
          throw new UserError(
            `${dir} is locked by ${file}, ${now.size === 0 ? "empty" : "unreadable"} and only ${Math.round(age / 1000)} s old: ` +
              `on this filesystem (no hard links) a run writes its lock after creating it, so one may be starting now. ` +
              `Retry in a minute (it is taken over once ${UNREADABLE_LOCK_MIN_AGE_MS / 1000} s old), or remove it if no run is active`,
          );
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
      } else {
        const verdict = judgeOwner(holder);
        if (verdict === "unknown") {
          throw new UserError(
            `${dir} is locked by pid ${holder.pid} on ${holder.host} since ${holder.startedAt} (${holder.command}), ` +
              `${holder.pidNamespace ? `in another PID namespace (${holder.pidNamespace}: another container)` : "written by an older Lifeline version that does not record its PID namespace"}; ` +
              `nothing here can tell whether that run is still active. Check that no run of this backup directory ` +
              `is active (e.g. docker ps, your CI jobs), then remove ${file}`,
          );
        }
        if (verdict === "alive") {
          throw new UserError(
            `Another Lifeline run holds ${dir}: pid ${holder.pid} on ${holder.host}, started ${holder.startedAt} (${holder.command}). ` +
              "Wait for it to finish; runs of one backup directory never overlap",
          );
        }
        const rebooted = holder.bootId !== me.bootId;
        logger.warn(
          `Taking over a stale lock on ${dir}: pid ${holder.pid} (${holder.command}, started ${holder.startedAt}) ` +
            `${rebooted ? "ran before this host rebooted" : "is no longer running"}`,
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

/** More than any lock file Lifeline writes: a larger one is read no further and counts as unreadable. */
const MAX_LOCK_BYTES = 64 * 1024;

async function readHolder(file: string): Promise<LockHolder | "gone" | "unreadable"> {
  let text: string;
  try {
    // A FIFO in its place is named, never waited on; a huge file is not read whole (a holder is ~200 bytes).
    text = await readRegularFile(file, { maxBytes: MAX_LOCK_BYTES });
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
