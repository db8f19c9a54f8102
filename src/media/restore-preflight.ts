import { lstatSync, type Stats } from "node:fs";
import { UserError } from "../shared/errors.js";
import type { MediaEntry } from "./manifest.js";
import { fsPath, isWithin, type RelPath, showPath } from "./media-path.js";
import { readWholeManifest } from "./snapshot-store.js";

/** Names quoted in a refusal; the count says how many there are in all. */
const NAMED_IN_REFUSAL = 5;

/** What the first pass learnt: how many entries the restore covers and which files later ones link to. */
export interface Preflight {
  readonly matched: number;
  /** Files that a later entry in scope names as linkTo: only their placing is remembered. */
  readonly linkTargets: ReadonlySet<RelPath>;
}

export interface PreflightOptions {
  readonly snapshotDir: string;
  readonly snapshot: string;
  /** The restore path as a binary string, "" for the whole snapshot. */
  readonly scope: RelPath;
  /** The target's realpath as a binary string, undefined when it does not exist yet (nothing to collide with). */
  readonly target: string | undefined;
  readonly targetShown: string;
  readonly overwrite: boolean;
}

/** Whether the restore writes something for this entry (directories always: they are merged). */
export function isRestorable(e: MediaEntry): boolean {
  if (e.type === "dir") return true;
  if (e.type !== "file" && e.type !== "symlink") return false;
  return e.state !== "skipped" && e.state !== "unreadable";
}

/** Whether the entry is one the restore covers, or a directory on the way to the restore path. */
export function placeOf(e: MediaEntry, scope: RelPath): "in" | "ancestor" | undefined {
  if (isWithin(e.path, scope)) return "in";
  return e.type === "dir" && isWithin(scope, e.path) ? "ancestor" : undefined;
}

class Named {
  readonly names: string[] = [];
  count = 0;
  add(text: string): void {
    if (this.names.length < NAMED_IN_REFUSAL) this.names.push(text);
    this.count++;
  }
  get text(): string {
    return `${this.names.join("; ")}${this.count > this.names.length ? `; and ${this.count - this.names.length} more` : ""}`;
  }
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isDirectory()) return "a directory";
  if (st.isFile()) return "a file";
  return "a special file";
}

/**
 * The first pass, before anything is written: reads the whole manifest against its checksum (a
 * mismatch or an unsafe entry throws a ManifestError) and lstat's the target path of every entry, so
 * that a restore that would collide is refused as a whole. Streaming: memory holds only link targets.
 */
export async function preflight(options: PreflightOptions): Promise<Preflight> {
  const { scope, target, overwrite } = options;
  const refusals = new Named();
  const conflicts = new Named();
  const linkTargets = new Set<RelPath>();
  let matched = 0;
  // Walk order puts a directory's entries right after it: below a missing one, nothing exists.
  let absent: RelPath | undefined;
  await readWholeManifest(options.snapshotDir, (e) => {
    const place = placeOf(e, scope);
    if (place === undefined) return;
    if (place === "in") {
      matched++;
      if (e.linkTo !== undefined && isWithin(e.linkTo, scope)) linkTargets.add(e.linkTo);
    }
    if (target === undefined || e.path === "" || !isRestorable(e)) return;
    if (absent !== undefined && isWithin(e.path, absent)) return;
    const shown = showPath(e.path);
    let st: Stats;
    try {
      st = lstatSync(fsPath(target, e.path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        if (e.type === "dir") absent = e.path;
        return;
      }
      refusals.add(`${shown} cannot be checked (${(err as Error).message})`);
      return;
    }
    if (e.type === "dir") {
      if (!st.isDirectory()) refusals.add(`${shown} is ${kindOf(st)} where the snapshot has a directory`);
    } else if (st.isDirectory()) {
      refusals.add(`${shown} is a directory where the snapshot has a ${e.type}`);
    } else if (!overwrite) {
      conflicts.add(shown);
    }
  });
  if (refusals.count > 0) {
    throw new UserError(
      `The restore of ${options.snapshot} into ${options.targetShown} is refused, nothing was written: ` +
        `${refusals.count} path(s) in the target stand where the snapshot has something else: ${refusals.text}. ` +
        "A restore never writes through a symlink nor replaces a directory; move them away, or restore into an empty directory",
    );
  }
  if (conflicts.count > 0) {
    throw new UserError(
      `The restore of ${options.snapshot} into ${options.targetShown} is refused, nothing was written: ` +
        `${conflicts.count} file(s) already exist there: ${conflicts.text}. Restore into an empty directory, move them ` +
        "away, or set MEDIA_RESTORE_OVERWRITE=true (input overwrite: true) to replace them",
    );
  }
  if (matched === 0) {
    throw new UserError(
      `MEDIA_RESTORE_PATH '${showPath(scope)}' is not in snapshot ${options.snapshot}: nothing was restored. ` +
        "Give a path relative to the media directory as it was backed up (see the snapshot's tree/ directory)",
    );
  }
  return { matched, linkTargets };
}
