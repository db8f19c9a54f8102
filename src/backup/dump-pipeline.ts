import path from "node:path";
import { Duplex, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { UserError } from "../config/errors.js";
import type { GpgEncryptor } from "../crypto/gpg.js";
import { CUSTOM_DUMP_MAGIC, PLAIN_DUMP_TRAILER, startPgDump, TRAILER_WINDOW } from "../db/pg-dump.js";
import type { PgTool } from "../db/pg-tools.js";
import type { AtomicFile } from "../fs/atomic-file.js";
import type { ChildStage } from "../process/child-stage.js";
import type { DumpFormat, PipelineStage } from "./compression.js";
import { MemoryBound } from "./memory-bound.js";
import { DigestTap, EdgeTap } from "./stream-taps.js";

export interface DumpPipelineResult {
  /** Bytes pg_dump produced. */
  readonly dumpBytes: number;
  /** SHA-256 and size of the final file (after compression and encryption). */
  readonly sha256: string;
  readonly fileBytes: number;
}

export interface DumpPipelineOptions {
  readonly pgDump: PgTool;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly format: DumpFormat;
  readonly compressor: PipelineStage | undefined;
  readonly encryptor: GpgEncryptor | undefined;
  readonly output: AtomicFile;
  readonly backupDir: string;
  readonly signal?: AbortSignal;
}

/** Rewrites a failure while writing the backup so that it says what happened to which file. */
function writeFailure(err: unknown, tempPath: string, backupDir: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOSPC" || e.code === "EDQUOT") {
    return new UserError(
      `No space left on the device of BACKUP_DIR '${backupDir}' while writing ${path.basename(tempPath)}: ` +
        `free space (df -h ${backupDir}) or lower the retention; the partial file was removed and earlier backups are untouched`,
      { cause: err },
    );
  }
  if (e.code === "EIO" || e.code === "EROFS") {
    return new UserError(
      `Cannot write to BACKUP_DIR '${backupDir}' (${e.code}): check the disk and its mount`,
      { cause: err },
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * pg_dump → [compressor] → [gpg] → sha256 → partial file, in one streamed pass with backpressure end to
 * end. Resolves only when every stage succeeded and the dump is complete (plain: pg_dump's trailer;
 * custom: the archive magic); the caller then commits the file. On any failure every child is stopped.
 */
export async function runDumpPipeline(options: DumpPipelineOptions): Promise<DumpPipelineResult> {
  const dump = startPgDump(options.pgDump, options.args, options.env);
  const gpg: ChildStage | undefined = options.encryptor?.start();
  const children = [
    dump,
    ...(options.compressor?.child ? [options.compressor.child] : []),
    ...(gpg ? [gpg] : []),
  ];
  const stopAll = () => {
    for (const c of children) c.kill();
  };
  options.signal?.addEventListener("abort", stopAll, { once: true });

  const edge = new EdgeTap(TRAILER_WINDOW, CUSTOM_DUMP_MAGIC.length);
  const digest = new DigestTap();
  const stages: NodeJS.ReadWriteStream[] = [new MemoryBound(), edge];
  if (options.compressor) stages.push(options.compressor.stream);
  if (gpg) stages.push(Duplex.from({ writable: gpg.stdin!, readable: gpg.stdout }));
  stages.push(digest);
  try {
    const written = pipeline(dump.stdout, ...(stages as [Transform]), options.output.stream);
    // Whichever fails first is the cause: a write error (disk full) stops pg_dump; a pg_dump failure is
    // reported in its own words even though the pipeline then ends normally.
    await Promise.all([
      written.catch((err: unknown) => {
        stopAll();
        throw writeFailure(err, options.output.tempPath, options.backupDir);
      }),
      ...children.map((c) => c.exited),
    ]);
  } catch (err) {
    stopAll();
    if (options.signal?.aborted) {
      throw new UserError(
        "The backup was cancelled; the partial file was removed and earlier backups are untouched",
        { cause: err },
      );
    }
    throw err;
  } finally {
    options.signal?.removeEventListener("abort", stopAll);
  }

  if (edge.bytes === 0) throw new Error("pg_dump exited 0 but wrote nothing; no backup file was written");
  if (options.format === "plain" && !edge.tail().toString("utf8").includes(PLAIN_DUMP_TRAILER)) {
    throw new Error(
      `pg_dump's output ended without '${PLAIN_DUMP_TRAILER}' after ${edge.bytes} bytes: the dump is incomplete`,
    );
  }
  if (options.format === "custom" && edge.head().toString("latin1") !== CUSTOM_DUMP_MAGIC) {
    throw new Error(`pg_dump's output does not start with the custom-format magic '${CUSTOM_DUMP_MAGIC}'`);
  }
  return { dumpBytes: edge.bytes, sha256: digest.hex(), fileBytes: digest.bytes };
}
