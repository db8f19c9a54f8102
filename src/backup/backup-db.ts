import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip, constants as zlibConstants } from "node:zlib";
import type { BackupDbConfig } from "../config/backup-db-config.js";
import { describeTarget, libpqEnvironment } from "../config/database-url.js";
import { UserError } from "../config/errors.js";
import { PgDumpError, PLAIN_DUMP_TRAILER, startPgDump, TRAILER_WINDOW } from "../db/pg-dump.js";
import { choosePgTool, type PgTool } from "../db/pg-tools.js";
import { inspectServer, type ServerInfo } from "../db/server-info.js";
import { AtomicFile, removeStalePartials, writeFileAtomic } from "../fs/atomic-file.js";
import { FileSink, type Logger } from "../log/logger.js";
import { LIFELINE_VERSION } from "../version.js";
import { BackupName, formatTimestamp } from "./backup-name.js";
import { type BackupManifest, CHECKSUM_SUFFIX, checksumLine, MANIFEST_SUFFIX } from "./manifest.js";
import { DigestTap, TailTap } from "./stream-taps.js";

export interface BackupDbResult {
  readonly file: string;
  readonly sidecarFile: string;
  readonly manifestFile: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly dumpBytes: number;
  readonly durationSeconds: number;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly database: string;
  readonly server: ServerInfo;
  readonly pgDump: PgTool;
  readonly logFile: string;
  readonly manifest: BackupManifest;
}

export interface BackupDbOptions {
  readonly logger: Logger;
  /** The clock, for tests; backup names use its UTC time. */
  readonly now?: () => Date;
  /** Aborting stops pg_dump and removes the partial file (e.g. on SIGINT/SIGTERM). */
  readonly signal?: AbortSignal;
}

const ymd = (at: Date): string => formatTimestamp(at).slice(0, 8);

/** Creates a directory (and parents), turning permission and filesystem errors into advice. */
async function ensureDirectory(dir: string, what: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o750 });
    const probe = await AtomicFile.create(path.join(dir, ".lifeline-write-test"));
    await probe.abort();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UserError(
      `${what} '${dir}' is not writable (${e.code ?? e.message}): create it and give this user write access ` +
        `(e.g. chown -R $(id -un) ${dir}), or point BACKUP_DIR elsewhere`,
      { cause: err },
    );
  }
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
      {
        cause: err,
      },
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Takes one database backup into BACKUP_DIR/daily: pg_dump → gzip → file in a single streamed pass,
 * with the SHA-256 computed on the way. The file appears under its final name only when pg_dump has
 * exited 0, the dump is complete, and the bytes are on disk; any failure leaves earlier backups untouched.
 */
export async function backupDatabase(
  config: BackupDbConfig,
  options: BackupDbOptions,
): Promise<BackupDbResult> {
  const { logger } = options;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  logger.addSecret(config.connection.password);

  const dailyDir = path.join(config.backupDir, "daily");
  const logsDir = path.join(config.backupDir, "logs");
  await ensureDirectory(config.backupDir, "BACKUP_DIR");
  await ensureDirectory(dailyDir, "Backup directory");
  await ensureDirectory(logsDir, "Log directory");
  const logFile = path.join(logsDir, `backup_${ymd(startedAt)}.log`);
  const fileSink = new FileSink(logFile);
  logger.addSink(fileSink);

  try {
    const target = describeTarget(config.connection);
    logger.info(`Backing up ${target} into ${dailyDir}`);
    const server = await inspectServer(config.connection);
    const pgDump = await choosePgTool("pg_dump", server.major, config.pgBinDir);
    logger.info(`Server PostgreSQL ${server.version}; using pg_dump ${pgDump.version} (${pgDump.path})`);

    for (const stale of await removeStalePartials(dailyDir)) {
      logger.warn(`Removed a partial file left by an earlier run that died: ${stale}`);
    }

    const name = new BackupName(config.prefix ?? server.database, "daily", startedAt, "sql.gz");
    const file = path.join(dailyDir, name.toString());
    const output = await AtomicFile.create(file);
    const dump = startPgDump(pgDump, ["--format=plain"], libpqEnvironment(config.connection));
    const onAbort = () => dump.kill();
    options.signal?.addEventListener("abort", onAbort, { once: true });

    const raw = new TailTap(TRAILER_WINDOW);
    const digest = new DigestTap();
    try {
      const written = pipeline(
        dump.stdout,
        raw,
        createGzip({
          level: config.compressionLevel,
          chunkSize: 64 * 1024,
          strategy: zlibConstants.Z_DEFAULT_STRATEGY,
        }),
        digest,
        output.stream,
      );
      // Whichever fails first is the cause: a write error (disk full) stops pg_dump; a pg_dump failure
      // is reported in its own words even though the pipeline then ends normally.
      await Promise.all([
        written.catch((err: unknown) => {
          dump.kill();
          throw writeFailure(err, output.tempPath, config.backupDir);
        }),
        dump.exited,
      ]);
      if (raw.bytes === 0)
        throw new PgDumpError("pg_dump exited 0 but wrote nothing; no backup file was written");
      if (!raw.tail().toString("utf8").includes(PLAIN_DUMP_TRAILER)) {
        throw new PgDumpError(
          `pg_dump's output ended without '${PLAIN_DUMP_TRAILER}' after ${raw.bytes} bytes: the dump is incomplete`,
        );
      }
      await output.commit();
    } catch (err) {
      await output.abort();
      dump.kill();
      if (options.signal?.aborted) {
        throw new UserError(
          "The backup was cancelled; the partial file was removed and earlier backups are untouched",
          {
            cause: err,
          },
        );
      }
      throw err instanceof UserError || err instanceof PgDumpError
        ? err
        : new Error(`Backup of ${target} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }

    const finishedAt = now();
    const sha256 = digest.hex();
    const sizeBytes = (await stat(file)).size;
    const durationSeconds = Math.max(0.001, (finishedAt.getTime() - startedAt.getTime()) / 1000);
    const manifest: BackupManifest = {
      manifestVersion: 1,
      tool: { name: "lifeline", version: LIFELINE_VERSION },
      file: name.toString(),
      tier: "daily",
      database: server.database,
      server: { version: server.version, versionNum: server.versionNum, target },
      pgDump: { version: pgDump.version, path: pgDump.path },
      format: "plain",
      extension: name.extension,
      compression: { algorithm: "gzip", level: config.compressionLevel },
      encryption: null,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds,
      dumpBytes: raw.bytes,
      sizeBytes,
      sha256,
    };
    const manifestFile = `${file}${MANIFEST_SUFFIX}`;
    const sidecarFile = `${file}${CHECKSUM_SUFFIX}`;
    await writeFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
    // The sidecar is written last: its presence marks a backup as complete.
    await writeFileAtomic(sidecarFile, checksumLine(sha256, name.toString()));
    logger.info(
      `Backup written: ${file} (${sizeBytes} bytes, ${raw.bytes} bytes uncompressed, ${durationSeconds.toFixed(1)} s, sha256 ${sha256})`,
    );
    return {
      file,
      sidecarFile,
      manifestFile,
      sha256,
      sizeBytes,
      dumpBytes: raw.bytes,
      durationSeconds,
      startedAt,
      finishedAt,
      database: server.database,
      server,
      pgDump,
      logFile,
      manifest,
    };
  } catch (err) {
    // The adapter reports the failure to the operator; the day's log file keeps it too.
    fileSink.write("error", logger.redact((err as Error).message), new Date());
    throw err;
  } finally {
    logger.removeSink(fileSink);
  }
}
