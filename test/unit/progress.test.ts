import { describe, expect, it } from "vitest";
import { clock, periodicLog, terminalProgress } from "../../src/log/progress.js";
import { describeBuildProgress, describeRestoreProgress } from "../../src/media/media-progress.js";
import { capturingLogger } from "../support/fixtures.js";

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = {
    isTTY,
    columns: 60,
    write: (s: string) => written.push(s),
  } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

describe("progress", () => {
  it("redraws one line on a terminal and clears it at the end; writes nothing when not a TTY", () => {
    const tty = fakeStream(true);
    const p = terminalProgress(tty.stream);
    p.update("12 entries");
    p.update("13 entries"); // within the second: not redrawn
    p.done();
    expect(tty.written).toEqual(["\r\x1b[2K12 entries", "\r\x1b[2K"]);
    const pipe = fakeStream(false);
    const q = terminalProgress(pipe.stream);
    q.update("12 entries");
    q.done();
    expect(pipe.written).toEqual([]);
  });

  it("logs a line per period in an action's log, not more", () => {
    const { logger, lines } = capturingLogger();
    const p = periodicLog(logger, 0);
    p.update("a");
    p.update("b");
    expect(lines).toEqual(["info: Progress: a", "info: Progress: b"]);
    const { logger: quiet, lines: none } = capturingLogger();
    periodicLog(quiet, 60_000).update("c");
    expect(none).toEqual([]);
  });

  it("gives an ETA from the previous snapshot's entry count", () => {
    const text = describeBuildProgress({
      entries: 1000,
      bytesCopied: 10 * 1024 * 1024,
      bytesLinked: 0,
      elapsedSeconds: 10,
      previousEntries: 4000,
    });
    expect(text).toBe(
      "1000 entries, 10.0 MiB copied (1.0 MiB/s), 0 B linked, 0:10 elapsed, ETA 0:30 (previous snapshot: 4000 entries)",
    );
    expect(clock(3725)).toBe("1:02:05");
    expect(
      describeRestoreProgress({ entries: 250, of: 1000, bytes: 5 * 1024 * 1024, elapsedSeconds: 5 }),
    ).toBe("250/1000 entries, 5.0 MiB written (1.0 MiB/s), 0:05 elapsed, ETA 0:15");
  });
});
