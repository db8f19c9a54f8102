import { mkdirSync, realpathSync } from "node:fs";
import path from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { RestoreMediaConfig } from "../config/media-config.js";
import { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import type { Logger } from "../log/logger.js";
import { type PublishOutcome, publishMetrics } from "../metrics/publish.js";
import { restoreSamples } from "../metrics/restore-metrics.js";
import { throwIfCancelled, UserError } from "../shared/errors.js";
import { ManifestError, ManifestReader, type MediaEntry } from "./manifest.js";
import { isWithin, parentOf, type RelPath, showPath, toBinary } from "./media-path.js";
import { chooseRemoteSnapshot, type StagedRemoteSnapshot, stageRemoteSnapshot } from "./remote-source.js";
import { openMediaRemote } from "./remote-store.js";
import { isRestorable, type Preflight, placeOf, preflight } from "./restore-preflight.js";
import {
  chooseSnapshot,
  existingTarget,
  parseRestorePath,
  realBackupDir,
  refuseOverlap,
} from "./restore-selection.js";
import { type ContentSource, EntryWriter, type Placed } from "./restore-writer.js";
import { MANIFEST_FILE, TREE_DIR } from "./snapshot-name.js";
import { readManifestSum } from "./snapshot-store.js";

/** How often the restore yields to the event loop (signals, timers). */
const YIELD_EVERY_MS = 50;
/** Names kept per list in the result (every one is in the log). */
const MAX_NAMED = 1000;
const CANCELLED = "The media restore was cancelled; entries already placed stay, no temporary file is left";

/** What a media restore did. Entries keep their path from the snapshot's root under `targetDir`. */
export interface MediaRestoreResult {
  readonly snapshot: string;
  readonly targetDir: string;
  readonly restorePath: string | undefined;
  /** Files copied out of the snapshot and checked; hard links to a file restored in this run are `hardLinks`. */
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  readonly hardLinks: number;
  /** Bytes copied (and hashed). */
  readonly bytes: number;
  /** Entries the snapshot has no data for (skipped or unreadable at backup time), named. */
  readonly skipped: readonly string[];
  /** Files not placed: their copy in the snapshot did not match the manifest's SHA-256 (or size), or could not be read. */
  readonly failed: readonly string[];
  readonly durationSeconds: number;
  /** From a bucket: where, and what was downloaded (object or range requests, bytes). */
  readonly remote?: { readonly location: string; readonly requests: number; readonly bytes: number };
  readonly metrics: PublishOutcome;
  /** 1 when a file failed; skipped entries alone do not fail a restore (the backup reported them). */
  readonly exitCode: 0 | 1;
}

/** How far a restore is, reported at most once a second: entries placed of those in scope, bytes written. */
export interface MediaRestoreProgress {
  readonly entries: number;
  readonly of: number;
  readonly bytes: number;
  readonly elapsedSeconds: number;
}

export interface RestoreMediaOptions {
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  readonly onProgress?: (p: MediaRestoreProgress) => void;
}

/**
 * Restores a media snapshot, or one path of it, into a target directory: every file's SHA-256 checked
 * against the manifest (a mismatch is not placed), modes, mtimes, owners (as root), symlinks and hard
 * links as in the source. A restore that would replace files (without overwrite) or write through a
 * symlink in the target is refused before anything is written; a manifest that does not match its
 * checksum, or that names an unsafe path, is refused before the target is even created.
 */
export async function restoreMedia(
  config: RestoreMediaConfig,
  options: RestoreMediaOptions,
): Promise<MediaRestoreResult> {
  const { logger, signal } = options;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const scope = parseRestorePath(config.restorePath);
  const staged = config.remote ? await stageFromBucket(config, logger, signal) : undefined;
  let snapshot: string;
  let targetDir: string;
  let done: Counts;
  try {
    const backupDir = staged ? undefined : realBackupDir(config.backupDir);
    snapshot = staged ? staged.snapshot : chooseSnapshot(backupDir as string, config);
    const snapshotDir = staged ? staged.dir : path.join(backupDir as string, snapshot);
    targetDir = path.resolve(config.targetDir);
    const existing = existingTarget(targetDir);
    if (backupDir) refuseOverlap(existing ?? targetDir, backupDir, config);
    logger.info(
      `Restoring ${scope === "" ? "" : `${showPath(scope)} of `}media snapshot ${snapshot}` +
        `${staged ? ` from ${staged.location}` : ""} into ${targetDir}` +
        (config.overwrite ? " (overwrite: existing files are replaced)" : ""),
    );
    const checked = await preflight({
      snapshotDir,
      snapshot,
      scope,
      target: existing === undefined ? undefined : toBinary(existing),
      targetShown: targetDir,
      overwrite: config.overwrite,
    });
    throwIfCancelled(signal, "The media restore was cancelled before anything was written");
    mkdirSync(targetDir, { recursive: true });
    // Resolved once: the operator's own path may hold symlinks; below it, none is ever followed.
    const target = realpathSync(targetDir);
    if (backupDir) refuseOverlap(target, backupDir, config);
    done = await restoreEntries({
      snapshotDir,
      tree: toBinary(path.join(snapshotDir, TREE_DIR)),
      target: toBinary(target),
      scope,
      checked,
      overwrite: config.overwrite,
      logger,
      signal,
      onProgress: options.onProgress,
      content: staged?.content,
    });
    if (staged) {
      logger.info(
        `Read ${staged.fetched.bytes} bytes in ${staged.fetched.requests} object or range requests from ${staged.location}`,
      );
    }
  } finally {
    staged?.dispose();
  }
  const exitCode = done.failed.length > 0 ? 1 : 0;
  const finishedAt = now();
  const durationSeconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  logger[exitCode === 0 ? "info" : "error"](
    `Restored ${snapshot} into ${targetDir}: ${done.files} files (${done.bytes} bytes), ${done.hardLinks} hard links, ` +
      `${done.symlinks} symlinks, ${done.dirs} directories; ${done.failed.length} failed, ${done.skipped.length} skipped`,
  );
  const metrics = await publishMetrics(
    config.metrics,
    { type: "media" },
    restoreSamples("media", { ok: exitCode === 0, finishedAt, durationSeconds }),
    logger,
    signal,
  );
  return {
    snapshot,
    targetDir,
    restorePath: scope === "" ? undefined : showPath(scope),
    ...done,
    durationSeconds,
    ...(staged ? { remote: { location: staged.location, ...staged.fetched } } : {}),
    metrics,
    exitCode,
  };
}

interface RestoreRun {
  readonly snapshotDir: string;
  readonly tree: string;
  readonly target: string;
  readonly scope: RelPath;
  readonly checked: Preflight;
  readonly overwrite: boolean;
  readonly logger: Logger;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((p: MediaRestoreProgress) => void) | undefined;
  readonly content: ContentSource | undefined;
}

type Counts = Pick<
  MediaRestoreResult,
  "files" | "dirs" | "symlinks" | "hardLinks" | "bytes" | "skipped" | "failed"
>;

/** The second pass: the manifest again, in walk order, each entry written as EntryWriter places it. */
async function restoreEntries(run: RestoreRun): Promise<Counts> {
  const { logger, signal, scope } = run;
  const writer = new EntryWriter(run.tree, run.target, run.overwrite, run.signal, run.content);
  const reader = ManifestReader.open(path.join(run.snapshotDir, MANIFEST_FILE));
  const counts = { files: 0, dirs: 0, symlinks: 0, hardLinks: 0, bytes: 0 };
  const skipped = new NamedList();
  const failed = new NamedList();
  const placedFirsts = new Set<RelPath>();
  // Directories get their mode, mtime and owner after their entries (post-order), like the builder's.
  const openDirs: { rel: RelPath; entry: MediaEntry; finish: boolean }[] = [];
  const closeDirsUntil = (parent: RelPath | undefined) => {
    for (let top = openDirs.at(-1); top; top = openDirs.at(-1)) {
      if (parent !== undefined && isWithin(parent, top.rel)) return;
      openDirs.pop();
      if (top.finish) writer.finishDir(top.rel, top.entry);
    }
  };
  let lastYield = Date.now();
  const started = Date.now();
  let lastProgress = started;
  let inScope = 0;
  try {
    for (let e = reader.next(); e !== undefined; e = reader.next()) {
      if (Date.now() - lastYield >= YIELD_EVERY_MS) {
        await nextTurn();
        lastYield = Date.now();
        throwIfCancelled(signal, CANCELLED);
        if (run.onProgress && lastYield - lastProgress >= 1000) {
          lastProgress = lastYield;
          run.onProgress({
            entries: inScope,
            of: run.checked.matched,
            bytes: counts.bytes,
            elapsedSeconds: (lastYield - started) / 1000,
          });
        }
      }
      const place = placeOf(e, scope);
      if (place === undefined) continue;
      inScope++;
      const shown = showPath(e.path);
      if (e.path !== "") {
        closeDirsUntil(parentOf(e.path));
        // The reader already refuses an entry outside a listed directory; this is the writer's own check.
        if (openDirs.at(-1)?.rel !== parentOf(e.path)) {
          throw new UserError(
            `${shown} in the snapshot has no directory restored before it; the restore stops`,
          );
        }
      }
      if (e.type === "dir") {
        const created = e.path === "" ? false : writer.makeDir(e.path);
        if (place === "in") counts.dirs++;
        if (place === "in" && e.state === "unreadable") {
          skipped.add(
            `${shown}/ (its contents could not be listed at backup time: ${e.error ?? "unreadable"})`,
          );
        }
        openDirs.push({ rel: e.path, entry: e, finish: place === "in" || created });
        continue;
      }
      if (!isRestorable(e)) {
        const why =
          e.state === "unreadable"
            ? `unreadable at backup time: ${e.error ?? "?"}`
            : `a ${e.type}, not backed up`;
        skipped.add(`${shown} (${why})`);
        logger.warn(`Not restored: ${shown} (${why}); the snapshot has no data for it`);
        continue;
      }
      let placed: Placed;
      let linked = false;
      if (e.type === "symlink") placed = await writer.symlink(e);
      else if (e.linkTo !== undefined && placedFirsts.has(e.linkTo)) {
        placed = await writer.hardLink(e, e.linkTo);
        linked = placed.ok;
        if (!placed.ok) placed = await writer.file(e); // EMLINK, say: an independent copy then
      } else placed = await writer.file(e);
      if (!placed.ok) {
        failed.add(`${shown} (${placed.why})`);
        logger.error(`Not restored: ${shown}: ${placed.why}`);
        continue;
      }
      if (e.type === "symlink") counts.symlinks++;
      else if (linked) counts.hardLinks++;
      else {
        counts.files++;
        counts.bytes += placed.bytes;
      }
      if (run.checked.linkTargets.has(e.path)) placedFirsts.add(e.path);
    }
    closeDirsUntil(undefined);
    if (reader.digest() !== (await readManifestSum(run.snapshotDir))) {
      throw new ManifestError(
        `The manifest of ${run.snapshotDir} changed while it was restored from: the restore cannot vouch for what it wrote; restore again`,
      );
    }
  } catch (err) {
    writer.cleanUp();
    throw err;
  } finally {
    reader.close();
  }
  return { ...counts, skipped: skipped.list(), failed: failed.list() };
}

/** A list of names that stops growing at MAX_NAMED (the log has every one). */
class NamedList {
  private readonly names: string[] = [];
  private more = 0;
  add(name: string): void {
    if (this.names.length < MAX_NAMED) this.names.push(name);
    else this.more++;
  }
  list(): string[] {
    return this.more > 0 ? [...this.names, `… and ${this.more} more (see the log)`] : this.names;
  }
}

/** The bucket's snapshot, staged: its manifest checked and local, its contents read by byte range. */
async function stageFromBucket(
  config: RestoreMediaConfig,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<StagedRemoteSnapshot & { readonly location: string }> {
  const source = config.remote as NonNullable<RestoreMediaConfig["remote"]>;
  const remote = await openMediaRemote(source.destination, source.prefix, logger, signal);
  const snap = await chooseRemoteSnapshot(remote, config.snapshot);
  // A key given is always prepared: a plain snapshot can still name objects sealed by earlier runs.
  const keyring =
    snap.encrypted || config.gpgPrivateKey !== undefined
      ? await GpgDecryptKeyring.prepare(config.gpgPrivateKey)
      : undefined;
  try {
    const staged = await stageRemoteSnapshot(remote, snap, {
      keyring,
      signal,
      stallMs: source.destination.settings.transfer.requestTimeoutMs,
    });
    return {
      ...staged,
      location: remote.location,
      dispose: () => {
        staged.dispose();
        void keyring?.dispose();
      },
    };
  } catch (err) {
    await keyring?.dispose();
    throw err;
  }
}
