import { execFileSync } from "node:child_process";
import { Duplex, PassThrough, type Readable, type Transform } from "node:stream";
import zlib from "node:zlib";
import { type ChildStage, childEnvironment, startChildStage } from "../process/child-stage.js";
import { UserError } from "../shared/errors.js";
import { ParallelGzip } from "./parallel-gzip.js";

export const COMPRESSIONS = ["gzip", "zstd", "none"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const FORMATS = ["plain", "custom"] as const;
export type DumpFormat = (typeof FORMATS)[number];

/** Valid levels and the default for each compression. */
export const LEVELS: Record<Compression, { min: number; max: number; default: number }> = {
  gzip: { min: 1, max: 9, default: 6 },
  zstd: { min: 1, max: 19, default: 3 },
  none: { min: 0, max: 0, default: 0 },
};

/** Whether this Node has zstd in zlib (22.15+, 23.8+; always on the node24 action runtime). */
export const hasZstd = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === "function";

const installed = new Map<string, boolean>();
/** Whether a program runs here (`<name> --version` exits 0); probed once per name. */
function hasProgram(name: string): boolean {
  let found = installed.get(name);
  if (found === undefined) {
    try {
      execFileSync(name, ["--version"], { stdio: "ignore", timeout: 5000, env: childEnvironment() });
      found = true;
    } catch {
      found = false;
    }
    installed.set(name, found);
  }
  return found;
}
const hasZstdBinary = () => hasProgram("zstd");

/** One stage of the dump pipeline: a stream, and the child process behind it when there is one. */
export interface PipelineStage {
  readonly stream: Duplex;
  readonly child?: ChildStage;
  readonly description: string;
}

/**
 * Compressor for the plain-format stream. gzip: independent members compressed in parallel on the
 * thread pool. zstd: the zstd program with `threads` workers when installed — Node's own zstd loses
 * data-end flushes when multithreaded (ERR_STREAM_PUSH_AFTER_EOF), so it is only the single-threaded
 * fallback.
 */
export function createCompressor(compression: Compression, level: number, threads: number): PipelineStage {
  switch (compression) {
    case "gzip":
      return { stream: new ParallelGzip({ level }), description: `gzip -${level}, parallel members` };
    case "zstd": {
      if (hasZstdBinary()) {
        const child = startChildStage("zstd", "zstd", ["-q", `-${level}`, `-T${threads}`, "-c"], {
          stdin: true,
        });
        return {
          stream: Duplex.from({ writable: child.stdin!, readable: child.stdout }),
          child,
          description: `zstd -${level} -T${threads}`,
        };
      }
      if (!hasZstd) {
        throw new UserError(
          `Compression zstd needs the zstd program (apt-get install zstd) or Node.js 22.15+ (this is ${process.version})`,
        );
      }
      const stream: Transform = zlib.createZstdCompress({
        params: { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 1 },
      });
      return { stream, description: `zstd -${level} (Node, single-threaded: install zstd for more)` };
    }
    case "none":
      return { stream: new PassThrough(), description: "none" };
  }
}

/** Decompressor matching a file's compression, for verification. */
export function createDecompressor(compression: Compression): Transform {
  switch (compression) {
    case "gzip":
      return zlib.createGunzip();
    case "zstd":
      if (!hasZstd)
        throw new UserError(`Reading zstd needs Node.js 22.15 or newer (this is ${process.version})`);
      return zlib.createZstdDecompress();
    case "none":
      return new PassThrough();
  }
}

/**
 * The program that decompresses fastest here, reading stdin and writing stdout, for restores: the
 * child's stdout can feed psql through a kernel pipe, so decompressed data never passes through Node.
 * pigz decompresses with helper threads for reading, writing and checking; zstd is fast alone.
 * Undefined for `none`, or when no program is installed (then use `createDecompressor`).
 */
export function decompressorProgram(
  compression: Compression,
): { command: string; args: string[] } | undefined {
  if (compression === "gzip") {
    if (hasProgram("pigz")) return { command: "pigz", args: ["-dc"] };
    if (hasProgram("gzip")) return { command: "gzip", args: ["-dc"] };
  }
  if (compression === "zstd" && hasZstdBinary()) return { command: "zstd", args: ["-dcq"] };
  return undefined;
}

/** The file extension of a backup: the runbook's .sql.gz, or .sql.zst, .sql, .dump (custom format). */
export function extensionFor(
  format: DumpFormat,
  compression: Compression,
): "sql.gz" | "sql.zst" | "sql" | "dump" {
  if (format === "custom") return "dump";
  return compression === "gzip" ? "sql.gz" : compression === "zstd" ? "sql.zst" : "sql";
}

/** The compression of a file, from its extension; custom-format dumps compress inside. */
export function compressionOfExtension(extension: string): Compression {
  return extension === "sql.gz" ? "gzip" : extension === "sql.zst" ? "zstd" : "none";
}

/**
 * zstd reading straight from another process's stdout through a kernel pipe, as `pg_dump | zstd` does:
 * the raw dump never passes through Node. `-vv` makes zstd report the exact byte counts on stderr.
 * Undefined when the zstd program is not installed.
 */
export function startDirectZstd(
  source: Readable,
  level: number,
  threads: number,
): DirectCompressor | undefined {
  if (!hasZstdBinary()) return undefined;
  const child = startChildStage("zstd", "zstd", ["-vv", "--no-progress", `-${level}`, `-T${threads}`, "-c"], {
    stdin: source,
  });
  // zstd holds its own duplicate of the pipe now; Node's copy would never be read, and an open stdio
  // stream keeps pg_dump's 'close' event from ever firing.
  source.destroy();
  return {
    child,
    description: `zstd -${level} -T${threads}, reading pg_dump directly`,
    inputBytes: () => parseZstdInputBytes(child.stderr()),
  };
}

export interface DirectCompressor {
  readonly child: ChildStage;
  readonly description: string;
  /** Bytes zstd read, from its own report; call after it exited. */
  inputBytes(): number | undefined;
}

/**
 * The input size from zstd's own summary line: `(1249332491 B => 67180555 B, …)` with -vv in 1.5.x,
 * `(1249332491 => 67180555 bytes, …)` in 1.4.x. Undefined when neither is found.
 */
export function parseZstdInputBytes(report: string): number | undefined {
  const m = /\(\s*(\d+)(?: B)? =>\s*\d+(?: B| bytes)/.exec(report);
  return m ? Number(m[1]) : undefined;
}
