import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertNamesFit, longestFileName } from "../../src/backup/name-check.js";
import { BackupName } from "../../src/catalog/backup-name.js";
import {
  longestNameAccepted,
  NAME_MAX,
  publishWithCompanions,
  removeStalePartials,
} from "../../src/fs/atomic-file.js";
import { listDirectory, openRegularFile, readRegularFile } from "../../src/fs/regular-file.js";

const execFileAsync = promisify(execFile);
let dir: string;
let server: Server;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lifeline-regular-"));
  await writeFile(path.join(dir, "file"), "content\n");
  await execFileAsync("mkfifo", [path.join(dir, "fifo")]);
  await mkdir(path.join(dir, "dir"));
  await symlink(path.join(dir, "file"), path.join(dir, "link-to-file"));
  await symlink(path.join(dir, "fifo"), path.join(dir, "link-to-fifo"));
  server = createServer();
  await new Promise<void>((resolve) => server.listen(path.join(dir, "socket"), resolve));
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe("readRegularFile", () => {
  it("reads a regular file", async () => {
    expect(await readRegularFile(path.join(dir, "file"))).toBe("content\n");
  });

  it.each([
    ["fifo", "a FIFO (named pipe)"],
    ["dir", "a directory"],
    ["socket", "a socket"],
    ["link-to-file", "a symbolic link"],
  ])("refuses %s without opening or waiting, naming what it is", async (name, kind) => {
    const started = Date.now();
    await expect(readRegularFile(path.join(dir, name))).rejects.toThrow(
      `${path.join(dir, name)} is ${kind}, not a regular file`,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("follows a link only when told, and then only to a regular file", async () => {
    expect(await readRegularFile(path.join(dir, "link-to-file"), { followSymlinks: true })).toBe("content\n");
    await expect(openRegularFile(path.join(dir, "link-to-fifo"), { followSymlinks: true })).rejects.toThrow(
      /is a FIFO \(named pipe\), not a regular file/,
    );
  });

  it("lists a directory without opening anything, saying what each other entry is", async () => {
    const listing = await listDirectory(dir);
    expect([...listing.files].sort()).toEqual(["file"]);
    expect([...listing.others].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: "dir", kind: "a directory" },
      { name: "fifo", kind: "a FIFO (named pipe)" },
      { name: "link-to-fifo", kind: "a symbolic link" },
      { name: "link-to-file", kind: "a symbolic link" },
      { name: "socket", kind: "a socket" },
    ]);
  });
});

describe("names and publishing", () => {
  it("finds the filesystem's longest name by probing, leaving no probe behind", async () => {
    const probeDir = path.join(dir, "probe");
    await mkdir(probeDir);
    expect(await longestNameAccepted(probeDir)).toBe(NAME_MAX); // ext4, xfs, tmpfs, overlayfs
    expect(await readdir(probeDir)).toEqual([]);
  });

  it("a name probe left by a killed run with the same pid (containers) neither breaks the next run nor stays", async () => {
    const probeDir = path.join(dir, "probe-left");
    await mkdir(probeDir);
    const name = new BackupName("app", "daily", new Date(), "sql.gz", false);
    const before = new Date(Date.now() - 3600_000); // written by a run that started (and died) earlier
    // As earlier versions named it, and as this one does.
    const oldStyle = `.lifeline-name-probe-${process.pid}-`.padEnd(longestFileName(name), "x");
    const newStyle = `.lifeline-name-probe.partial-${process.pid}-0123abcd`.padEnd(
      longestFileName(name),
      "0",
    );
    for (const f of [oldStyle, newStyle]) {
      await writeFile(path.join(probeDir, f), "");
      await utimes(path.join(probeDir, f), before, before);
    }
    await expect(assertNamesFit(probeDir, name, "BACKUP_PREFIX")).resolves.toBeUndefined();
    expect((await removeStalePartials(probeDir)).sort()).toEqual([newStyle, oldStyle].sort());
    expect(await readdir(probeDir)).toEqual([]);
  });

  it("publishWithCompanions removes the companions it published when the data cannot be published", async () => {
    const out = path.join(dir, "publish");
    await mkdir(out);
    await expect(
      publishWithCompanions(
        [
          { path: path.join(out, "x.manifest.json"), data: "{}" },
          { path: path.join(out, "x.sha256"), data: "sum" },
        ],
        async () => {
          throw new Error("data refused");
        },
      ),
    ).rejects.toThrow("data refused");
    expect(await readdir(out)).toEqual([]);
  });
});
