import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Logger } from "../../src/log/logger.js";

// A filesystem without hard links (some network and FAT filesystems): link() fails with EPERM, so the
// lock takes its fallback path (an exclusive create, then the content). Everything else is real.
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  return {
    ...real,
    link: async () => {
      throw Object.assign(new Error("EPERM: operation not permitted, link"), { code: "EPERM" });
    },
  };
});
const { DirectoryLock, LOCK_FILE } = await import("../../src/fs/dir-lock.js");

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const makeDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), "lifeline-lockfb-"));
  dirs.push(d);
  return d;
};
const capture = () => {
  const lines: string[] = [];
  return { lines, logger: new Logger({ write: (level, m) => lines.push(`${level}: ${m}`) }) };
};

describe("the lock where hard links are not possible", () => {
  it("is not taken over while a run that just created it is still writing it", async () => {
    const dir = makeDir();
    const file = path.join(dir, LOCK_FILE);
    const fd = openSync(file, "wx", 0o644); // run A: created exclusively, content not written yet
    try {
      await expect(DirectoryLock.acquire(dir, "backup-db", capture().logger)).rejects.toThrow(
        /empty and only \d+ s old: .*one may be starting now.*Retry in a minute/,
      );
      writeSync(fd, JSON.stringify({ pid: process.pid, host: "me", token: "A" }));
    } finally {
      closeSync(fd);
    }
    expect(JSON.parse(readFileSync(file, "utf8")).token).toBe("A");
  });

  it("takes over an empty lock once a minute old, with a warning, and writes a lock that reads back as its own", async () => {
    const dir = makeDir();
    const file = path.join(dir, LOCK_FILE);
    closeSync(openSync(file, "wx", 0o644));
    const old = new Date(Date.now() - 120_000);
    await utimes(file, old, old);
    const { logger, lines } = capture();
    const lock = await DirectoryLock.acquire(dir, "backup-db", logger);
    expect(
      lines.some((l) => /^warn: Taking over an unreadable lock file .* \(empty, 1\d\d s old\)/.test(l)),
    ).toBe(true);
    expect(JSON.parse(readFileSync(file, "utf8")).pid).toBe(process.pid);
    await lock.release();
  });
});
