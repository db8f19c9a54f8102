import type { BigIntStats } from "node:fs";
import {
  chmodSync,
  closeSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readlinkSync,
  realpathSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
} from "node:fs";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Logger } from "../log/logger.js";
import { throwIfCancelled } from "../shared/errors.js";
import {
  type CopiedFile,
  type CopyMetadata,
  copyLargeFile,
  copySmallFile,
  isSnapshotSide,
  openSource,
  SMALL_FILE_BYTES,
  secondsOf,
} from "./copy-file.js";
import type { ManifestReader, ManifestTotals, ManifestWriter, MediaEntry } from "./manifest.js";
import {
  compareRelPaths,
  fsPath,
  isWithin,
  parentOf,
  type RelPath,
  showError,
  showPath,
} from "./media-path.js";
import { type ExcludeRules, isWalkError, TreeWalk, type WalkEntry } from "./tree-walk.js";

/** At most this many large files are being copied at once (two buffers each). */
const LARGE_COPIES_IN_FLIGHT = 2;
/**
 * Files up to this size are copied inline (sync read, hash, write); larger ones by the kernel in the
 * thread pool while this thread hashes them. A lower bound (64 KiB) measured slower on 2 cores: more
 * system time for the same bytes.
 */
const INLINE_COPY_BYTES = SMALL_FILE_BYTES;
/** Entries waiting for an earlier large copy before their manifest line can be written. */
const MAX_QUEUED = 4096;
/** How often the sync walk yields to the event loop (signals, progress, the action's log line). */
const YIELD_EVERY_MS = 50;
/** ... and while large copies are in flight, which advance only when it does. */
const YIELD_EVERY_MS_COPYING = 1;
/** Names kept for the log and summary per kind of problem; the manifest has them all. */
const NAMED_PER_KIND = 20;

/** What the builder reports while it runs, at most once a second. */
export interface BuildProgress {
  readonly entries: number;
  readonly bytesCopied: number;
  readonly bytesLinked: number;
  readonly elapsedSeconds: number;
}

export interface BuildOptions {
  readonly source: string; // binary string (see media-path.ts)
  readonly tree: string; // the partial snapshot's tree/, binary string
  /** The previous snapshot's tree/ and an open reader of its (checksum-verified) manifest: incremental. */
  readonly previous?: { readonly tree: string; readonly manifest: ManifestReader };
  readonly exclude: ExcludeRules;
  readonly manifest: ManifestWriter;
  readonly logger: Logger;
  readonly signal: AbortSignal | undefined;
  readonly onProgress?: (p: BuildProgress) => void;
}

/** The problems a build met, a few named each (the manifest names all of them). */
export interface BuildProblems {
  readonly unreadable: string[];
  readonly skipped: string[];
  readonly changedDuringBackup: string[];
}

export interface BuildResult {
  readonly totals: ManifestTotals;
  readonly problems: BuildProblems;
  /** The largest files copied (new or changed), for the summary. */
  readonly largestCopied: readonly { readonly path: string; readonly size: number }[];
}

interface Slot {
  entry?: MediaEntry;
  done: boolean;
  work?: Promise<void>;
  after?: () => void;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const asRoot = process.getuid?.() === 0;

/**
 * Builds one snapshot tree from the source in walk order, merge-joined against the previous snapshot's
 * manifest (both sorted, so memory does not grow with the file count): a file whose size, mtime, ctime
 * and inode match is hard-linked to the previous snapshot and never read; anything else is copied and
 * hashed. Manifest lines are written in walk order even though large copies run concurrently.
 */
export async function buildSnapshot(options: BuildOptions): Promise<BuildResult> {
  const { source, tree, manifest, logger, signal } = options;
  const totals: Mutable<ManifestTotals> = {
    entries: 0,
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    newFiles: 0,
    changedFiles: 0,
    unchangedFiles: 0,
    deletedFiles: 0,
    bytesCopied: 0,
    bytesLinked: 0,
    errors: 0,
    skipped: 0,
    changedDuringBackup: 0,
  };
  const problems: BuildProblems = { unreadable: [], skipped: [], changedDuringBackup: [] };
  const name = (list: string[], rel: RelPath, why?: string) => {
    if (list.length < NAMED_PER_KIND) list.push(why ? `${showPath(rel)} (${why})` : showPath(rel));
  };
  const largest: { path: string; size: number }[] = [];
  const noteCopied = (rel: RelPath, size: number) => {
    if (largest.length < 5 || size > (largest[largest.length - 1] as { size: number }).size) {
      largest.push({ path: showPath(rel), size });
      largest.sort((a, b) => b.size - a.size);
      if (largest.length > 5) largest.pop();
    }
  };

  const queue: Slot[] = [];
  let inFlight: Promise<void>[] = [];
  const scratch = Buffer.allocUnsafe(SMALL_FILE_BYTES + 1);
  // Inodes with more links than seen so far; an inode leaves once its last link is met (memory grows
  // with the hard-linked files whose other links are still ahead, or outside the source).
  const hardLinks = new Map<string, { path: RelPath; slot: Slot; left: number }>();
  const openDirs: { rel: RelPath; stats: BigIntStats }[] = [];
  const started = Date.now();
  let lastYield = Date.now();
  let lastProgress = Date.now();
  let failure: unknown;

  const drain = () => {
    while (queue.length > 0 && (queue[0] as Slot).done) {
      const slot = queue.shift() as Slot;
      if (slot.entry) {
        manifest.add(slot.entry);
        totals.entries++;
      }
      slot.after?.();
    }
  };
  const push = (slot: Slot) => {
    queue.push(slot);
    drain();
  };
  const waitForRoom = async () => {
    while (inFlight.length >= LARGE_COPIES_IN_FLIGHT || queue.length >= MAX_QUEUED) {
      await Promise.race(inFlight.length > 0 ? inFlight : [queue[0]?.work]);
      if (failure) throw failure;
      drain();
    }
  };
  const metaOf = (stats: BigIntStats): CopyMetadata => ({
    mode: Number(stats.mode) & 0o7777,
    atime: secondsOf(stats.mtimeNs),
    mtime: secondsOf(stats.mtimeNs),
    ...(asRoot ? { uid: Number(stats.uid), gid: Number(stats.gid) } : {}),
  });
  const baseEntry = (rel: RelPath, w: WalkEntry): MediaEntry => ({
    path: rel,
    type: w.type,
    mode: Number(w.stats.mode) & 0o7777,
    uid: Number(w.stats.uid),
    gid: Number(w.stats.gid),
    size: w.type === "file" ? Number(w.stats.size) : 0,
    mtimeNs: w.stats.mtimeNs,
    ctimeNs: w.stats.ctimeNs,
    ino: w.stats.ino,
  });
  /** Finishes the open directories that do not hold `parent` (all of them when it is undefined). */
  const closeDirsUntil = (parent: RelPath | undefined) => {
    while (
      openDirs.length > 0 &&
      (parent === undefined || !isWithin(parent, (openDirs[openDirs.length - 1] as { rel: RelPath }).rel))
    ) {
      const dir = openDirs.pop() as { rel: RelPath; stats: BigIntStats };
      // After every entry inside it: creating them changed its mtime, and its mode may forbid writing.
      push({
        done: true,
        after: () => {
          const dst = fsPath(tree, dir.rel);
          const meta = metaOf(dir.stats);
          if (meta.uid !== undefined && meta.gid !== undefined) lchownSync(dst, meta.uid, meta.gid);
          chmodSync(dst, meta.mode);
          utimesSync(dst, meta.atime, meta.mtime);
        },
      });
    }
  };

  // The previous manifest, read in step with the walk.
  const prev = options.previous;
  let prevEntry = prev?.manifest.next();
  const previousAt = (rel: RelPath): MediaEntry | undefined => {
    while (prevEntry && compareRelPaths(prevEntry.path, rel) < 0) {
      if (prevEntry.type === "file") totals.deletedFiles++;
      prevEntry = prev?.manifest.next();
    }
    if (!prevEntry || prevEntry.path !== rel) return undefined;
    const matched = prevEntry;
    prevEntry = prev?.manifest.next(); // consumed: it is not among the deleted
    return matched;
  };

  const unchanged = (before: MediaEntry | undefined, stats: BigIntStats): before is MediaEntry =>
    before !== undefined &&
    before.type === "file" &&
    before.state === undefined &&
    before.sha256 !== undefined &&
    before.size === Number(stats.size) &&
    before.mtimeNs === stats.mtimeNs &&
    before.ctimeNs === stats.ctimeNs &&
    before.ino === stats.ino;

  // Whether a directory of the previous tree is itself (no symlink on the way out of MEDIA_BACKUP_DIR):
  // checked once per directory, since the walk visits a directory's files together.
  let prevDirChecked: { dir: RelPath; ok: boolean } | undefined;
  const prevDirIsReal = (dir: RelPath): boolean => {
    if (!prev) return false;
    if (prevDirChecked?.dir !== dir) {
      let ok = false;
      try {
        ok = realpathSync
          .native(fsPath(prev.tree, dir), { encoding: "buffer" })
          .equals(fsPath(prev.tree, dir));
      } catch {}
      prevDirChecked = { dir, ok };
    }
    return prevDirChecked.ok;
  };
  /**
   * Links the previous snapshot's copy; false when it is not there as the manifest and the builder left
   * it (type, size, mode, mtime to the µs; no symlink among its directories): then the file is copied.
   */
  const linkPrevious = (rel: RelPath, before: MediaEntry): boolean => {
    if (!prev || !prevDirIsReal(parentOf(rel))) return false;
    const from = fsPath(prev.tree, rel);
    try {
      const st = lstatSync(from, { bigint: true });
      const µs = (ns: bigint) => ns / 1000n;
      const mtimeOff = µs(st.mtimeNs) - µs(before.mtimeNs);
      if (!st.isFile() || Number(st.size) !== before.size || (Number(st.mode) & 0o7777) !== before.mode)
        return false;
      if (mtimeOff > 1n || mtimeOff < -1n) return false;
      linkSync(from, fsPath(tree, rel));
      return true;
    } catch {
      return false; // missing, EMLINK (too many links), EXDEV: copy instead
    }
  };

  /** Copies one file into the snapshot; false when it vanished from the source meanwhile (then it has no entry). */
  const copyFile = async (
    rel: RelPath,
    w: WalkEntry,
    entry: Mutable<MediaEntry>,
    isNew: boolean,
  ): Promise<boolean> => {
    const dst = fsPath(tree, rel);
    let stats = w.stats;
    const notStored = (err: unknown): boolean => {
      if (isFatal(err, signal)) throw err;
      if (isVanished(err) && !isSnapshotSide(err)) {
        logger.info(
          `${showPath(rel)} was deleted from the source while the backup ran; it is not in this snapshot`,
        );
        return false;
      }
      const [verb, where] = isSnapshotSide(err) ? ["store", "in the snapshot"] : ["read", "in the source"];
      entry.state = "unreadable";
      entry.error = `cannot ${verb} it ${where}: ${showError(err)}`;
      totals.errors++;
      name(problems.unreadable, rel, showError(err));
      logger.error(
        `Cannot ${verb} ${showPath(rel)} ${where} (${showError(err)}); it is not in this snapshot`,
      );
      return true;
    };
    // Opened now, while the walk still holds its directory: the descriptor serves both attempts, so a
    // directory swapped for a symlink meanwhile cannot redirect the copy.
    let fd: number;
    try {
      fd = openSource(w.at);
    } catch (err) {
      return notStored(err);
    }
    try {
      for (let attempt = 1; ; attempt++) {
        let copied: CopiedFile;
        try {
          copied =
            // The second attempt reads, hashes and writes the same bytes in one pass: a file still
            // changing is then stored exactly as its manifest entry says.
            stats.size <= BigInt(INLINE_COPY_BYTES) || attempt > 1
              ? copySmallFile(fd, dst, metaOf(stats), scratch)
              : await copyLargeFile(fd, dst, metaOf(stats), signal);
        } catch (err) {
          return notStored(err);
        }
        const a = copied.after;
        const same =
          !copied.torn &&
          BigInt(copied.bytes) === stats.size &&
          a.size === stats.size &&
          a.mtimeNs === stats.mtimeNs &&
          a.ctimeNs === stats.ctimeNs &&
          a.ino === stats.ino;
        if (!same && attempt === 1) {
          // Changed while copied: once more from its new state, then take what we get.
          unlinkQuiet(dst);
          stats = a;
          entry.size = Number(a.size);
          entry.mtimeNs = a.mtimeNs;
          entry.ctimeNs = a.ctimeNs;
          entry.mode = Number(a.mode) & 0o7777;
          continue;
        }
        entry.sha256 = copied.sha256;
        entry.size = copied.bytes;
        if (!same) {
          entry.state = "changed-during-backup";
          totals.changedDuringBackup++;
          name(problems.changedDuringBackup, rel);
          logger.warn(
            `${showPath(rel)} changed while it was copied, twice: the snapshot holds what was read`,
          );
        }
        totals.files++;
        totals.bytes += copied.bytes;
        totals.bytesCopied += copied.bytes;
        if (isNew) totals.newFiles++;
        else totals.changedFiles++;
        noteCopied(rel, copied.bytes);
        return true;
      }
    } finally {
      closeSync(fd);
    }
  };

  const addFile = async (rel: RelPath, w: WalkEntry, entry: Mutable<MediaEntry>) => {
    const before = previousAt(rel);
    const key = w.stats.nlink > 1n ? `${w.stats.dev}:${w.stats.ino}` : undefined;
    const first = key ? hardLinks.get(key) : undefined;
    if (key && first && --first.left <= 0) hardLinks.delete(key);
    if (first) {
      // A hard link in the source: the same inode in the snapshot, once its first path is copied.
      if (!first.slot.done) await first.slot.work;
      const firstEntry = first.slot.entry;
      if (firstEntry && firstEntry.state !== "unreadable" && firstEntry.sha256) {
        try {
          linkSync(fsPath(tree, first.path), fsPath(tree, rel));
          entry.linkTo = first.path;
          entry.sha256 = firstEntry.sha256;
          entry.size = firstEntry.size;
          totals.files++;
          totals.bytes += entry.size;
          totals.bytesLinked += entry.size;
          if (before) totals.unchangedFiles++;
          else totals.newFiles++;
          push({ entry, done: true });
          return;
        } catch {} // EMLINK: an independent copy
      }
    }
    if (!options.previous || !unchanged(before, w.stats) || !linkPrevious(rel, before)) {
      const isNew = before === undefined || before.type !== "file";
      if (w.stats.size <= BigInt(INLINE_COPY_BYTES)) {
        const kept = await copyFile(rel, w, entry, isNew);
        const slot: Slot = kept ? { entry, done: true } : { done: true };
        if (key && !first) hardLinks.set(key, { path: rel, slot, left: Number(w.stats.nlink) - 1 });
        push(slot);
        return;
      }
      await waitForRoom();
      const slot: Slot = { entry, done: false };
      const work = copyFile(rel, w, entry, isNew).then(
        (kept) => {
          if (!kept) slot.entry = undefined;
          slot.done = true;
        },
        (err: unknown) => {
          failure ??= err;
          slot.done = true;
        },
      );
      slot.work = work;
      inFlight.push(work);
      void work.finally(() => {
        inFlight = inFlight.filter((p) => p !== work);
      });
      if (key && !first) hardLinks.set(key, { path: rel, slot, left: Number(w.stats.nlink) - 1 });
      push(slot);
      return;
    }
    entry.sha256 = before.sha256;
    totals.files++;
    totals.unchangedFiles++;
    totals.bytes += entry.size;
    totals.bytesLinked += entry.size;
    const slot: Slot = { entry, done: true };
    if (key && !first) hardLinks.set(key, { path: rel, slot, left: Number(w.stats.nlink) - 1 });
    push(slot);
  };

  const walk = new TreeWalk(source, options.exclude);
  try {
    for (const item of walk.entries()) {
      if (failure) throw failure;
      // Bounded memory: entries wait behind a large copy only up to MAX_QUEUED, then the walk waits.
      if (queue.length >= MAX_QUEUED) await waitForRoom();
      if (Date.now() - lastYield >= (inFlight.length > 0 ? YIELD_EVERY_MS_COPYING : YIELD_EVERY_MS)) {
        await nextTurn();
        lastYield = Date.now();
        throwIfCancelled(signal, "The media backup was cancelled; the partial snapshot is removed");
        if (options.onProgress && Date.now() - lastProgress >= 1000) {
          lastProgress = Date.now();
          options.onProgress({
            entries: totals.entries,
            bytesCopied: totals.bytesCopied,
            bytesLinked: totals.bytesLinked,
            elapsedSeconds: (Date.now() - started) / 1000,
          });
        }
      }
      const rel = item.path;
      closeDirsUntil(parentOf(rel));
      if (isWalkError(item)) {
        previousAt(rel);
        if (isVanished(item.error)) continue; // deleted since its directory was listed
        totals.errors++;
        name(problems.unreadable, rel, showError(item.error));
        logger.error(
          `Cannot read ${showPath(rel)} in the source (${showError(item.error)}); it is not in this snapshot`,
        );
        push({
          entry: {
            path: rel,
            type: "file",
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtimeNs: 0n,
            ctimeNs: 0n,
            ino: 0n,
            state: "unreadable",
            error: `cannot read it in the source: ${showError(item.error)}`,
          },
          done: true,
        });
        continue;
      }
      const entry: Mutable<MediaEntry> = baseEntry(rel, item);
      const dst = fsPath(tree, rel);
      switch (item.type) {
        case "dir": {
          if (rel !== "") {
            previousAt(rel);
            try {
              mkdirSync(dst, 0o700);
            } catch (err) {
              // A path too long for the snapshot (its prefix is longer than the source's), say: this
              // directory and what is in it are left out and named; the rest of the tree goes on.
              if (isFatal(err, signal)) throw err;
              walk.skipChildrenOf(rel);
              entry.state = "unreadable";
              entry.error = `cannot store it in the snapshot: ${showError(err)}`;
              totals.errors++;
              name(problems.unreadable, rel, showError(err));
              logger.error(
                `Cannot store the directory ${showPath(rel)} in the snapshot (${showError(err)}); it and its contents are not in this snapshot`,
              );
              push({ entry, done: true });
              break;
            }
          }
          totals.dirs++;
          if (item.listError) {
            entry.state = "unreadable";
            entry.error = `cannot list it in the source: ${showError(item.listError)}`;
            totals.errors++;
            name(problems.unreadable, rel, showError(item.listError));
            logger.error(
              `Cannot list the directory ${showPath(rel)} in the source (${showError(item.listError)})`,
            );
          }
          push({ entry, done: true });
          openDirs.push({ rel, stats: item.stats });
          break;
        }
        case "file":
          await addFile(rel, item, entry);
          break;
        case "symlink": {
          previousAt(rel);
          try {
            const target = readlinkSync(item.at, { encoding: "buffer" });
            symlinkSync(target, dst);
            const meta = metaOf(item.stats);
            if (meta.uid !== undefined && meta.gid !== undefined) lchownSync(dst, meta.uid, meta.gid);
            lutimesSync(dst, meta.atime, meta.mtime);
            entry.target = target.toString("latin1");
            totals.symlinks++;
          } catch (err) {
            if (isFatal(err, signal)) throw err;
            entry.state = "unreadable";
            entry.error = `cannot copy the symlink: ${showError(err)}`;
            totals.errors++;
            name(problems.unreadable, rel, showError(err));
            logger.error(
              `Cannot copy the symlink ${showPath(rel)} (${showError(err)}); it is not in this snapshot`,
            );
          }
          push({ entry, done: true });
          break;
        }
        default: {
          previousAt(rel);
          entry.state = "skipped";
          totals.skipped++;
          name(problems.skipped, rel, item.type);
          logger.warn(`Skipped ${showPath(rel)}: it is a ${item.type}, which a backup does not copy`);
          push({ entry, done: true });
        }
      }
    }
    closeDirsUntil(undefined); // the root last
    await Promise.all(inFlight);
    if (failure) throw failure;
    drain();
    previousAt("\uffff"); // what is left of the previous manifest was deleted from the source
  } catch (err) {
    await Promise.allSettled(inFlight);
    throw err;
  }
  if (queue.length > 0)
    throw new Error(`snapshot builder: ${queue.length} manifest entries were not written`);
  return { totals, problems, largestCopied: largest };
}

/** What ends the whole run rather than one entry: cancellation, and a snapshot that cannot be written. */
function isFatal(err: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return true;
  const code = (err as NodeJS.ErrnoException).code;
  const full = code === "ENOSPC" || code === "EDQUOT" || code === "EROFS";
  return full || (code === "EIO" && isSnapshotSide(err));
}

function unlinkQuiet(p: Buffer): void {
  try {
    unlinkSync(p);
  } catch {}
}

const isVanished = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === "ENOENT";
