import { PassThrough, Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { FanOut } from "../../src/storage/fan-out.js";
import type { StreamUpload } from "../../src/storage/store.js";

/**
 * An in-memory upload that consumes its body at a given pace (bytes per tick), like a destination
 * whose network is that fast; `failAfter` makes it fail after that many bytes.
 */
function upload(name: string, options: { bytesPerTick?: number; failAfter?: number; stall?: boolean } = {}) {
  const body = new PassThrough({ highWaterMark: 64 * 1024 });
  const received: Buffer[] = [];
  let aborted: Error | undefined;
  let total = 0;
  const done = (async () => {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (options.stall) await new Promise(() => {});
      received.push(chunk);
      total += chunk.length;
      if (options.failAfter !== undefined && total >= options.failAfter) throw new Error(`${name} broke`);
      if (options.bytesPerTick) await sleep(Math.ceil(chunk.length / options.bytesPerTick));
    }
  })();
  done.catch(() => {});
  const u: StreamUpload = {
    name,
    stream: body,
    done,
    abort: async (reason) => {
      aborted = reason;
      body.destroy(reason);
      await done.catch(() => {});
    },
  };
  return { u, received: () => Buffer.concat(received), aborted: () => aborted, body };
}

function source(totalBytes: number, chunk = 16 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= totalBytes) return this.push(null);
      const n = Math.min(chunk, totalBytes - sent);
      this.push(Buffer.alloc(n, sent % 251));
      sent += n;
    },
  });
}

function collector(): { sink: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  return {
    sink: new Writable({
      write(chunk, _e, cb) {
        parts.push(chunk);
        cb();
      },
    }),
    bytes: () => Buffer.concat(parts),
  };
}

describe("FanOut", () => {
  it("delivers the same bytes to the primary and every upload", async () => {
    const primary = collector();
    const a = upload("a");
    const b = upload("b", { bytesPerTick: 256 * 1024 });
    const fan = new FanOut(
      primary.sink,
      [
        { upload: a.u, uri: "mem://a" },
        { upload: b.u, uri: "mem://b" },
      ],
      {
        stallTimeoutMs: 10_000,
      },
    );
    await pipeline(source(3 * 1024 * 1024), fan);
    fan.finishUploads();
    const outcomes = await fan.outcomes();
    expect(outcomes.map((o) => [o.uri, o.bytes, o.error])).toEqual([
      ["mem://a", 3 * 1024 * 1024, undefined],
      ["mem://b", 3 * 1024 * 1024, undefined],
    ]);
    expect(a.received().equals(primary.bytes())).toBe(true);
    expect(b.received().equals(primary.bytes())).toBe(true);
  });

  it("a slow destination sets the pace: the source never runs far ahead of it (bounded memory)", async () => {
    const primary = collector();
    const slow = upload("slow", { bytesPerTick: 32 * 1024 });
    const fan = new FanOut(primary.sink, [{ upload: slow.u, uri: "mem://slow" }], { stallTimeoutMs: 10_000 });
    let maxAhead = 0;
    const timer = setInterval(() => {
      maxAhead = Math.max(maxAhead, primary.bytes().length - slow.received().length);
    }, 2);
    await pipeline(source(2 * 1024 * 1024), fan);
    fan.finishUploads();
    await fan.outcomes();
    clearInterval(timer);
    // Buffers between them: FanOut (1 MiB high-water mark) + the upload body (64 KiB) + one chunk.
    expect(maxAhead).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024 + 2 * 16 * 1024);
    expect(maxAhead).toBeGreaterThan(0);
  });

  it("a failing upload is cut loose and aborted; the primary and the other upload complete", async () => {
    const primary = collector();
    const good = upload("good");
    const bad = upload("bad", { failAfter: 256 * 1024 });
    const failures: string[] = [];
    const fan = new FanOut(
      primary.sink,
      [
        { upload: good.u, uri: "mem://good" },
        { upload: bad.u, uri: "mem://bad" },
      ],
      {
        stallTimeoutMs: 10_000,
        onBranchFailure: (uri, err) => failures.push(`${uri}: ${err.message}`),
      },
    );
    await pipeline(source(2 * 1024 * 1024), fan);
    fan.finishUploads();
    const [g, b] = await fan.outcomes();
    expect(g?.error).toBeUndefined();
    expect(b?.error?.message).toBe("bad broke");
    expect(bad.aborted()?.message).toBe("bad broke");
    expect(failures).toEqual(["mem://bad: bad broke"]);
    expect(primary.bytes().length).toBe(2 * 1024 * 1024);
    expect(good.received().length).toBe(2 * 1024 * 1024);
  });

  it("a destination that stops accepting bytes is abandoned after the stall timeout", async () => {
    const primary = collector();
    const stuck = upload("stuck", { stall: true });
    const fan = new FanOut(primary.sink, [{ upload: stuck.u, uri: "mem://stuck" }], { stallTimeoutMs: 200 });
    await pipeline(source(1024 * 1024), fan);
    fan.finishUploads();
    const [o] = await fan.outcomes();
    expect(o?.error?.message).toMatch(/Upload to mem:\/\/stuck made no progress for 0.2 s/);
    expect(primary.bytes().length).toBe(1024 * 1024);
  });

  it("a failing primary (the local file) fails the stream and aborts every upload", async () => {
    const a = upload("a");
    let written = 0;
    const disk = new Writable({
      write(chunk, _e, cb) {
        written += chunk.length;
        cb(written > 512 * 1024 ? Object.assign(new Error("no space"), { code: "ENOSPC" }) : null);
      },
    });
    const fan = new FanOut(disk, [{ upload: a.u, uri: "mem://a" }], { stallTimeoutMs: 10_000 });
    await expect(pipeline(source(4 * 1024 * 1024), fan)).rejects.toThrow("no space");
    const [o] = await fan.outcomes();
    expect(o?.error?.message).toBe("no space");
    expect(a.aborted()?.message).toBe("no space");
  });

  it("an upload is ended only by finishUploads(): a stream that ended but is then judged bad is aborted, never completed", async () => {
    const primary = collector();
    const a = upload("a");
    let ended = false;
    a.body.on("end", () => {
      ended = true;
    });
    const fan = new FanOut(primary.sink, [{ upload: a.u, uri: "mem://a" }], { stallTimeoutMs: 10_000 });
    await pipeline(source(512 * 1024), fan);
    await sleep(20);
    expect(ended).toBe(false); // pg_dump's output ended; whether the dump is complete is not known yet
    fan.abortUploads(new Error("pg_dump exited with code 1"));
    const [o] = await fan.outcomes();
    expect(o?.error?.message).toBe("pg_dump exited with code 1");
    expect(a.aborted()?.message).toBe("pg_dump exited with code 1");
    expect(ended).toBe(false);
  });

  it("an upload that does not complete after its last byte is given up after the stall timeout", async () => {
    const primary = collector();
    const body = new PassThrough();
    body.resume();
    const hung: StreamUpload = {
      name: "hung",
      stream: body,
      done: new Promise(() => {}),
      abort: async () => {},
    };
    const fan = new FanOut(primary.sink, [{ upload: hung, uri: "mem://hung" }], { stallTimeoutMs: 150 });
    await pipeline(source(64 * 1024), fan);
    fan.finishUploads();
    const [o] = await fan.outcomes();
    expect(o?.error?.message).toMatch(/did not complete within 0.15 s after its last byte/);
  });
});
