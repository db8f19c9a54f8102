import { mkdtemp, readFile, rm, truncate, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectoryLock, LOCK_FILE } from "../../src/fs/dir-lock.js";
import { capturingLogger } from "../support/fixtures.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lifeline-lockhuge-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a lock file swapped for a huge file", () => {
  it("is read no further than a lock holds, judged unreadable, and taken over once old", async () => {
    const file = path.join(dir, LOCK_FILE);
    await writeFile(file, "x");
    await truncate(file, 2 * 1024 ** 3); // 2 GiB, sparse: read whole, it would not fit in a string
    const old = new Date(Date.now() - 120_000);
    await utimes(file, old, old);
    const { logger, lines } = capturingLogger();
    const lock = await DirectoryLock.acquire(dir, "backup-db", logger);
    expect(lines).toContainEqual(
      expect.stringMatching(/^warn: Taking over an unreadable lock file .* \(2147483648 bytes, not a lock/),
    );
    expect(JSON.parse(await readFile(file, "utf8")).pid).toBe(process.pid);
    await lock.release();
  });
});
