import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, statSync } from "node:fs";
import path from "node:path";
import { prepare } from "../backup/stages/prepare.js";
import type { BackupMediaConfig } from "../config/media-config.js";
import { NameTakenError } from "../fs/atomic-file.js";
import { removeTree } from "../fs/remove-tree.js";
import type { Logger } from "../log/logger.js";
import { backupSamples } from "../metrics/backup-metrics.js";
import { gauge } from "../metrics/exposition.js";
import { type PublishOutcome, publishMetrics } from "../metrics/publish.js";
import { ConfigError, throwIfCancelled } from "../shared/errors.js";
import { LIFELINE_VERSION } from "../version.js";
import { ManifestReader, type ManifestTotals, ManifestWriter } from "./manifest.js";
import { type MediaOffsiteReport, type OffsiteProgress, sendOffsite } from "./media-offsite.js";
import { toBinary } from "./media-path.js";
import { applyMediaRetention, type MediaRetentionOutcome, planMediaRetention } from "./media-retention.js";
import { type BuildProblems, type BuildProgress, buildSnapshot } from "./snapshot-builder.js";
import { isLeftover, MANIFEST_FILE, partialName, snapshotName, TREE_DIR } from "./snapshot-name.js";
import {
  listSnapshots,
  readCurrent,
  readWholeManifest,
  swapCurrent,
  syncDir,
  writeManifestSum,
} from "./snapshot-store.js";
import { ExcludeRules } from "./tree-walk.js";

export interface BackupMediaResult {
  readonly snapshot: string;
  readonly snapshotDir: string;
  readonly previous: string | undefined;
  readonly mode: "incremental" | "full";
  readonly totals: ManifestTotals;
  readonly problems: BuildProblems;
  readonly largestCopied: readonly { readonly path: string; readonly size: number }[];
  readonly manifestSha256: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationSeconds: number;
  readonly logFile: string;
  /** Skipped (with why) when the snapshot recorded errors: retention runs after a clean snapshot only. */
  readonly retention: MediaRetentionOutcome | { readonly skipped: string } | { readonly error: string };
  readonly metrics: PublishOutcome;
  /** One report per configured bucket (empty: local only). */
  readonly offsite: readonly MediaOffsiteReport[];
  /** 0, or 1 when a file could not be read (the snapshot holds the rest and is published) or a bucket failed. */
  readonly exitCode: 0 | 1;
}

export interface BackupMediaOptions {
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: BuildProgress & { readonly previousEntries?: number }) => void;
  /** Bytes read for the off-site copies, as they go. */
  readonly onUploadBytes?: (bytes: number) => void;
  /** The off-site copies' progress, at most once a second. */
  readonly onUploadProgress?: (p: OffsiteProgress) => void;
}

/**
 * Takes one media snapshot (runbook: backup_media.sh): the source tree copied into
 * MEDIA_BACKUP_DIR/.media_<time>.partial, unchanged files hard-linked to the previous snapshot, with a
 * manifest of every entry; renamed to media_<time> and `current` moved to it only when complete. A
 * run that dies leaves the previous snapshot and `current` as they were.
 */
export async function backupMedia(
  config: BackupMediaConfig,
  options: BackupMediaOptions,
): Promise<BackupMediaResult> {
  const { logger, signal } = options;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const source = checkSource(config);
  const run = await prepare({
    backupDir: config.backupDir,
    workDir: "",
    workDirWhat: "MEDIA_BACKUP_DIR",
    logName: "media_backup",
    owner: "backup-media",
    startedAt,
    logger,
  });
  try {
    const backupDir = realpathSync(config.backupDir);
    removeLeftovers(backupDir, logger);
    const name = snapshotName(startedAt);
    const finalDir = path.join(backupDir, name);
    if (existsSync(finalDir)) {
      throw new NameTakenError(
        `A snapshot named ${name} already exists in ${backupDir} (a run started in the same second): it was left ` +
          "as it is and no new snapshot was taken. Run again a second later",
      );
    }
    const previous = config.full ? undefined : findPrevious(backupDir, logger);
    const previousCheck = previous ? await checkPrevious(path.join(backupDir, previous), logger) : undefined;
    const partialDir = path.join(backupDir, partialName(name));
    mkdirSync(partialDir, { mode: 0o700 });
    const tree = path.join(partialDir, TREE_DIR);
    mkdirSync(tree, { mode: 0o700 });
    const mode = previousCheck ? "incremental" : "full";
    logger.info(
      `Backing up ${config.sourceDir} into ${finalDir} (${mode}${previousCheck ? `, unchanged files linked to ${previous}` : ""})`,
    );
    const writer = ManifestWriter.create(path.join(partialDir, MANIFEST_FILE), {
      format: "lifeline-media-manifest",
      version: 1,
      snapshot: name,
      source: config.sourceDir,
      createdAt: startedAt.toISOString(),
      tool: `lifeline ${LIFELINE_VERSION}`,
      mode,
      previous: previousCheck ? (previous as string) : null,
    });
    let reader: ManifestReader | undefined;
    let built: Awaited<ReturnType<typeof buildSnapshot>>;
    let manifestSha256: string;
    try {
      reader = previousCheck
        ? ManifestReader.open(path.join(backupDir, previous as string, MANIFEST_FILE))
        : undefined;
      built = await buildSnapshot({
        source,
        tree: toBinary(tree),
        ...(reader
          ? {
              previous: {
                tree: toBinary(path.join(backupDir, previous as string, TREE_DIR)),
                manifest: reader,
              },
            }
          : {}),
        exclude: new ExcludeRules(config.exclude),
        manifest: writer,
        logger,
        signal,
        ...(options.onProgress
          ? {
              onProgress: (p: BuildProgress) =>
                options.onProgress?.({
                  ...p,
                  ...(previousCheck ? { previousEntries: previousCheck.entries } : {}),
                }),
            }
          : {}),
      });
      throwIfCancelled(signal, "The media backup was cancelled; the partial snapshot is removed");
      manifestSha256 = writer.finish(built.totals).sha256;
      await writeManifestSum(partialDir, manifestSha256);
      renameSync(partialDir, finalDir);
      syncDir(backupDir);
    } catch (err) {
      writer.abandon();
      removeQuietly(partialDir, logger);
      throw err;
    } finally {
      reader?.close();
    }
    swapCurrent(backupDir, name);
    const { totals, problems } = built;
    logger.info(
      `Snapshot ${name}: ${totals.files} files (${totals.newFiles} new, ${totals.changedFiles} changed, ` +
        `${totals.unchangedFiles} unchanged, ${totals.deletedFiles} deleted), ${totals.bytesCopied} bytes copied, ` +
        `${totals.bytesLinked} linked; current -> ${name}`,
    );
    const clean = totals.errors === 0;
    let retention: BackupMediaResult["retention"];
    if (!clean) {
      retention = {
        skipped: `the snapshot recorded ${totals.errors} unreadable entr${totals.errors === 1 ? "y" : "ies"}`,
      };
      logger.warn(`Retention skipped: ${retention.skipped}; it runs after a complete snapshot only`);
    } else {
      try {
        const plan = await planMediaRetention(listSnapshots(backupDir), {
          now: now(),
          days: config.retentionDays,
          current: readCurrent(backupDir).name,
        });
        retention = applyMediaRetention(backupDir, plan, { dryRun: config.retentionDryRun, logger });
      } catch (err) {
        retention = { error: (err as Error).message };
        logger.error(`Retention failed: ${(err as Error).message}`);
      }
    }
    const offsite = config.offsite
      ? await sendOffsite({
          config: config.offsite,
          backupDir,
          snapshotDir: finalDir,
          snapshot: name,
          clean,
          recheck: config.full,
          retentionDays: config.retentionDays,
          dryRun: config.retentionDryRun,
          now,
          logger,
          signal,
          ...(options.onUploadBytes ? { onBytes: options.onUploadBytes } : {}),
          ...(options.onUploadProgress ? { onProgress: options.onUploadProgress } : {}),
        })
      : [];
    throwIfCancelled(
      signal,
      `The media backup was cancelled during the off-site copies; the local snapshot ${name} stands`,
    );
    const exitCode = clean && offsite.every((o) => o.ok) ? 0 : 1;
    const finishedAt = now();
    const durationSeconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
    const metrics = await publishMetrics(
      config.metrics,
      { type: "media" },
      [
        ...backupSamples(
          "media",
          {
            ok: exitCode === 0,
            finishedAt,
            durationSeconds,
            ...(clean ? { sizeBytes: totals.bytes } : {}),
          },
          offsite.map((o) => ({
            kind: o.kind,
            location: o.location,
            ok: o.ok,
            bytes: o.bytes,
            seconds: o.seconds,
          })),
        ),
        gauge("backup_media_files", "Files in the latest media snapshot", { type: "media" }, totals.files),
        gauge(
          "backup_media_new_bytes",
          "Bytes copied (new or changed files) by the latest media snapshot",
          { type: "media" },
          totals.bytesCopied,
        ),
      ],
      logger,
      signal,
    );
    if (!clean) run.recordFailure(new Error(`${totals.errors} entries could not be read; see the log above`));
    for (const o of offsite.filter((r) => !r.ok)) run.recordFailure(new Error(`${o.location}: ${o.error}`));
    return {
      snapshot: name,
      snapshotDir: finalDir,
      previous: previousCheck ? previous : undefined,
      mode,
      totals,
      problems,
      largestCopied: built.largestCopied,
      manifestSha256,
      startedAt,
      finishedAt,
      durationSeconds,
      logFile: run.logFile,
      retention,
      metrics,
      offsite,
      exitCode,
    };
  } catch (err) {
    run.recordFailure(err);
    throw err;
  } finally {
    await run.release();
  }
}

/** The source as a binary path, refused when missing, not a directory, or overlapping MEDIA_BACKUP_DIR. */
function checkSource(config: BackupMediaConfig): string {
  let real: string;
  try {
    real = realpathSync(config.sourceDir);
    if (!statSync(real).isDirectory()) throw new Error("it is not a directory");
  } catch (err) {
    throw new ConfigError(
      `MEDIA_SOURCE_DIR '${config.sourceDir}' cannot be backed up: ${(err as Error).message}. Set it to the media directory`,
    );
  }
  const inside = (a: string, b: string) => a === b || a.startsWith(`${b}/`);
  const backupResolved = resolveAsItWillBe(config.backupDir);
  if (inside(backupResolved, real) || inside(real, backupResolved)) {
    throw new ConfigError(
      `MEDIA_BACKUP_DIR '${config.backupDir}' and MEDIA_SOURCE_DIR '${config.sourceDir}' overlap: snapshots would ` +
        "back themselves up. Keep the backup directory outside the media directory (and the other way round)",
    );
  }
  return toBinary(real);
}

/** The real path a directory has, or will have once created: its nearest existing ancestor resolved. */
function resolveAsItWillBe(dir: string): string {
  let existing = path.resolve(dir);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(existing), ...rest.reverse());
    } catch {
      const parent = path.dirname(existing);
      if (parent === existing) return path.resolve(dir);
      rest.push(path.basename(existing));
      existing = parent;
    }
  }
}

/** The snapshot an incremental run links against: the one `current` names, else the newest. */
function findPrevious(backupDir: string, logger: Logger): string | undefined {
  const current = readCurrent(backupDir);
  if (current.problem) logger.warn(`${current.problem}; linking against the newest snapshot instead`);
  if (current.name && existsSync(path.join(backupDir, current.name))) return current.name;
  return listSnapshots(backupDir)[0]?.name;
}

/** Reads the previous manifest against its checksum first: links are only made to a snapshot it vouches for. */
async function checkPrevious(snapshotDir: string, logger: Logger): Promise<{ entries: number } | undefined> {
  try {
    const { totals } = await readWholeManifest(snapshotDir);
    return { entries: totals.entries };
  } catch (err) {
    logger.warn(
      `${(err as Error).message}. This run copies every file (a full snapshot) instead of linking to it`,
    );
    return undefined;
  }
}

/** Partial snapshots of runs that died and deletions retention did not finish: removed under the lock. */
function removeLeftovers(backupDir: string, logger: Logger): void {
  for (const name of readdirSync(backupDir)) {
    if (!isLeftover(name)) continue;
    if (removeQuietly(path.join(backupDir, name), logger)) {
      logger.warn(`Removed ${name}, left by an earlier run that died`);
    }
  }
}

function removeQuietly(dir: string, logger: Logger): boolean {
  try {
    removeTree(dir);
    return true;
  } catch (err) {
    logger.warn(`Could not remove ${dir}: ${(err as Error).message}; the next run tries again`);
    return false;
  }
}
