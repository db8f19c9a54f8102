import { UserError } from "./errors.js";

/**
 * Turns a failed write into advice that names the place and what to do: no space, no quota left, a
 * read-only filesystem, no permission. `where` names the place as the operator set it, e.g.
 * "BACKUP_DIR '/backups'"; `dir` is the directory to inspect; `writing` what was being written.
 * Any other error is returned unchanged.
 */
export function describeWriteFailure(err: unknown, where: string, dir: string, writing: string): Error {
  const e = err as NodeJS.ErrnoException;
  const advice: Record<string, string> = {
    ENOSPC: `No space left on the device of ${where} while writing ${writing}: free space (df -h ${dir}), e.g. by lowering the retention, then run again`,
    EDQUOT: `The disk quota of this user is exhausted on ${where} while writing ${writing}: free space or raise the quota (quota -s), then run again`,
    EROFS: `${where} is on a read-only filesystem (EROFS while writing ${writing}): remount it read-write, or point BACKUP_DIR elsewhere`,
    EACCES: `${where} is not writable by this user (EACCES while writing ${writing}): give it write access (e.g. chown -R $(id -un) ${dir}), or point BACKUP_DIR elsewhere`,
    EPERM: `${where} is not writable by this user (EPERM while writing ${writing}): give it write access (e.g. chown -R $(id -un) ${dir}), or point BACKUP_DIR elsewhere`,
  };
  const message = e?.code ? advice[e.code] : undefined;
  if (message) return new UserError(message, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}

/** Whether an error is one `describeWriteFailure` explains (space, quota, read-only, permission). */
export function isWriteFailure(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "EROFS" || code === "EACCES" || code === "EPERM";
}
