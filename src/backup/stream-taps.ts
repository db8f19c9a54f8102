import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/** Passes bytes through unchanged while computing their SHA-256 and counting them. */
export class DigestTap extends Transform {
  private readonly hash: Hash = createHash("sha256");
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
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
    if (this.headBuffer.length < this.headSize) {
      this.headBuffer = Buffer.concat([
        this.headBuffer,
        chunk.subarray(0, this.headSize - this.headBuffer.length),
      ]);
    }
    this.bytes += chunk.length;
    const joined = chunk.length >= this.tailSize ? chunk : Buffer.concat([this.tailBuffer, chunk]);
    this.tailBuffer = Buffer.from(joined.subarray(Math.max(0, joined.length - this.tailSize)));
    done(null, chunk);
  }

  tail(): Buffer {
    return this.tailBuffer;
  }

  head(): Buffer {
    return this.headBuffer;
  }
}
