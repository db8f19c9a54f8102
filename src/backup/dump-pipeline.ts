import path from "node:path";
import { Duplex, type Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { GpgEncryptor } from "../crypto/gpg.js";
import { CUSTOM_DUMP_MAGIC, PLAIN_DUMP_TRAILER, startPgDump, TRAILER_WINDOW } from "../db/pg-dump.js";
import type { PgTool } from "../db/pg-tools.js";
import type { AtomicFile } from "../fs/atomic-file.js";
import type { ChildStage } from "../process/child-stage.js";
import { UserError } from "../shared/errors.js";
import {
  type Compression,
  createCompressor,
  type DumpFormat,
  startDirectZstd,
} from "../stream/compression.js";
import { CopyRowCounter } from "../stream/copy-row-counter.js";
import { MemoryBound } from "../stream/memory-bound.js";
import { DigestTap, DumpStreamTap } from "../stream/stream-taps.js";

export interface DumpPipelineResult {
  /** Bytes pg_dump produced; null when zstd read them directly and its report could not be read. */
  readonly dumpBytes: number | null;
  /** SHA-256 and size of the final file (after compression and encryption). */
  readonly sha256: string;
  readonly fileBytes: number;
  /** Rows per table ("schema.table") counted in the dump stream, when asked. */
  readonly rowCounts: ReadonlyMap<string, number> | undefined;
  /** How the bytes travelled, for the log. */
  readonly topology: string;
}

export interface DumpPipelineOptions {
  readonly pgDump: PgTool;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly format: DumpFormat;
  /** Compression of the plain format (custom-format archives compress inside pg_dump). */
  readonly compression: Compression;
  readonly level: number;
  readonly threads: number;
  /** Count COPY rows in the stream (plain format only). */
  readonly countRows: boolean;
  readonly encryptor: GpgEncryptor | undefined;
  readonly output: AtomicFile;
  /** Where the final bytes go when not only to the output file (a FanOut to the clouds as well). */
  readonly sink?: NodeJS.WritableStream;
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

function isPipeError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ERR_STREAM_DESTROYED";
}

/** A pass-through stage that only keeps memory flat (for compressed bytes, which need no inspection). */
class BoundedPassThrough extends Transform {
  private readonly bound = new MemoryBound();
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bound.observe(chunk.length);
    done(null, chunk);
  }
}

/**
 * pg_dump → compression → [gpg] → sha256 → partial file, in one streamed pass with backpressure end to
 * end. Two topologies:
 * - raw bytes through Node (gzip, none, or any plain dump whose rows are counted): one tap checks
 *   pg_dump's completion trailer (plain) or archive magic (custom) and counts COPY rows;
 * - zstd without row counting: pg_dump's stdout feeds the zstd program through a kernel pipe, exactly
 *   like `pg_dump | zstd`, and Node sees only compressed bytes; pg_dump's and zstd's exit statuses
 *   vouch for completeness, and zstd reports the byte count.
 * Resolves only when every stage succeeded; on any failure every child is stopped.
 */
export async function runDumpPipeline(options: DumpPipelineOptions): Promise<DumpPipelineResult> {
  const dump = startPgDump(options.pgDump, options.args, options.env);
  const plain = options.format === "plain";
  const direct =
    plain && options.compression === "zstd" && !options.countRows
      ? startDirectZstd(dump.stdout, options.level, options.threads)
      : undefined;
  const inNode =
    plain && !direct ? createCompressor(options.compression, options.level, options.threads) : undefined;
  const gpg: ChildStage | undefined = options.encryptor?.start();
  const children = [
    dump,
    ...(direct ? [direct.child] : []),
    ...(inNode?.child ? [inNode.child] : []),
    ...(gpg ? [gpg] : []),
  ];
  const stopAll = () => {
    for (const c of children) c.kill();
  };
  options.signal?.addEventListener("abort", stopAll, { once: true });
  if (options.signal?.aborted) stopAll(); // cancelled while the children were starting

  const tap = direct
    ? undefined
    : new DumpStreamTap(
        plain && options.countRows ? new CopyRowCounter() : undefined,
        TRAILER_WINDOW,
        CUSTOM_DUMP_MAGIC.length,
      );
  const digest = new DigestTap();
  const source: Readable = direct ? direct.child.stdout : dump.stdout;
  const stages: NodeJS.ReadWriteStream[] = [tap ?? new BoundedPassThrough()];
  if (inNode) stages.push(inNode.stream);
  if (gpg) stages.push(Duplex.from({ writable: gpg.stdin!, readable: gpg.stdout }));
  stages.push(digest);
  try {
    const written = pipeline(source, ...(stages as [Transform]), options.sink ?? options.output.stream);
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
    // Every child is gone before we return: the caller then releases the lock and removes the temporary
    // GPG home, which must not happen under a still-running pg_dump or gpg.
    const settled = await Promise.allSettled(children.map((c) => c.exited));
    if (options.signal?.aborted) {
      throw new UserError(
        "The backup was cancelled; the partial file was removed and earlier backups are untouched",
        { cause: err },
      );
    }
    // A stage that dies mid-stream (zstd, gpg) usually surfaces first as EPIPE on its stdin: its own
    // exit status and stderr say what really happened.
    if (isPipeError(err)) {
      const own = settled.find(
        (r): r is PromiseRejectedResult =>
          r.status === "rejected" && !/killed by SIGTERM/.test((r.reason as Error).message),
      );
      if (own) throw own.reason;
    }
    throw err;
  } finally {
    options.signal?.removeEventListener("abort", stopAll);
  }

  // With zstd reading pg_dump directly, both exit statuses vouch for completeness; the byte count is
  // zstd's report, recorded as unknown when an unfamiliar zstd words it differently.
  const dumpBytes = tap ? tap.bytes : (direct?.inputBytes() ?? null);
  if (dumpBytes === 0) throw new Error("pg_dump exited 0 but wrote nothing; no backup file was written");
  if (tap && plain && !tap.tail().toString("utf8").includes(PLAIN_DUMP_TRAILER)) {
    throw new Error(
      `pg_dump's output ended without '${PLAIN_DUMP_TRAILER}' after ${dumpBytes ?? "?"} bytes: the dump is incomplete`,
    );
  }
  if (tap && !plain && tap.head().toString("latin1") !== CUSTOM_DUMP_MAGIC) {
    throw new Error(`pg_dump's output does not start with the custom-format magic '${CUSTOM_DUMP_MAGIC}'`);
  }
  return {
    dumpBytes,
    sha256: digest.hex(),
    fileBytes: digest.bytes,
    rowCounts: tap?.rowCounter?.counts,
    topology: direct?.description ?? inNode?.description ?? "custom format, compressed by pg_dump",
  };
}
