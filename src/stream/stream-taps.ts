import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import type { CopyRowCounter } from "./copy-row-counter.js";
import { MemoryBound } from "./memory-bound.js";

/**
 * Passes bytes through unchanged while computing their SHA-256 and counting them. With `limit`, more
 * than that many bytes fail the stream with `tooMuch()` (a download that is larger than it may be).
 */
export class DigestTap extends Transform {
  private readonly hash: Hash = createHash("sha256");
  bytes = 0;

  constructor(
    private readonly limit = Number.POSITIVE_INFINITY,
    private readonly tooMuch: () => Error = () => new Error(`more than ${limit} bytes arrived`),
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(this.tooMuch());
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  /** The hex digest; call once, after the stream has ended. */
  hex(): string {
    return this.hash.digest("hex");
  }
}

/** Passes bytes through unchanged, counting them and keeping the first and last bytes (format checks). */
export class EdgeTap extends Transform {
  bytes = 0;
  private tailBuffer = Buffer.alloc(0);
  private headBuffer = Buffer.alloc(0);

  constructor(
    private readonly tailSize = 256,
    private readonly headSize = 16,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.observe(chunk);
    done(null, chunk);
  }

  /** Records a chunk without passing it on (for use inside another stage). */
  observe(chunk: Buffer): void {
    if (this.headBuffer.length < this.headSize) {
      this.headBuffer = Buffer.concat([
        this.headBuffer,
        chunk.subarray(0, this.headSize - this.headBuffer.length),
      ]);
    }
    this.bytes += chunk.length;
    const joined = chunk.length >= this.tailSize ? chunk : Buffer.concat([this.tailBuffer, chunk]);
    this.tailBuffer = Buffer.from(joined.subarray(Math.max(0, joined.length - this.tailSize)));
  }

  tail(): Buffer {
    return this.tailBuffer;
  }

  head(): Buffer {
    return this.headBuffer;
  }
}

/**
 * The one tap raw dump bytes pass through (kept to one stage: every stage costs per-chunk overhead on a
 * path that carries gigabytes): counts bytes, keeps the first and last bytes for format checks, counts
 * COPY rows per table when asked, and keeps memory flat with a young-generation GC every 16 MiB.
 */
export class DumpStreamTap extends Transform {
  bytes = 0;
  private readonly edges: EdgeTap;
  private readonly bound = new MemoryBound();

  constructor(
    readonly rowCounter: CopyRowCounter | undefined,
    tailSize: number,
    headSize: number,
  ) {
    super();
    this.edges = new EdgeTap(tailSize, headSize);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.edges.observe(chunk);
    this.rowCounter?.write(chunk);
    this.bound.observe(chunk.length);
    done(null, chunk);
  }

  head(): Buffer {
    return this.edges.head();
  }

  tail(): Buffer {
    return this.edges.tail();
  }
}
