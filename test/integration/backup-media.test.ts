import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { BackupMediaConfig } from "../../src/config/media-config.js";
import { splitPatterns } from "../../src/config/media-config.js";
import { backupMedia } from "../../src/media/backup-media.js";
import { ManifestReader, ManifestWriter, type MediaEntry } from "../../src/media/manifest.js";
import { fsPath, toBinary } from "../../src/media/media-path.js";
import { restoreMedia } from "../../src/media/restore-media.js";
import { buildSnapshot } from "../../src/media/snapshot-builder.js";
import { ExcludeRules } from "../../src/media/tree-walk.js";
import { verifyMedia } from "../../src/media/verify-media.js";
import { capturingLogger, isRoot, mountTmpfs, useTempDirs } from "../support/fixtures.js";
import { buildHostileTree, treeDigest, treeListing } from "../support/media-tree.js";
import { NODE24 } from "../support/run-action.js";

const tempDir = useTempDirs();
const NO_METRICS = { pushgatewayUrl: undefined, job: "lifeline", textfile: undefined };

function config(
  source: string,
  backupDir: string,
  extra: Partial<BackupMediaConfig> = {},
): BackupMediaConfig {
  return {
    sourceDir: source,
    backupDir,
    retentionDays: 30,
    full: false,
    exclude: [],
    retentionDryRun: false,
    metrics: NO_METRICS,
    ...extra,
  };
}

/** A clock that starts at `iso` and moves one minute per call, so each run gets its own snapshot name. */
function clockFrom(iso: string): () => Date {
  let t = Date.parse(iso);
  return () => {
    t += 60_000;
    return new Date(t);
  };
}

function entries(snapshotDir: string): MediaEntry[] {
  const reader = ManifestReader.open(path.join(snapshotDir, "manifest.ndjson"));
  const out: MediaEntry[] = [];
  for (let e = reader.next(); e; e = reader.next()) out.push(e);
  reader.close();
  return out;
}

async function sourceTree(label: string): Promise<string> {
  const src = await tempDir(label);
  mkdirSync(path.join(src, "albums/2026"), { recursive: true });
  mkdirSync(path.join(src, "empty"));
  writeFileSync(path.join(src, "albums/2026/track01.flac"), Buffer.alloc(3 * 1024 * 1024, 1));
  writeFileSync(path.join(src, "albums/2026/cover.jpg"), "jpeg bytes");
  writeFileSync(path.join(src, "notes.txt"), "unchanged");
  writeFileSync(path.join(src, "to-delete.txt"), "bye");
  writeFileSync(path.join(src, "zero"), "");
  writeFileSync(Buffer.from([...Buffer.from(`${src}/raw-`), 0xff, 0xfe]), "latin-1 name");
  symlinkSync("albums/2026/cover.jpg", path.join(src, "cover-link"));
  symlinkSync("/nonexistent/target", path.join(src, "dangling"));
  linkSync(path.join(src, "notes.txt"), path.join(src, "notes-hardlink.txt"));
  return src;
}

describe("backup-media: incremental snapshots", () => {
  it("links unchanged files to the previous snapshot, copies changed and new ones, drops deleted ones; --full shares nothing", async () => {
    const src = await sourceTree("media-src");
    const dir = await tempDir("media-bk");
    const now = clockFrom("2026-12-01T03:00:00Z");
    const { logger } = capturingLogger();
    const first = await backupMedia(config(src, dir), { logger, now });
    expect(first.exitCode).toBe(0);
    expect(first.mode).toBe("full");
    expect(first.totals.newFiles).toBe(first.totals.files);
    expect(readlinkSync(path.join(dir, "current"))).toBe(first.snapshot);

    writeFileSync(path.join(src, "albums/2026/cover.jpg"), "new jpeg bytes");
    rmSync(path.join(src, "to-delete.txt"));
    writeFileSync(path.join(src, "added.txt"), "hello");
    const second = await backupMedia(config(src, dir), { logger, now });
    expect(second.exitCode).toBe(0);
    expect(second.mode).toBe("incremental");
    expect(second.previous).toBe(first.snapshot);
    expect(second.totals).toMatchObject({ newFiles: 1, changedFiles: 1, deletedFiles: 1 });
    const ino = (snap: string, rel: string) => lstatSync(path.join(dir, snap, "tree", rel)).ino;
    // Unchanged: the very same inode as the previous snapshot's copy (never read again).
    expect(ino(second.snapshot, "albums/2026/track01.flac")).toBe(
      ino(first.snapshot, "albums/2026/track01.flac"),
    );
    expect(ino(second.snapshot, "notes.txt")).toBe(ino(first.snapshot, "notes.txt"));
    // Changed: a new copy; the previous snapshot keeps the old content.
    expect(ino(second.snapshot, "albums/2026/cover.jpg")).not.toBe(
      ino(first.snapshot, "albums/2026/cover.jpg"),
    );
    expect(readFileSync(path.join(dir, first.snapshot, "tree/albums/2026/cover.jpg"), "utf8")).toBe(
      "jpeg bytes",
    );
    expect(readFileSync(path.join(dir, second.snapshot, "tree/albums/2026/cover.jpg"), "utf8")).toBe(
      "new jpeg bytes",
    );
    expect(existsSync(path.join(dir, second.snapshot, "tree/to-delete.txt"))).toBe(false);
    expect(existsSync(path.join(dir, first.snapshot, "tree/to-delete.txt"))).toBe(true);
    expect(second.totals.bytesLinked).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    expect(second.totals.bytesCopied).toBe("new jpeg bytes".length + "hello".length);
    expect(readlinkSync(path.join(dir, "current"))).toBe(second.snapshot);

    const full = await backupMedia(config(src, dir, { full: true }), { logger, now });
    expect(full.mode).toBe("full");
    const inodes = (snap: string) => {
      const out = new Set<number>();
      for (const e of entries(path.join(dir, snap))) {
        if (e.type === "file" && e.state === undefined)
          out.add(lstatSync(fsPath(toBinary(path.join(dir, snap, "tree")), e.path)).ino);
      }
      return out;
    };
    const shared = [...inodes(full.snapshot)].filter((i) => inodes(second.snapshot).has(i));
    expect(shared).toEqual([]);
  });

  it("keeps exact name bytes, symlinks as symlinks, hard links as hard links, modes and mtimes; the manifest names all", async () => {
    const src = await sourceTree("media-meta");
    chmodSync(path.join(src, "albums"), 0o750);
    chmodSync(path.join(src, "notes.txt"), 0o640);
    utimesSync(path.join(src, "zero"), 1_600_000_000.123456, 1_600_000_000.123456);
    const dir = await tempDir("media-meta-bk");
    const { logger } = capturingLogger();
    const r = await backupMedia(config(src, dir), { logger, now: clockFrom("2026-12-01T03:00:00Z") });
    const tree = path.join(dir, r.snapshot, "tree");
    const rawName = Buffer.from([...Buffer.from(`${tree}/raw-`), 0xff, 0xfe]);
    expect(readFileSync(rawName, "utf8")).toBe("latin-1 name");
    expect(readlinkSync(path.join(tree, "cover-link"))).toBe("albums/2026/cover.jpg");
    expect(readlinkSync(path.join(tree, "dangling"))).toBe("/nonexistent/target");
    expect(lstatSync(path.join(tree, "notes.txt")).ino).toBe(
      lstatSync(path.join(tree, "notes-hardlink.txt")).ino,
    );
    expect(statSync(path.join(tree, "albums")).mode & 0o7777).toBe(0o750);
    expect(statSync(path.join(tree, "notes.txt")).mode & 0o7777).toBe(0o640);
    expect(Math.abs(statSync(path.join(tree, "zero")).mtimeMs - 1_600_000_000_123.456)).toBeLessThan(0.01);
    expect(statSync(path.join(tree, "empty")).isDirectory()).toBe(true);
    const manifest = entries(path.join(dir, r.snapshot));
    const byPath = new Map(manifest.map((e) => [e.path, e]));
    expect(byPath.get("raw-\xff\xfe")?.type).toBe("file");
    // Walk order puts "notes-hardlink.txt" ('-' is 0x2d) before "notes.txt" ('.' is 0x2e): the later one links.
    expect(byPath.get("notes.txt")?.linkTo).toBe("notes-hardlink.txt");
    expect(byPath.get("dangling")?.target).toBe("/nonexistent/target");
    expect(readFileSync(path.join(dir, r.snapshot, "manifest.ndjson"), "utf8")).toContain('"pathB64"');
    // The checksum sidecar works with the stock tool.
    expect(
      execFileSync("sha256sum", ["-c", "manifest.ndjson.sha256"], {
        cwd: path.join(dir, r.snapshot),
      }).toString(),
    ).toContain("OK");
  });

  it("skips and names sockets and FIFOs, honours MEDIA_EXCLUDE, and records a file that keeps changing", async () => {
    const src = await sourceTree("media-special");
    execFileSync("mkfifo", [path.join(src, "a.fifo")]);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(src, "a.sock"), resolve));
    mkdirSync(path.join(src, "cache"));
    writeFileSync(path.join(src, "cache/big.tmp"), "x");
    writeFileSync(path.join(src, "albums/draft.part"), "x");
    const dir = await tempDir("media-special-bk");
    const { logger, lines } = capturingLogger();
    try {
      const r = await backupMedia(config(src, dir, { exclude: ["cache", "*.part"] }), {
        logger,
        now: clockFrom("2026-12-01T03:00:00Z"),
      });
      expect(r.exitCode).toBe(0);
      expect(r.totals.skipped).toBe(2);
      expect(r.problems.skipped.join(" ")).toMatch(/a\.fifo \(fifo\).*a\.sock \(socket\)/);
      expect(lines.some((l) => /Skipped a\.fifo: it is a fifo/.test(l))).toBe(true);
      const paths = entries(path.join(dir, r.snapshot)).map((e) => e.path);
      expect(paths).not.toContain("cache");
      expect(paths).not.toContain("albums/draft.part");
      expect(existsSync(path.join(dir, r.snapshot, "tree/a.fifo"))).toBe(false);
    } finally {
      server.close();
    }
  });

  it("a file written to during both copies is kept and recorded as changed-during-backup", async () => {
    const src = await tempDir("media-changing");
    const file = path.join(src, "growing.log");
    writeFileSync(file, Buffer.alloc(48 * 1024 * 1024, 2));
    const writer = spawn("sh", ["-c", `while :; do echo line >> "${file}"; done`], { stdio: "ignore" });
    const dir = await tempDir("media-changing-bk");
    const { logger } = capturingLogger();
    try {
      await new Promise((r) => setTimeout(r, 200));
      const r = await backupMedia(config(src, dir), { logger, now: clockFrom("2026-12-01T03:00:00Z") });
      const e = entries(path.join(dir, r.snapshot)).find((x) => x.path === "growing.log");
      expect(e?.state).toBe("changed-during-backup");
      expect(r.totals.changedDuringBackup).toBe(1);
      expect(r.problems.changedDuringBackup).toEqual(["growing.log"]);
      // What was read is what is stored, and what the manifest's size and SHA-256 say.
      expect(statSync(path.join(dir, r.snapshot, "tree/growing.log")).size).toBe(e?.size);
      const stored = readFileSync(path.join(dir, r.snapshot, "tree/growing.log"));
      expect(createHash("sha256").update(stored).digest("hex")).toBe(e?.sha256);
    } finally {
      writer.kill("SIGKILL");
    }
  });

  it.skipIf(!isRoot)(
    "an unreadable file is named, the snapshot holds the rest, the run exits 1 and retention does not run",
    async () => {
      const src = await sourceTree("media-unreadable");
      const dir = await tempDir("media-unreadable-bk");
      execFileSync("chmod", ["-R", "a+rX", src]);
      chmodSync(dir, 0o777);
      chmodSync(path.join(src, "notes.txt"), 0o600); // root's; the run is nobody's
      const child = spawn(
        "runuser",
        ["-u", "nobody", "--", NODE24, "dist/cli/index.js", "backup-media", "--json"],
        {
          env: { PATH: process.env.PATH ?? "", MEDIA_SOURCE_DIR: src, MEDIA_BACKUP_DIR: dir },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => {
        stdout += d;
      });
      child.stderr.on("data", (d) => {
        stderr += d;
      });
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect(stderr).toMatch(/Cannot read notes\.txt in the source \(EACCES: permission denied\)/);
      expect(code).toBe(1);
      const result = JSON.parse(stdout);
      expect(result.totals.errors).toBe(2); // notes.txt and its hard link
      expect(result.retention.skipped).toMatch(/unreadable/);
      const snap = path.join(dir, readlinkSync(path.join(dir, "current")));
      expect(existsSync(path.join(snap, "tree/notes.txt"))).toBe(false);
      expect(readFileSync(path.join(snap, "tree/albums/2026/cover.jpg"), "utf8")).toBe("jpeg bytes");
      expect(entries(snap).find((e) => e.path === "notes.txt")?.state).toBe("unreadable");
    },
  );
});

describe("backup-media: a run that dies or fails leaves the previous snapshot and current as they were", () => {
  it("SIGKILL mid-copy: current and the previous snapshot untouched; the next run removes the partial snapshot", async () => {
    const src = await tempDir("media-kill");
    writeFileSync(path.join(src, "small.txt"), "first");
    const dir = await tempDir("media-kill-bk");
    const { logger } = capturingLogger();
    const first = await backupMedia(config(src, dir), { logger, now: clockFrom("2026-12-01T03:00:00Z") });
    for (let i = 0; i < 6; i++)
      writeFileSync(path.join(src, `video${i}.mp4`), Buffer.alloc(64 * 1024 * 1024, i));
    const child = spawn(NODE24, ["dist/cli/index.js", "backup-media"], {
      env: { PATH: process.env.PATH ?? "", MEDIA_SOURCE_DIR: src, MEDIA_BACKUP_DIR: dir },
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => child.on("close", resolve));
    const deadline = Date.now() + 20_000;
    let partial: string | undefined;
    while (Date.now() < deadline && !partial) {
      partial = readdirSync(dir).find(
        (n) => n.endsWith(".partial") && existsSync(path.join(dir, n, "tree", "video0.mp4")),
      );
      if (!partial) await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    await exited;
    expect(partial).toBeDefined();
    expect(readlinkSync(path.join(dir, "current"))).toBe(first.snapshot);
    expect(readdirSync(dir).filter((n) => n.startsWith("media_"))).toEqual([first.snapshot]);
    expect(readFileSync(path.join(dir, first.snapshot, "tree/small.txt"), "utf8")).toBe("first");
    const { logger: next, lines } = capturingLogger();
    const again = await backupMedia(config(src, dir), {
      logger: next,
      now: clockFrom("2026-12-01T05:00:00Z"),
    });
    expect(again.exitCode).toBe(0);
    expect(lines.some((l) => l.includes(`Removed ${partial}`))).toBe(true);
    expect(readdirSync(dir).filter((n) => n.endsWith(".partial") || n.endsWith(".deleting"))).toEqual([]);
  });

  it.skipIf(!isRoot)(
    "a full disk fails the run with the cause; no partial snapshot, current and the previous snapshot intact",
    async () => {
      const src = await tempDir("media-full");
      writeFileSync(path.join(src, "a.txt"), "a");
      const dir = path.join(await tempDir("media-full-bk"), "mnt");
      const unmount = await mountTmpfs(dir, { sizeKb: 4096 });
      try {
        const { logger } = capturingLogger();
        const first = await backupMedia(config(src, dir), { logger, now: clockFrom("2026-12-01T03:00:00Z") });
        writeFileSync(path.join(src, "big.bin"), Buffer.alloc(8 * 1024 * 1024, 3));
        await expect(
          backupMedia(config(src, dir), { logger, now: clockFrom("2026-12-01T04:00:00Z") }),
        ).rejects.toThrow(/ENOSPC|no space/i);
        expect(readlinkSync(path.join(dir, "current"))).toBe(first.snapshot);
        expect(readdirSync(dir).filter((n) => n.includes("media_"))).toEqual([first.snapshot]);
        expect(readFileSync(path.join(dir, first.snapshot, "tree/a.txt"), "utf8")).toBe("a");
      } finally {
        await unmount();
      }
    },
  );

  it("a previous manifest that does not match its checksum is not linked against: the run copies everything", async () => {
    const src = await sourceTree("media-tampered-prev");
    const dir = await tempDir("media-tampered-prev-bk");
    const { logger, lines } = capturingLogger();
    const now = clockFrom("2026-12-01T03:00:00Z");
    const first = await backupMedia(config(src, dir), { logger, now });
    const manifest = path.join(dir, first.snapshot, "manifest.ndjson");
    writeFileSync(manifest, readFileSync(manifest, "utf8").replace(/"size":9,/, '"size":10,'));
    const second = await backupMedia(config(src, dir), { logger, now });
    expect(second.mode).toBe("full");
    expect(second.totals.bytesLinked).toBeLessThan(100); // only the source's own hard link
    expect(lines.some((l) => /does not match its checksum/.test(l))).toBe(true);
  });

  it("refuses a backup directory inside the source (snapshots would back themselves up)", async () => {
    const src = await sourceTree("media-overlap");
    const { logger } = capturingLogger();
    await expect(backupMedia(config(src, path.join(src, "backups")), { logger })).rejects.toThrow(/overlap/);
    expect(existsSync(path.join(src, "backups"))).toBe(false);
  });
});

describe("backup-media: retention in days", () => {
  it("removes snapshots older than MEDIA_RETENTION_DAYS, never current nor the newest complete one; dry run removes nothing", async () => {
    const src = await sourceTree("media-ret");
    const dir = await tempDir("media-ret-bk");
    const { logger } = capturingLogger();
    const names: string[] = [];
    for (const day of ["2026-10-01", "2026-10-15", "2026-11-20", "2026-11-30"]) {
      const r = await backupMedia(config(src, dir, { retentionDays: 365 }), {
        logger,
        now: clockFrom(`${day}T03:00:00Z`),
      });
      names.push(r.snapshot);
    }
    const dry = await backupMedia(config(src, dir, { retentionDays: 30, retentionDryRun: true }), {
      logger,
      now: clockFrom("2026-12-01T03:00:00Z"),
    });
    names.push(dry.snapshot);
    expect("dryRun" in dry.retention && dry.retention.remove.map((x) => x.name)).toEqual([
      names[1],
      names[0],
    ]);
    expect(readdirSync(dir).filter((n) => n.startsWith("media_"))).toHaveLength(5);
    const real = await backupMedia(config(src, dir, { retentionDays: 30 }), {
      logger,
      now: clockFrom("2026-12-01T04:00:00Z"),
    });
    expect("removed" in real.retention && real.retention.removed).toEqual([names[1], names[0]]);
    expect(
      readdirSync(dir)
        .filter((n) => n.startsWith("media_"))
        .sort(),
    ).toEqual([...names.slice(2), real.snapshot].sort());
    // The files the removed snapshots shared with the kept ones are still there (hard links).
    expect(readFileSync(path.join(dir, names[2] as string, "tree/notes.txt"), "utf8")).toBe("unchanged");
    // With 1 day and a clock far ahead, everything is old: current (the newest, complete) is kept.
    const late = await backupMedia(config(src, dir, { retentionDays: 1 }), {
      logger,
      now: clockFrom("2027-06-01T03:00:00Z"),
    });
    expect(readdirSync(dir).filter((n) => n.startsWith("media_"))).toEqual([late.snapshot]);
  });
});

describe("backup-media: hostile source trees and tampered snapshots", () => {
  it("a directory swapped for a symlink after it was listed does not lead the copy outside the source", async () => {
    const src = await tempDir("media-swap-src");
    const outside = await tempDir("media-swap-outside");
    mkdirSync(path.join(src, "d"));
    writeFileSync(path.join(src, "d/a"), "inside a");
    writeFileSync(path.join(src, "d/b"), "inside b");
    writeFileSync(path.join(outside, "b"), "OUTSIDE SECRET");
    const part = await tempDir("media-swap-partial");
    const tree = path.join(part, "tree");
    mkdirSync(tree);
    /** Excludes nothing, but swaps d for a symlink to `outside` when the walk reaches d/b. */
    class Swapper extends ExcludeRules {
      override excludes(rel: string): boolean {
        if (rel === "d/b") {
          renameSync(path.join(src, "d"), path.join(src, "d.orig"));
          symlinkSync(outside, path.join(src, "d"));
        }
        return false;
      }
    }
    const writer = ManifestWriter.create(path.join(part, "manifest.ndjson"), {
      format: "lifeline-media-manifest",
      version: 1,
      snapshot: "media_20261201_030000",
      source: src,
      createdAt: new Date().toISOString(),
      tool: "test",
      mode: "full",
      previous: null,
    });
    const { logger } = capturingLogger();
    const built = await buildSnapshot({
      source: toBinary(src),
      tree: toBinary(tree),
      exclude: new Swapper([]),
      manifest: writer,
      logger,
      signal: undefined,
    });
    writer.finish(built.totals);
    expect(readFileSync(path.join(tree, "d/b"), "utf8")).toBe("inside b");
    expect(readFileSync(path.join(part, "manifest.ndjson"), "utf8")).not.toContain("OUTSIDE");
  });

  it("a directory too deep for the snapshot's longer path is named and left out; the rest is backed up (exit 1)", async () => {
    const src = await tempDir("media-deep-src");
    writeFileSync(path.join(src, "top.txt"), "top");
    // Deeper than PATH_MAX (4096) from the filesystem root: built with relative mkdirs, as a user could.
    const part = "d".repeat(200);
    execFileSync("bash", [
      "-c",
      `cd "$1" && for i in $(seq 1 22); do mkdir "$2" && cd "$2"; done && echo deep > leaf.txt`,
      "_",
      src,
      part,
    ]);
    const dir = await tempDir("media-deep-bk");
    const { logger, lines } = capturingLogger();
    try {
      const r = await backupMedia(config(src, dir), { logger, now: clockFrom("2026-12-01T03:00:00Z") });
      expect(r.exitCode).toBe(1);
      expect(r.totals.errors).toBe(1);
      expect(lines.some((l) => /Cannot store the directory d+\/.*ENAMETOOLONG/.test(l))).toBe(true);
      expect(readFileSync(path.join(dir, r.snapshot, "tree/top.txt"), "utf8")).toBe("top");
      expect(readlinkSync(path.join(dir, "current"))).toBe(r.snapshot);
    } finally {
      execFileSync("rm", ["-rf", path.join(src, part)]); // GNU rm walks by descriptor: no PATH_MAX limit
    }
  });

  it("a previous snapshot whose directory was replaced by a symlink out of MEDIA_BACKUP_DIR is not linked from", async () => {
    const src = await tempDir("media-prevlink-src");
    const outside = await tempDir("media-prevlink-outside");
    mkdirSync(path.join(src, "cfg"));
    writeFileSync(path.join(src, "cfg/passwd"), "the real file");
    writeFileSync(path.join(outside, "passwd"), "OUTSIDE file!");
    const dir = await tempDir("media-prevlink-bk");
    const { logger } = capturingLogger();
    const now = clockFrom("2026-12-01T03:00:00Z");
    const first = await backupMedia(config(src, dir), { logger, now });
    const prevCfg = path.join(dir, first.snapshot, "tree/cfg");
    rmSync(prevCfg, { recursive: true });
    symlinkSync(outside, prevCfg);
    const second = await backupMedia(config(src, dir), { logger, now });
    const copy = path.join(dir, second.snapshot, "tree/cfg/passwd");
    expect(readFileSync(copy, "utf8")).toBe("the real file");
    expect(lstatSync(copy).ino).not.toBe(lstatSync(path.join(outside, "passwd")).ino);
    expect(second.totals.bytesCopied).toBe("the real file".length);
  });

  it("refuses, on the first run, a MEDIA_BACKUP_DIR that would be created inside the source through a symlink", async () => {
    const base = await tempDir("media-alias");
    const src = path.join(base, "data");
    mkdirSync(src);
    writeFileSync(path.join(src, "f"), "x");
    symlinkSync(src, path.join(base, "alias"));
    const { logger } = capturingLogger();
    await expect(
      backupMedia(config(src, path.join(base, "alias/media-backups")), { logger }),
    ).rejects.toThrow(/overlap/);
    expect(existsSync(path.join(src, "media-backups"))).toBe(false);
  });

  it("names with a newline cannot forge a log line; brace patterns in MEDIA_EXCLUDE stay whole", async () => {
    const src = await tempDir("media-forge");
    execFileSync("mkfifo", [path.join(src, "x\n2026-12-02T06:00:00.000Z INFO forged")]);
    writeFileSync(path.join(src, "a.tmp"), "t");
    writeFileSync(path.join(src, "b.part"), "p");
    writeFileSync(path.join(src, "keep.txt"), "k");
    const dir = await tempDir("media-forge-bk");
    const { logger, lines } = capturingLogger();
    const r = await backupMedia(config(src, dir, { exclude: splitPatterns("*.{tmp,part}") }), {
      logger,
      now: clockFrom("2026-12-01T03:00:00Z"),
    });
    expect(lines.filter((l) => l.includes("forged"))).toEqual([
      "warn: Skipped x\\n2026-12-02T06:00:00.000Z INFO forged: it is a fifo, which a backup does not copy",
    ]);
    const paths = entries(path.join(dir, r.snapshot)).map((e) => e.path);
    expect(paths).toContain("keep.txt");
    expect(paths).not.toContain("a.tmp");
    expect(paths).not.toContain("b.part");
  });

  it("verify notices a tree whose permissions or mtime were changed (cp -a would restore them)", async () => {
    const src = await sourceTree("media-meta-verify");
    const dir = await tempDir("media-meta-verify-bk");
    const { logger } = capturingLogger();
    const r = await backupMedia(config(src, dir), { logger, now: clockFrom("2026-12-01T03:00:00Z") });
    const cfg = {
      backupDir: dir,
      maxAgeHours: 26,
      subset: { kind: "percent", percent: 100 } as const,
      metrics: NO_METRICS,
    };
    const now = () => new Date("2026-12-01T04:00:00Z");
    expect((await verifyMedia(cfg, { logger, now })).exitCode).toBe(0);
    chmodSync(path.join(dir, r.snapshot, "tree/albums/2026/cover.jpg"), 0o777);
    utimesSync(path.join(dir, r.snapshot, "tree/zero"), 0, 0);
    const report = await verifyMedia(cfg, { logger, now });
    expect(report.exitCode).toBe(1);
    const problems = report.snapshots[0]?.problems.join("\n") ?? "";
    expect(problems).toMatch(/cover\.jpg: has mode 0777 in the tree; the manifest says 0644/);
    expect(problems).toMatch(/zero: has mtime 0 ns in the tree/);
  });
});

describe("backup-media → restore: the hostile tree round trip", () => {
  it("restore --media and cp -a of the snapshot tree both give back the source, content and metadata (tree digest)", async () => {
    const src = path.join(await tempDir("media-rt"), "data");
    await buildHostileTree(src);
    const dir = await tempDir("media-rt-bk");
    const { logger } = capturingLogger();
    const now = clockFrom("2026-12-01T03:00:00Z");
    const first = await backupMedia(config(src, dir), { logger, now });
    expect(first.exitCode).toBe(0);
    const second = await backupMedia(config(src, dir), { logger, now }); // incremental: all linked
    expect(second.totals.bytesCopied).toBe(0);
    const before = treeListing(src);
    const target = path.join(await tempDir("media-rt-to"), "restored");
    const restored = await restoreMedia(
      {
        backupDir: dir,
        snapshot: "latest",
        targetDir: target,
        restorePath: undefined,
        overwrite: false,
        metrics: NO_METRICS,
      },
      { logger },
    );
    expect(restored.exitCode).toBe(0);
    expect(treeListing(target)).toEqual(before);
    const copied = path.join(await tempDir("media-rt-cp"), "copied");
    execFileSync("cp", ["-a", path.join(dir, "current/tree"), copied]);
    expect(treeListing(copied)).toEqual(before);
    expect(await treeDigest(copied)).toBe(await treeDigest(src));
  });
});
