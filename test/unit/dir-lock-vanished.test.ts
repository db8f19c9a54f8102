import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it, vi } from "vitest";
import { Logger } from "../../src/log/logger.js";

// Another process (a run elsewhere sweeping hidden files of a shared directory) deletes every staged
// lock file just before it is linked into place. Everything else is the real filesystem.
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  return {
    ...real,
    link: async (from: string, to: string) => {
      await real.unlink(from);
      return real.link(from, to);
    },
  };
});
const { DirectoryLock } = await import("../../src/fs/dir-lock.js");

const dir = mkdtempSync(path.join(tmpdir(), "lifeline-lockgone-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("a staged lock that vanishes before its link gives a clear message, not a raw ENOENT, and leaves nothing", async () => {
  await expect(DirectoryLock.acquire(dir, "backup-db", new Logger())).rejects.toThrow(
    new RegExp(
      `^Could not lock ${dir}: the staged lock file .* was removed before it could be linked into place`,
    ),
  );
  expect(readdirSync(dir)).toEqual([]);
});
