import { realpathSync, statSync } from "node:fs";
import type { RestoreMediaConfig } from "../config/media-config.js";
import { ConfigError, UserError } from "../shared/errors.js";
import { type RelPath, relPathProblem, toBinary } from "./media-path.js";
import { listSnapshots, readCurrent } from "./snapshot-store.js";

/** Snapshots named in the error that says a requested one is not there. */
const LISTED_SNAPSHOTS = 10;

/** MEDIA_BACKUP_DIR resolved, refused with what to set when it is not a readable directory. */
export function realBackupDir(dir: string): string {
  try {
    const real = realpathSync(dir);
    if (!statSync(real).isDirectory()) throw new Error("it is not a directory");
    return real;
  } catch (err) {
    throw new ConfigError(
      `MEDIA_BACKUP_DIR '${dir}' cannot be read: ${(err as Error).message}. Set it to the directory backup-media writes its snapshots to`,
    );
  }
}

/** "latest" is the snapshot `current` names; a name must be a snapshot in MEDIA_BACKUP_DIR. */
export function chooseSnapshot(backupDir: string, config: RestoreMediaConfig): string {
  const available = listSnapshots(backupDir).map((s) => s.name);
  const listing =
    available.length === 0
      ? "it holds no snapshot"
      : `the snapshots there, newest first: ${available.slice(0, LISTED_SNAPSHOTS).join(", ")}` +
        (available.length > LISTED_SNAPSHOTS ? `, … (${available.length} in all)` : "");
  if (config.snapshot === "latest") {
    const current = readCurrent(backupDir);
    if (current.problem) {
      throw new UserError(
        `${current.problem}, so 'latest' names no snapshot. Set MEDIA_SNAPSHOT (input snapshot) to a snapshot name (${listing}), or run backup-media to make current again`,
      );
    }
    if (current.name === undefined) {
      throw new UserError(
        `MEDIA_BACKUP_DIR '${config.backupDir}' has no 'current' link: no media backup has completed there, so 'latest' names no snapshot ` +
          `(${listing}). Check MEDIA_BACKUP_DIR, run backup-media first, or set MEDIA_SNAPSHOT to a snapshot name`,
      );
    }
    if (!available.includes(current.name)) {
      throw new UserError(
        `'current' in MEDIA_BACKUP_DIR '${config.backupDir}' names ${current.name}, which is not there (${listing}). Set MEDIA_SNAPSHOT to a snapshot name`,
      );
    }
    return current.name;
  }
  if (!available.includes(config.snapshot)) {
    throw new UserError(
      `The snapshot '${config.snapshot}' (MEDIA_SNAPSHOT) is not in MEDIA_BACKUP_DIR '${config.backupDir}': ${listing}. Set MEDIA_SNAPSHOT to one of them or to latest`,
    );
  }
  return config.snapshot;
}

/**
 * The restore path as a binary string ("" for the whole snapshot): one leading "./" and trailing "/"
 * are dropped, then it must be a plain relative path (no "..", not absolute).
 */
export function parseRestorePath(raw: string | undefined): RelPath {
  if (raw === undefined) return "";
  let rel = raw;
  if (!rel.startsWith("/")) {
    if (rel.startsWith("./")) rel = rel.slice(2);
    rel = rel.replace(/\/+$/, "");
  }
  if (rel === "" || rel === ".") return "";
  const binary = toBinary(rel);
  const problem = relPathProblem(binary);
  if (problem) {
    throw new ConfigError(
      `Invalid MEDIA_RESTORE_PATH (input restore-path) '${raw}': ${problem}. Expected a path inside the snapshot, ` +
        "relative to the media directory, such as photos/2026; a restore writes only inside its target",
    );
  }
  return binary;
}

/** The target's realpath, or undefined when it does not exist yet; refused when it is not a directory. */
export function existingTarget(targetDir: string): string | undefined {
  let real: string;
  try {
    real = realpathSync(targetDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError(`MEDIA_RESTORE_TARGET '${targetDir}' cannot be used: ${(err as Error).message}`);
  }
  if (!statSync(real).isDirectory()) {
    throw new ConfigError(
      `MEDIA_RESTORE_TARGET '${targetDir}' is not a directory. Set it to a directory (created if missing)`,
    );
  }
  return real;
}

/** A restore into MEDIA_BACKUP_DIR (or around it) could replace the snapshots themselves. */
export function refuseOverlap(target: string, backupDir: string, config: RestoreMediaConfig): void {
  const inside = (a: string, b: string) => a === b || a.startsWith(b.endsWith("/") ? b : `${b}/`);
  if (inside(target, backupDir) || inside(backupDir, target)) {
    throw new ConfigError(
      `MEDIA_RESTORE_TARGET '${config.targetDir}' and MEDIA_BACKUP_DIR '${config.backupDir}' overlap: a restore there ` +
        "could replace the snapshots themselves. Restore into a directory outside the backup directory",
    );
  }
}
