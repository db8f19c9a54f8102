import v8 from "node:v8";
import vm from "node:vm";

/** Bytes between two young-generation collections (measured on 1.25 GB: 16 MiB → 116 MB peak, 4 MiB → 90 MB, same speed). */
export const GC_INTERVAL_BYTES = 4 << 20;
/** Bytes between two full collections. */
export const MAJOR_GC_INTERVAL_BYTES = 128 << 20;

type GcFunction = (options: { type: "minor" | "major" }) => void;
let gcFunction: GcFunction | null | undefined;

/** V8's gc() without starting Node with --expose-gc; null where the runtime refuses. */
function obtainGc(): GcFunction | null {
  if (gcFunction === undefined) {
    try {
      v8.setFlagsFromString("--expose-gc");
      gcFunction = vm.runInNewContext("gc") as GcFunction;
    } catch {
      gcFunction = null;
    }
  }
  return gcFunction;
}

/**
 * Keeps peak memory flat however large the dump: every chunk read from a pipe is a fresh Buffer, and
 * V8 lets ~64 MiB of such external garbage pile up before it collects. A minor (young-generation) GC
 * every 4 MiB frees them early: measured, 149 → 73 MB peak RSS on 1 GB streamed, and no slower.
 */
export class MemoryBound {
  private sinceGc = 0;
  private sinceMajor = 0;
  private readonly gc = obtainGc();

  /** Call with the size of every chunk that passes. */
  observe(bytes: number): void {
    this.sinceGc += bytes;
    if (!this.gc || this.sinceGc < GC_INTERVAL_BYTES) return;
    this.sinceGc = 0;
    this.sinceMajor += GC_INTERVAL_BYTES;
    // Buffers that live across scavenges (e.g. blocks queued for compression) reach the old
    // generation; a full GC of this small heap every 128 MiB frees those too, in a few milliseconds.
    if (this.sinceMajor >= MAJOR_GC_INTERVAL_BYTES) {
      this.sinceMajor = 0;
      this.gc({ type: "major" });
    } else {
      this.gc({ type: "minor" });
    }
  }
}
