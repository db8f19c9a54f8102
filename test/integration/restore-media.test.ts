import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { RestoreMediaConfig } from "../../src/config/media-config.js";
import { backupMedia } from "../../src/media/backup-media.js";
import { restoreMedia } from "../../src/media/restore-media.js";
import { restoreMediaSummary } from "../../src/media/restore-media-summary.js";
import { CancelledError, ConfigError } from "../../src/shared/errors.js";
import { capturingLogger, isRoot, listTree, useTempDirs } from "../support/fixtures.js";

const tempDir = useTempDirs();
const metrics = { pushgatewayUrl: undefined, job: "lifeline", textfile: undefined };
const TAKEN = new Date("2026-12-02T03:00:00Z");

/** Joins path bytes (names may not be UTF-8). */
const at = (root: string, ...parts: (string | Buffer)[]): Buffer =>
  Buffer.concat(
    [root, ...parts].flatMap((p, i) => (i === 0 ? [Buffer.from(p)] : [Buffer.from("/"), Buffer.from(p)])),
  );

const NON_UTF8 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]); // "café.txt" in latin1
const NON_UTF8_DIR = Buffer.from([0x64, 0xff, 0xfe]);

/**
 * A tree with what a restore must keep: nested and empty directories, an empty file, space, newline
 * and non-UTF-8 names, symlinks (relative, absolute, dangling), two hard links, modes, an owner, and
 * explicit mtimes (binary-exact fractions, so the backup's own copy keeps them to the microsecond).
 */
function buildTree(root: string): void {
  let t = 1_700_000_000;
  const stamp = (p: Buffer | string) => {
    t += 1000;
    utimesSync(p, t + 0.5, t + 0.5);
  };
  const file = (rel: (string | Buffer)[], content: string | Buffer, mode = 0o644) => {
    const p = at(root, ...rel);
    writeFileSync(p, content);
    chmodSync(p, mode);
    stamp(p);
  };
  mkdirSync(at(root, "docs", "sub", "deep"), { recursive: true });
  file(["docs", "a.txt"], "hello, media\n", 0o600);
  file(["docs", "run.sh"], "#!/bin/sh\necho hi\n", 0o755);
  file(["docs", "ro.txt"], "read only\n", 0o444);
  file(["docs", "sub", "deep", "note.md"], "# deep\n");
  file(["empty.bin"], "");
  mkdirSync(at(root, "emptydir"));
  file(["with space.txt"], "spaced\n");
  file(["new\nline.txt"], "newline\n");
  file([NON_UTF8], "latin1 name\n");
  mkdirSync(at(root, NON_UTF8_DIR));
  file([NON_UTF8_DIR, "x"], Buffer.from([0, 1, 2, 255]));
  mkdirSync(at(root, "links"));
  symlinkSync("../docs/a.txt", at(root, "links", "rel"));
  symlinkSync("/etc/hostname", at(root, "links", "abs"));
  symlinkSync("nowhere/missing", at(root, "links", "dangling"));
  for (const name of ["abs", "dangling", "rel"]) {
    t += 1000;
    lutimesSync(at(root, "links", name), t + 0.25, t + 0.25);
  }
  mkdirSync(at(root, "hard"));
  file(["hard", "one"], "the same inode\n");
  linkSync(at(root, "hard", "one"), at(root, "hard", "two"));
  file(["big.bin"], createHash("sha512").update("x").digest().toString("hex").repeat(40_000));
  mkdirSync(at(root, "sealed"));
  file(["sealed", "inside.txt"], "sealed in\n");
  if (isRoot) {
    file(["owned.txt"], "someone else's\n");
    chownSync(at(root, "owned.txt"), 1234, 2345);
  }
  // Directories last, deepest first: writing into them changed their mtimes.
  chmodSync(at(root, "docs"), 0o750);
  chmodSync(at(root, "sealed"), 0o555);
  for (const dir of [
    ["docs", "sub", "deep"],
    ["docs", "sub"],
    ["docs"],
    ["emptydir"],
    [NON_UTF8_DIR],
    ["links"],
    ["hard"],
    ["sealed"],
    [],
  ])
    stamp(at(root, ...dir));
}

/**
 * One line per entry, in byte order: path bytes, type, mode, owner, size, mtime to the µs, symlink
 * target, content SHA-256 and hard-link group (the first path of the inode). A local stand-in for
 * test/support/media-tree.ts (not on main yet).
 */
function treeDigest(root: string): string[] {
  const lines: string[] = [];
  const firstOfInode = new Map<bigint, string>();
  const visit = (rel: Buffer) => {
    const full = rel.length > 0 ? at(root, rel) : Buffer.from(root);
    const st = lstatSync(full, { bigint: true });
    const name = JSON.stringify(rel.toString("latin1"));
    const head = `${name} mode=${(Number(st.mode) & 0o7777).toString(8)} owner=${st.uid}:${st.gid} mtime=${st.mtimeNs / 1000n}`;
    if (st.isDirectory()) {
      lines.push(`${head} dir`);
      const names = readdirSync(full, { encoding: "buffer" }).sort(Buffer.compare);
      for (const n of names) visit(rel.length > 0 ? Buffer.concat([rel, Buffer.from("/"), n]) : n);
    } else if (st.isSymbolicLink()) {
      lines.push(
        `${head} symlink -> ${JSON.stringify(readlinkSync(full, { encoding: "buffer" }).toString("latin1"))}`,
      );
    } else if (st.isFile()) {
      const sha = createHash("sha256").update(readFileSync(full)).digest("hex");
      const group = firstOfInode.get(st.ino) ?? name;
      firstOfInode.set(st.ino, group);
      lines.push(`${head} file size=${st.size} sha256=${sha} inode-of=${group}`);
    } else lines.push(`${head} other`);
  };
  visit(Buffer.alloc(0));
  return lines;
}

interface Setup {
  source: string;
  backupDir: string;
  snapshotDir: string;
  work: string;
}

async function backedUp(label: string, build: (root: string) => void = buildTree): Promise<Setup> {
  const work = await tempDir(label);
  const source = path.join(work, "source");
  const backupDir = path.join(work, "backups");
  mkdirSync(source);
  mkdirSync(backupDir);
  build(source);
  const { logger } = capturingLogger();
  const result = await backupMedia(
    {
      sourceDir: source,
      backupDir,
      retentionDays: 30,
      full: false,
      exclude: [],
      retentionDryRun: false,
      metrics,
    },
    { logger, now: () => TAKEN },
  );
  expect(result.exitCode).toBe(0);
  return { source, backupDir, snapshotDir: result.snapshotDir, work };
}

function restoreConfig(setup: Setup, targetDir: string, more: Partial<RestoreMediaConfig> = {}) {
  return {
    backupDir: setup.backupDir,
    snapshot: "latest",
    targetDir,
    restorePath: undefined,
    overwrite: false,
    metrics,
    ...more,
  } satisfies RestoreMediaConfig;
}

const restore = (config: RestoreMediaConfig, signal?: AbortSignal) =>
  restoreMedia(config, { logger: capturingLogger().logger, ...(signal ? { signal } : {}) });

/** Every temp name a restore would use, anywhere below `dir`. */
const tempsIn = async (dir: string) => (await listTree(dir)).filter((f) => f.includes(".lifeline-restore-"));

describe("restoreMedia", () => {
  it("restores a varied tree equal to its source, and so does cp -a of current/tree", async () => {
    const rootTime = 1_700_500_000.5;
    const setup = await backedUp("restore-roundtrip", (root) => {
      buildTree(root);
      execFileSync("mkfifo", [path.join(root, "pipe")]);
      utimesSync(root, rootTime, rootTime);
    });
    // The FIFO is in the manifest as skipped; without it, the source is what a restore can equal.
    unlinkSync(path.join(setup.source, "pipe"));
    utimesSync(setup.source, rootTime, rootTime);
    const source = treeDigest(setup.source);

    const target = path.join(setup.work, "restored", "here");
    const result = await restore(restoreConfig(setup, target));
    expect(result).toMatchObject({
      snapshot: "media_20261202_030000",
      exitCode: 0,
      failed: [],
      hardLinks: 1,
    });
    expect(result.symlinks).toBe(3);
    expect(result.skipped).toEqual([expect.stringContaining("pipe")]);
    expect(treeDigest(target)).toEqual(source);
    expect(await tempsIn(target)).toEqual([]);
    expect(restoreMediaSummary({ result })).toContain("✅");

    const copied = path.join(setup.work, "copied");
    mkdirSync(copied);
    execFileSync("cp", ["-a", `${setup.backupDir}/current/tree/.`, copied]);
    expect(treeDigest(copied)).toEqual(source);
  });

  it("keeps the mtimes files really have (any nanoseconds) to the microsecond", async () => {
    const setup = await backedUp("restore-mtimes", (root) => {
      for (let i = 0; i < 200; i++) writeFileSync(path.join(root, `f${i}`), `${i}\n`);
      utimesSync(root, 1_700_000_000.5, 1_700_000_000.5);
    });
    const target = path.join(setup.work, "restored");
    expect((await restore(restoreConfig(setup, target))).exitCode).toBe(0);
    expect(treeDigest(target)).toEqual(treeDigest(setup.source));
  });

  it("restores one path of a snapshot under its own relative path, and a lone hard link as a file", async () => {
    const setup = await backedUp("restore-path");
    const target = path.join(setup.work, "one-path");
    const result = await restore(restoreConfig(setup, target, { restorePath: "./docs/sub/" }));
    expect(result).toMatchObject({ exitCode: 0, files: 1, dirs: 2, restorePath: "docs/sub" });
    expect(readdirSync(target)).toEqual(["docs"]);
    expect(readdirSync(path.join(target, "docs"))).toEqual(["sub"]);
    expect(treeDigest(path.join(target, "docs", "sub"))).toEqual(
      treeDigest(path.join(setup.source, "docs", "sub")),
    );

    const lone = path.join(setup.work, "lone");
    const second = await restore(restoreConfig(setup, lone, { restorePath: "hard/two" }));
    expect(second).toMatchObject({ exitCode: 0, files: 1, hardLinks: 0 });
    expect(readFileSync(path.join(lone, "hard", "two"), "utf8")).toBe("the same inode\n");
    expect(existsSync(path.join(lone, "hard", "one"))).toBe(false);
  });

  it("refuses to replace existing files unless overwrite is set, and then replaces them", async () => {
    const setup = await backedUp("restore-existing");
    const target = await tempDir("restore-existing-target");
    writeFileSync(path.join(target, "with space.txt"), "mine\n");
    await expect(restore(restoreConfig(setup, target))).rejects.toThrow(
      /1 file\(s\) already exist there: with space\.txt.*MEDIA_RESTORE_OVERWRITE/,
    );
    expect(await listTree(target)).toEqual(["with space.txt"]);
    expect(readFileSync(path.join(target, "with space.txt"), "utf8")).toBe("mine\n");

    const result = await restore(restoreConfig(setup, target, { overwrite: true }));
    expect(result.exitCode).toBe(0);
    expect(treeDigest(target)).toEqual(treeDigest(setup.source));
  });

  it("does not place a file whose copy in the snapshot is damaged, names it and exits 1", async () => {
    const setup = await backedUp("restore-corrupt");
    const inTree = path.join(setup.snapshotDir, "tree", "docs", "a.txt");
    const bytes = readFileSync(inTree);
    bytes[0] = (bytes[0] as number) ^ 0xff;
    writeFileSync(inTree, bytes);
    const target = path.join(setup.work, "restored");
    const result = await restore(restoreConfig(setup, target));
    expect(result.exitCode).toBe(1);
    expect(result.failed).toEqual([
      expect.stringMatching(/^docs\/a\.txt \(its copy in the snapshot is damaged/),
    ]);
    expect(existsSync(path.join(target, "docs", "a.txt"))).toBe(false);
    expect(readFileSync(path.join(target, "docs", "run.sh"), "utf8")).toContain("echo hi");
    expect(await tempsIn(target)).toEqual([]);
    expect(restoreMediaSummary({ result })).toContain("docs/a.txt");
  });

  it("refuses a tampered manifest with a ../ path even when its checksum was recomputed", async () => {
    const setup = await backedUp("restore-tampered");
    const manifest = path.join(setup.snapshotDir, "manifest.ndjson");
    const lines = readFileSync(manifest, "utf8").split("\n");
    const escaping = {
      path: "../escape",
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      mtimeNs: "0",
      ctimeNs: "0",
      ino: "1",
      sha256: createHash("sha256").digest("hex"),
    };
    lines.splice(2, 0, JSON.stringify(escaping));
    const text = lines.join("\n");
    writeFileSync(manifest, text);
    writeFileSync(
      path.join(setup.snapshotDir, "manifest.ndjson.sha256"),
      `${createHash("sha256").update(text).digest("hex")}  manifest.ndjson\n`,
    );
    const parent = await tempDir("restore-tampered-parent");
    await expect(restore(restoreConfig(setup, path.join(parent, "target")))).rejects.toThrow(
      /'\.\.\/escape' is unsafe/,
    );
    expect(readdirSync(parent)).toEqual([]);
  });

  it("refuses a manifest that does not match its checksum before creating the target", async () => {
    const setup = await backedUp("restore-mismatch");
    const manifest = path.join(setup.snapshotDir, "manifest.ndjson");
    const original = readFileSync(manifest, "utf8");
    const changed = original.replace('"mode":420', '"mode":438');
    expect(changed).not.toBe(original);
    writeFileSync(manifest, changed);
    const target = path.join(setup.work, "never");
    await expect(restore(restoreConfig(setup, target))).rejects.toThrow(/does not match its checksum/);
    expect(existsSync(target)).toBe(false);
  });

  it("refuses to write through a symlink planted in the target, even with overwrite", async () => {
    const setup = await backedUp("restore-planted", (root) => {
      mkdirSync(path.join(root, "sub"));
      writeFileSync(path.join(root, "sub", "file"), "payload\n");
    });
    const outside = await tempDir("restore-outside");
    const target = await tempDir("restore-planted-target");
    symlinkSync(outside, path.join(target, "sub"));
    for (const overwrite of [false, true]) {
      await expect(restore(restoreConfig(setup, target, { overwrite }))).rejects.toThrow(
        /sub is a symbolic link where the snapshot has a directory/,
      );
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(target)).toEqual(["sub"]);
  });

  it("refuses restore paths outside the snapshot and names what to set", async () => {
    const setup = await backedUp("restore-badpath");
    const target = path.join(setup.work, "t");
    for (const restorePath of ["../x", "docs/../../x", "/etc"]) {
      const refused = restore(restoreConfig(setup, target, { restorePath }));
      await expect(refused).rejects.toThrow(ConfigError);
      await expect(refused).rejects.toThrow(/MEDIA_RESTORE_PATH/);
    }
    await expect(restore(restoreConfig(setup, target, { restorePath: "no/such" }))).rejects.toThrow(
      /'no\/such' is not in snapshot media_20261202_030000/,
    );
    expect(existsSync(target)).toBe(false);
  });

  it("names MEDIA_BACKUP_DIR when there is no current snapshot, and lists the snapshots for a wrong name", async () => {
    const empty = await tempDir("restore-empty");
    const config = { ...restoreConfig({ backupDir: empty } as Setup, path.join(empty, "..", "nowhere")) };
    await expect(restore(config)).rejects.toThrow(
      /MEDIA_BACKUP_DIR '.*' has no 'current' link.*backup-media/,
    );
    const setup = await backedUp("restore-names");
    await expect(
      restore(restoreConfig(setup, path.join(setup.work, "t"), { snapshot: "media_20200101_000000" })),
    ).rejects.toThrow(/'media_20200101_000000' \(MEDIA_SNAPSHOT\) is not in .*media_20261202_030000/);
  });

  it("leaves no temporary file when cancelled in the middle of a file", async () => {
    const setup = await backedUp("restore-cancel", (root) => {
      writeFileSync(path.join(root, "large.bin"), Buffer.alloc(96 * 1024 * 1024, 7));
    });
    const target = path.join(setup.work, "restored");
    const controller = new AbortController();
    const poll = setInterval(() => {
      if (existsSync(target) && readdirSync(target).some((n) => n.startsWith(".lifeline-restore-")))
        controller.abort(new CancelledError("SIGTERM"));
    }, 1);
    try {
      await expect(restore(restoreConfig(setup, target), controller.signal)).rejects.toThrow(CancelledError);
    } finally {
      clearInterval(poll);
    }
    expect(controller.signal.aborted).toBe(true);
    expect(readdirSync(target)).toEqual([]);
  });

  it("escapes names in the summary of a failed restore", () => {
    const text = restoreMediaSummary({ error: new Error("<img src=x> | broken") });
    expect(text).toContain("&lt;img src=x&gt; &#124; broken");
  });
});
