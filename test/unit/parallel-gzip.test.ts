import { spawnSync } from "node:child_process";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { ParallelGzip } from "../../src/stream/parallel-gzip.js";

/** Compressible but not trivial input: numbered lines with some repetition. */
function sample(bytes: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `${i}\tsegment text ${i % 97} ${(i * 2654435761) % 1000003}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join("")).subarray(0, bytes);
}

async function compress(
  input: Buffer,
  options: ConstructorParameters<typeof ParallelGzip>[0],
  chunk = 65536,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) chunks.push(input.subarray(i, i + chunk));
  const gz = new ParallelGzip(options);
  const out = buffer(gz);
  await pipeline(Readable.from(chunks), gz);
  return out;
}

describe("ParallelGzip", () => {
  it.each([0, 1, 1000, 1 << 20, (1 << 20) + 1, 5 * (1 << 20) + 12345])(
    "round-trips %i bytes through stock gunzip",
    async (size) => {
      const input = sample(size);
      const gz = await compress(input, { level: 6 });
      const stock = spawnSync("gunzip", ["-c"], { input: gz, maxBuffer: 64 << 20 });
      expect(stock.status).toBe(0);
      expect(stock.stdout.equals(input)).toBe(true);
      expect(zlib.gunzipSync(gz).equals(input)).toBe(true);
      expect(spawnSync("gzip", ["-t"], { input: gz }).status).toBe(0);
    },
  );

  it("writes one member per block, in input order, whatever order the thread pool finishes in", async () => {
    const input = sample(10 * 65536);
    const gz = await compress(input, { level: 1, blockSize: 65536, concurrency: 8 }, 4096);
    let members = 0;
    for (let i = 0; i + 1 < gz.length; i++)
      if (gz[i] === 0x1f && gz[i + 1] === 0x8b && gz[i + 2] === 8) members++;
    expect(members).toBeGreaterThanOrEqual(10);
    expect(zlib.gunzipSync(gz).equals(input)).toBe(true);
  });

  it("stays within 2% of single-stream gzip's size at the default block size", async () => {
    const input = sample(8 << 20);
    const parallel = await compress(input, { level: 6 });
    const single = zlib.gzipSync(input, { level: 6 });
    expect(parallel.length / single.length).toBeLessThan(1.02);
  });

  it("rejects an invalid level naming it", () => {
    expect(() => new ParallelGzip({ level: 12 })).toThrow(
      "gzip level must be a whole number from 0 to 9, got 12",
    );
  });
});

describe("zstd's own report", () => {
  it("gives the input size in the 1.5 and 1.4 wordings, and nothing for anything else", async () => {
    const { parseZstdInputBytes } = await import("../../src/stream/compression.js");
    expect(parseZstdInputBytes("/*stdin*\\            : 25.06%   (351036 B =>  87977 B, /*stdout*\\)")).toBe(
      351036,
    );
    expect(
      parseZstdInputBytes("/*stdin*\\            : 25.06%   (351036 =>  87977 bytes, /*stdout*\\)"),
    ).toBe(351036);
    expect(parseZstdInputBytes("Completed in 0.05 sec")).toBeUndefined();
  });
});
