import { PassThrough, type Transform } from "node:stream";
import zlib from "node:zlib";
import { UserError } from "../config/errors.js";
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

/** Compressor for the plain-format stream. zstd uses its own worker threads (`threads`). */
export function createCompressor(compression: Compression, level: number, threads: number): Transform {
  switch (compression) {
    case "gzip":
      return new ParallelGzip({ level });
    case "zstd":
      if (!hasZstd) {
        throw new UserError(
          `Compression zstd needs Node.js 22.15 or newer (this is ${process.version}); use gzip or a newer Node`,
        );
      }
      return zlib.createZstdCompress({
        params: {
          [zlib.constants.ZSTD_c_compressionLevel]: level,
          [zlib.constants.ZSTD_c_nbWorkers]: threads,
          [zlib.constants.ZSTD_c_checksumFlag]: 1,
        },
      });
    case "none":
      return new PassThrough();
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
