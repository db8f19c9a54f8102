import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { promisify } from "node:util";
import zlib from "node:zlib";

const gzip = promisify(zlib.gzip);

/** Input block compressed as one gzip member; 1 MiB keeps the ratio within ~1% of a single stream. */
export const DEFAULT_BLOCK_SIZE = 1 << 20;

export interface ParallelGzipOptions {
  readonly level: number;
  readonly blockSize?: number;
  /** Blocks compressed at once on libuv's thread pool; default: one per core plus one in hand. */
  readonly concurrency?: number;
}

/**
 * gzip at pigz speed without pigz: the input is cut into blocks, each compressed as an independent
 * gzip member on the thread pool, and the members are written in order. Concatenated members are one
 * valid .gz file (RFC 1952 §2.2) that stock gunzip, zcat and gzip -t read. Memory stays bounded at
 * about concurrency × 2 × blockSize; a slow reader holds back the writer.
 */
export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inFlight: Promise<Buffer>[] = [];
  private emittedAny = false;

  constructor(options: ParallelGzipOptions) {
    super();
    if (!Number.isInteger(options.level) || options.level < 0 || options.level > 9) {
      throw new RangeError(`gzip level must be a whole number from 0 to 9, got ${options.level}`);
    }
    this.level = options.level;
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.concurrency = options.concurrency ?? Math.max(2, availableParallelism() + 1);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.drainFullBlocks().then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    (async () => {
      await this.drainFullBlocks();
      // An empty input still yields one (empty) member, so the output is a valid .gz file.
      if (this.pendingBytes > 0 || (!this.emittedAny && this.inFlight.length === 0))
        await this.submit(this.takeBlock(this.pendingBytes));
      while (this.inFlight.length > 0) this.emit1(await this.inFlight.shift()!);
    })().then(() => done(), done);
  }

  private async drainFullBlocks(): Promise<void> {
    while (this.pendingBytes >= this.blockSize) await this.submit(this.takeBlock(this.blockSize));
  }

  private takeBlock(size: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const block = all.subarray(0, size);
    const rest = all.subarray(size);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return block;
  }

  private async submit(block: Buffer): Promise<void> {
    const job = gzip(block, { level: this.level });
    job.catch(() => {}); // awaited in order below; this only keeps an early failure from going unhandled
    this.inFlight.push(job);
    while (this.inFlight.length >= this.concurrency) this.emit1(await this.inFlight.shift()!);
  }

  private emit1(member: Buffer): void {
    this.emittedAny = true;
    this.push(member);
  }
}
