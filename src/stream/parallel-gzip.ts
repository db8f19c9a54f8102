import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import zlib from "node:zlib";

/** Input block compressed as one gzip member; 1 MiB keeps the ratio within ~1% of a single stream. */
export const DEFAULT_BLOCK_SIZE = 1 << 20;

/** RFC 1952 member header: magic, deflate, no flags, no mtime, no extra flags, OS "Unix". */
const MEMBER_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

export interface ParallelGzipOptions {
  readonly level: number;
  readonly blockSize?: number;
  /** Blocks compressed at once on libuv's thread pool; default: one per core plus one in hand. */
  readonly concurrency?: number;
}

/**
 * One reusable raw-deflate context. Reusing it (Z_FINISH, then reset) instead of a fresh zlib.gzip()
 * per block matters for memory: each fresh context's native state is freed only when its JS handle is
 * garbage-collected, and those handles outlive young-generation GCs — measured, 132 → 76 MB peak RSS.
 */
class DeflateSlot {
  private readonly deflate: zlib.DeflateRaw;
  private closed = false;

  constructor(level: number) {
    this.deflate = zlib.createDeflateRaw({ level, chunkSize: 128 << 10 });
  }

  /** Compresses `block` as one complete gzip member (header, deflate stream, CRC-32, size). */
  compress(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error("gzip slot closed: the stream was destroyed"));
      const chunks: Buffer[] = [MEMBER_HEADER];
      const onData = (chunk: Buffer) => chunks.push(chunk);
      this.deflate.on("data", onData);
      this.deflate.once("error", reject);
      this.deflate.write(block);
      this.deflate.flush(zlib.constants.Z_FINISH, () => {
        this.deflate.off("data", onData);
        this.deflate.off("error", reject);
        // Destroyed mid-block (e.g. the disk filled up): the context is gone, and so is this member.
        if (this.closed) return reject(new Error("gzip slot closed: the stream was destroyed"));
        this.deflate.reset();
        const trailer = Buffer.allocUnsafe(8);
        trailer.writeUInt32LE(zlib.crc32(block), 0);
        trailer.writeUInt32LE(block.length >>> 0, 4);
        chunks.push(trailer);
        resolve(Buffer.concat(chunks));
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.deflate.close();
  }
}

/**
 * gzip at pigz speed without pigz: the input is cut into blocks, each compressed as an independent
 * gzip member on the thread pool, and the members are written in order. Concatenated members are one
 * valid .gz file (RFC 1952 §2.2) that stock gunzip, zcat and gzip -t read. Memory stays bounded at
 * about concurrency × 2 × blockSize; a slow reader holds back the writer.
 */
export class ParallelGzip extends Transform {
  private readonly blockSize: number;
  private readonly concurrency: number;
  private readonly slots: DeflateSlot[];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inFlight: Promise<Buffer>[] = [];
  private submitted = 0;
  private emittedAny = false;

  constructor(options: ParallelGzipOptions) {
    super();
    if (!Number.isInteger(options.level) || options.level < 0 || options.level > 9) {
      throw new RangeError(`gzip level must be a whole number from 0 to 9, got ${options.level}`);
    }
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.concurrency = options.concurrency ?? Math.max(2, availableParallelism() + 1);
    this.slots = Array.from({ length: this.concurrency }, () => new DeflateSlot(options.level));
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
      if (this.pendingBytes > 0 || (!this.emittedAny && this.inFlight.length === 0)) {
        await this.submit(this.takeBlock(this.pendingBytes));
      }
      while (this.inFlight.length > 0) this.emitMember(await this.inFlight.shift()!);
      this.closeSlots();
    })().then(() => done(), done);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.closeSlots();
    callback(error);
  }

  private closeSlots(): void {
    for (const slot of this.slots) slot.close();
  }

  private async drainFullBlocks(): Promise<void> {
    while (this.pendingBytes >= this.blockSize) await this.submit(this.takeBlock(this.blockSize));
  }

  private takeBlock(size: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const block = all.subarray(0, size);
    const rest = all.subarray(size);
    this.pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    this.pendingBytes = rest.length;
    return block;
  }

  private async submit(block: Buffer): Promise<void> {
    // Blocks take slots in turn; block n's slot was last used by block n − concurrency, which has
    // been emitted before this submit (at most `concurrency` blocks are ever in flight).
    const job = this.slots[this.submitted++ % this.concurrency]!.compress(block);
    job.catch(() => {}); // awaited in order below; this only keeps an early failure from going unhandled
    this.inFlight.push(job);
    while (this.inFlight.length >= this.concurrency) this.emitMember(await this.inFlight.shift()!);
  }

  private emitMember(member: Buffer): void {
    this.emittedAny = true;
    this.push(member);
  }
}
