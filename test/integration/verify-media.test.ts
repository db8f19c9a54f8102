import { createHash } from "node:crypto";
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { BackupMediaConfig, DataSubset, VerifyMediaConfig } from "../../src/config/media-config.js";
import { backupMedia } from "../../src/media/backup-media.js";
import { type MediaVerifyReport, verifyMedia } from "../../src/media/verify-media.js";
import { verifyMediaJson, verifyMediaSummary } from "../../src/media/verify-media-summary.js";
import { CancelledError } from "../../src/shared/errors.js";
import { capturingLogger, usePushgateway, useTempDirs } from "../support/fixtures.js";

const tempDir = useTempDirs();
const gateway = usePushgateway();

const NO_METRICS = { pushgatewayUrl: undefined, job: "lifeline", textfile: undefined };
const OLDER = "media_20261201_030000";
const NEWER = "media_20261202_030000";
const OLDER_AT = new Date("2026-12-01T03:00:00Z");
const NEWER_AT = new Date("2026-12-02T03:00:00Z");
/** Two hours after the newer snapshot: fresh under a 26 h limit. */
const VERIFY_AT = new Date("2026-12-02T05:00:00Z");
/** A name that is not UTF-8: problems must show it as \xNN. */
const LATIN1_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]); // "caf\xe9.txt"
const SMALL_FILES = 40;

interface Fixture {
  readonly source: string;
  readonly backupDir: string;
  readonly newer: string;
  readonly older: string;
  /** Files per snapshot. */
  readonly files: number;
}

/**
 * Two real snapshots of a small media tree: a.txt, big.bin (3 MiB, the async read path) and the
 * small files are unchanged, so the newer snapshot hard-links them to the older; changed.txt changed
 * and new.txt is new, so the newer snapshot holds its own copies.
 */
async function twoSnapshots(label: string): Promise<Fixture> {
  const root = await tempDir(`verify-media-${label}`);
  const source = path.join(root, "data");
  const backupDir = path.join(root, "backups");
  mkdirSync(path.join(source, "dir", "empty"), { recursive: true });
  mkdirSync(path.join(source, "many"));
  mkdirSync(backupDir);
  writeFileSync(path.join(source, "a.txt"), "alpha\n");
  writeFileSync(path.join(source, "dir", "changed.txt"), "before\n");
  writeFileSync(path.join(source, "big.bin"), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  writeFileSync(Buffer.from(`${source}/${LATIN1_NAME.toString("latin1")}`, "latin1"), "latin-1 name\n");
  for (let i = 0; i < SMALL_FILES; i++) writeFileSync(path.join(source, "many", `f${i}.txt`), `file ${i}\n`);
  symlinkSync("a.txt", path.join(source, "link"));
  linkSync(path.join(source, "a.txt"), path.join(source, "dir", "a-hardlink.txt"));
  await backup(source, backupDir, OLDER_AT);
  writeFileSync(path.join(source, "dir", "changed.txt"), "after!\n"); // same length, new content
  writeFileSync(path.join(source, "new.txt"), "new\n");
  await backup(source, backupDir, NEWER_AT);
  return {
    source,
    backupDir,
    newer: path.join(backupDir, NEWER),
    older: path.join(backupDir, OLDER),
    files: 6 + SMALL_FILES,
  };
}

async function backup(sourceDir: string, backupDir: string, at: Date): Promise<void> {
  const config: BackupMediaConfig = {
    sourceDir,
    backupDir,
    retentionDays: 30,
    full: false,
    exclude: [],
    retentionDryRun: false,
    metrics: NO_METRICS,
  };
  const result = await backupMedia(config, { logger: capturingLogger().logger, now: () => at });
  expect(result.exitCode).toBe(0);
}

async function verify(
  backupDir: string,
  options: {
    subset?: DataSubset;
    at?: Date;
    metrics?: VerifyMediaConfig["metrics"];
    signal?: AbortSignal;
  } = {},
): Promise<MediaVerifyReport & { lines: string[] }> {
  const { logger, lines } = capturingLogger();
  const at = options.at ?? VERIFY_AT;
  const report = await verifyMedia(
    {
      backupDir,
      maxAgeHours: 26,
      subset: options.subset ?? { kind: "percent", percent: 100 },
      metrics: options.metrics ?? NO_METRICS,
    },
    { logger, now: () => at, ...(options.signal ? { signal: options.signal } : {}) },
  );
  return { ...report, lines };
}

/** Overwrites one byte in place (through every hard link of the file): the size stays the same. */
function corruptByte(file: string | Buffer, offset = 0): void {
  const fd = openSync(file, "r+");
  try {
    const byte = readFileSync(file)[offset] as number;
    writeSync(fd, Buffer.from([byte ^ 0xff]), 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

/** Rewrites a snapshot's manifest and, with `resum`, its sidecar to match (what a careful tamperer does). */
function editManifest(snapshotDir: string, edit: (text: string) => string, resum: boolean): void {
  const file = path.join(snapshotDir, "manifest.ndjson");
  const before = readFileSync(file, "utf8");
  const after = edit(before);
  expect(after).not.toBe(before);
  writeFileSync(file, after);
  if (resum) {
    const sha = createHash("sha256").update(after).digest("hex");
    writeFileSync(path.join(snapshotDir, "manifest.ndjson.sha256"), `${sha}  manifest.ndjson\n`);
  }
}

const byName = (report: MediaVerifyReport, name: string) => {
  const check = report.snapshots.find((s) => s.name === name);
  if (!check) throw new Error(`${name} is not in the report`);
  return check;
};

describe("verifyMedia", () => {
  it("verifies a clean pair of snapshots with exit 0, reading a file shared by hard links once", async () => {
    const f = await twoSnapshots("clean");
    expect(statSync(path.join(f.newer, "tree", "a.txt")).ino).toBe(
      statSync(path.join(f.older, "tree", "a.txt")).ino,
    );
    const report = await verify(f.backupDir);
    expect(report.reasons).toEqual([]);
    expect(report.exitCode).toBe(0);
    expect(report.current).toBe(NEWER);
    expect(report.newestAgeHours).toBeCloseTo(2, 5);
    expect(report.snapshots.map((s) => [s.name, s.ok, s.problemCount])).toEqual([
      [NEWER, true, 0],
      [OLDER, true, 0],
    ]);
    const newer = byName(report, NEWER);
    // dir/a-hardlink.txt is a hard link of a.txt in the source, so one inode in the snapshot: read once.
    expect(newer.filesChecked).toBe(f.files - 1);
    expect(newer.filesNotRead).toBe(1);
    expect(newer.bytesRead).toBeGreaterThan(3 * 1024 * 1024);
    // The older snapshot shares every unchanged file's inode with the newer one: only changed.txt is read.
    const older = byName(report, OLDER);
    expect(older.filesChecked).toBe(1);
    expect(older.filesNotRead).toBe(f.files - 2); // new.txt is not in the older snapshot
    const summary = verifyMediaSummary(report);
    expect(summary).toContain("2 of 2 snapshots good, exit 0");
    expect(summary).toContain(`| ${NEWER} |`);
    const json = JSON.parse(verifyMediaJson(report)) as { snapshots: { name: string; takenAt: string }[] };
    expect(json.snapshots[0]).toMatchObject({ name: NEWER, takenAt: NEWER_AT.toISOString() });
  });

  it("names a corrupted file shared by both snapshots (hard link) in each, and a corrupted copy only in its own", async () => {
    const f = await twoSnapshots("corrupt");
    corruptByte(path.join(f.newer, "tree", "a.txt")); // linked: the older snapshot's a.txt is the same inode
    corruptByte(path.join(f.newer, "tree", "dir", "changed.txt")); // copied: the older one has its own
    corruptByte(Buffer.from(`${f.newer}/tree/${LATIN1_NAME.toString("latin1")}`, "latin1"), 3);
    corruptByte(path.join(f.newer, "tree", "big.bin"), 2 * 1024 * 1024 + 5); // the async path
    const report = await verify(f.backupDir);
    expect(report.exitCode).toBe(1);
    const newer = byName(report, NEWER);
    const older = byName(report, OLDER);
    expect(newer.ok).toBe(false);
    expect(older.ok).toBe(false);
    const damaged = (name: string, rel: string) =>
      expect.stringMatching(
        new RegExp(`^${name}/tree/${rel}: its content does not match the manifest \\(sha256`),
      );
    expect(newer.problems).toEqual(
      expect.arrayContaining([
        damaged(NEWER, "a\\.txt"),
        damaged(NEWER, "dir/changed\\.txt"),
        damaged(NEWER, "caf\\\\xe9\\.txt"),
        damaged(NEWER, "big\\.bin"),
      ]),
    );
    // Hard links in the source are one inode in the snapshot too: a-hardlink.txt is damaged with a.txt.
    expect(newer.problems).toContainEqual(damaged(NEWER, "dir/a-hardlink\\.txt"));
    expect(older.problems.filter((p) => !p.includes("dir/changed.txt")).length).toBe(older.problemCount);
    expect(older.problems).toContainEqual(damaged(OLDER, "a\\.txt"));
    expect(report.reasons[0]).toContain(`2 of 2 media snapshot(s) failed verification: ${NEWER}, ${OLDER}`);
    expect(report.reasons).toContainEqual(
      expect.stringContaining(`points at ${NEWER}, which failed verification`),
    );
    expect(report.lines).toContainEqual(
      expect.stringMatching(/^error: verify media media_20261202_030000\/tree\/a\.txt/),
    );
    expect(verifyMediaSummary(report)).toContain("caf\\xe9.txt");
  });

  it("names a missing file, an extra file, a changed symlink and a type swap", async () => {
    const f = await twoSnapshots("missing-extra");
    unlinkSync(path.join(f.newer, "tree", "many", "f3.txt"));
    writeFileSync(path.join(f.newer, "tree", "dir", "intruder.txt"), "not backed up\n");
    unlinkSync(path.join(f.newer, "tree", "link"));
    symlinkSync("/etc/passwd", path.join(f.newer, "tree", "link"));
    rmSync(path.join(f.newer, "tree", "dir", "empty"), { recursive: true });
    writeFileSync(path.join(f.newer, "tree", "dir", "empty"), "");
    const report = await verify(f.backupDir);
    expect(report.exitCode).toBe(1);
    expect(byName(report, OLDER).ok).toBe(true);
    expect(byName(report, NEWER).problems).toEqual([
      `${NEWER}/tree/dir/empty: is a file in the tree; the manifest says dir`,
      `${NEWER}/tree/dir/intruder.txt: is in the tree (file) but not in the manifest`,
      `${NEWER}/tree/link: points at '/etc/passwd'; the manifest says 'a.txt'`,
      `${NEWER}/tree/many/f3.txt: is in the manifest (file) but missing from the tree`,
    ]);
  });

  it("names the manifest when one sha256 in it was edited (the sidecar no longer matches)", async () => {
    const f = await twoSnapshots("manifest-edit");
    const sha = createHash("sha256").update("alpha\n").digest("hex");
    editManifest(f.newer, (text) => text.replace(sha, "0".repeat(64)), false);
    const report = await verify(f.backupDir);
    expect(report.exitCode).toBe(1);
    const newer = byName(report, NEWER);
    expect(newer.problems).toContainEqual(
      `${NEWER}: The manifest ${path.join(f.newer, "manifest.ndjson")} does not match its checksum ` +
        `(manifest.ndjson.sha256 says ${readFileSync(path.join(f.newer, "manifest.ndjson.sha256"), "utf8").slice(0, 64)}): ` +
        "it was changed or damaged after the snapshot was taken; use another snapshot",
    );
    expect(newer.problems).toContainEqual(
      expect.stringContaining(`${NEWER}/tree/a.txt: its content does not match`),
    );
    expect(byName(report, OLDER).ok).toBe(true);
  });

  it("refuses a manifest with a ../ path even when its sidecar was recomputed, naming it", async () => {
    const f = await twoSnapshots("traversal");
    editManifest(f.newer, (text) => text.replace('"path":"new.txt"', '"path":"../new.txt"'), true);
    const report = await verify(f.backupDir);
    expect(report.exitCode).toBe(1);
    const newer = byName(report, NEWER);
    expect(newer.ok).toBe(false);
    expect(newer.problems).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${NEWER}: Manifest ${path.join(f.newer, "manifest.ndjson")} line \\d+ cannot be trusted: the path '\\.\\./new\\.txt' is unsafe`,
        ),
      ),
    );
  });

  it("names a missing manifest checksum, and a missing tree/ once rather than once per entry", async () => {
    const f = await twoSnapshots("no-sum-no-tree");
    unlinkSync(path.join(f.older, "manifest.ndjson.sha256"));
    rmSync(path.join(f.newer, "tree"), { recursive: true });
    const report = await verify(f.backupDir);
    expect(report.exitCode).toBe(1);
    expect(byName(report, NEWER).problems).toEqual([
      expect.stringMatching(new RegExp(`^${NEWER}: ${path.join(f.newer, "tree")} cannot be read: ENOENT`)),
    ]);
    expect(byName(report, OLDER).problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${OLDER}: The manifest checksum ${path.join(f.older, "manifest.ndjson.sha256")} cannot be read`,
        ),
      ),
    ]);
    expect(byName(report, OLDER).filesChecked).toBe(f.files - 2); // the tree was still checked, every inode read once
  });

  it("exits 2 when there is no snapshot, or no MEDIA_BACKUP_DIR at all", async () => {
    const root = await tempDir("verify-media-empty");
    const empty = await verify(root);
    expect(empty.exitCode).toBe(2);
    expect(empty.reasons).toEqual([`no media snapshot in ${root}`]);
    expect(empty.newestAgeHours).toBeUndefined();
    expect(verifyMediaSummary(empty)).toContain("No media snapshots found.");
    const gone = await verify(path.join(root, "nothing-here"));
    expect(gone.exitCode).toBe(2);
    expect(gone.reasons[0]).toContain("does not exist");
  });

  it("exits 2 when the newest complete snapshot is older than max-age-hours", async () => {
    const f = await twoSnapshots("too-old");
    const report = await verify(f.backupDir, { at: new Date("2026-12-05T03:00:00Z") });
    expect(report.exitCode).toBe(2);
    expect(report.newestAgeHours).toBeCloseTo(72, 5);
    expect(report.reasons).toEqual([
      `the newest complete media snapshot ${NEWER} is 72.0 h old, over the 26 h limit: check that backup-media runs`,
    ]);
  });

  it("fails a snapshot dated more than an hour ahead of the clock, which never counts as the newest", async () => {
    const f = await twoSnapshots("future");
    await backup(f.source, f.backupDir, new Date("2026-12-02T08:00:00Z"));
    const report = await verify(f.backupDir);
    expect(report.exitCode).toBe(1);
    expect(report.snapshots[0]).toMatchObject({ name: "media_20261202_080000", ok: false });
    expect(report.snapshots[0]?.problems[0]).toContain("ahead of this host's clock");
    expect(report.newestAgeHours).toBeCloseTo(2, 5);
  });

  it("exits 1 when current is missing", async () => {
    const f = await twoSnapshots("no-current");
    unlinkSync(path.join(f.backupDir, "current"));
    const report = await verify(f.backupDir);
    expect(report.exitCode).toBe(1);
    expect(report.current).toBeUndefined();
    expect(report.reasons).toEqual([
      expect.stringContaining(`${path.join(f.backupDir, "current")} does not exist`),
    ]);
  });

  it("notes an old incomplete snapshot without failing it, and fails the newest one", async () => {
    const f = await twoSnapshots("incomplete");
    // The trailer of a snapshot whose backup could not read an entry (as root, no file is unreadable).
    const markIncomplete = (dir: string) =>
      editManifest(dir, (text) => text.replace('"errors":0', '"errors":1'), true);
    markIncomplete(f.older);
    const old = await verify(f.backupDir);
    expect(old.exitCode).toBe(0);
    expect(byName(old, OLDER)).toMatchObject({ ok: true, incomplete: true, problemCount: 1 });
    expect(byName(old, OLDER).problems[0]).toContain("a newer snapshot supersedes it");
    markIncomplete(f.newer);
    const newest = await verify(f.backupDir);
    expect(newest.exitCode).toBe(1);
    expect(byName(newest, NEWER)).toMatchObject({ ok: false, incomplete: true });
    expect(newest.reasons).toContainEqual(expect.stringContaining("no complete media snapshot"));
  });

  it("reads only the files of a slice (--read-data-subset 1/4), the same ones every time", async () => {
    const f = await twoSnapshots("slice");
    const manifest = readFileSync(path.join(f.newer, "manifest.ndjson"), "utf8");
    const hashes = [...manifest.matchAll(/"sha256":"([0-9a-f]{64})"/g)].map((m) => m[1] as string);
    expect(hashes).toHaveLength(f.files);
    // a.txt and its hard link are one inode with one hash: read once. Every other file's content differs.
    const inSlice = [...new Set(hashes)].filter((h) => Number.parseInt(h.slice(0, 4), 16) % 4 === 0).length;
    expect(inSlice).toBeGreaterThan(0);
    const report = await verify(f.backupDir, { subset: { kind: "slice", n: 1, of: 4 } });
    expect(report.exitCode).toBe(0);
    const newer = byName(report, NEWER);
    expect(newer.filesChecked).toBe(inSlice);
    expect(newer.filesNotRead).toBe(f.files - inSlice);
    expect(newer.filesChecked).toBeLessThan(f.files);
    const again = await verify(f.backupDir, { subset: { kind: "slice", n: 1, of: 4 } });
    expect(byName(again, NEWER).filesChecked).toBe(inSlice);
  });

  it("stops when cancelled", async () => {
    const f = await twoSnapshots("cancel");
    const controller = new AbortController();
    controller.abort(new CancelledError("SIGINT"));
    await expect(verify(f.backupDir, { signal: controller.signal })).rejects.toThrow(
      /The media verification was cancelled \(SIGINT\)/,
    );
  });

  it('pushes backup_verify_last_status{type="media"} to the Pushgateway', async () => {
    const f = await twoSnapshots("metrics");
    corruptByte(path.join(f.newer, "tree", "new.txt"));
    const report = await verify(f.backupDir, {
      metrics: { pushgatewayUrl: gateway().url, job: "lifeline", textfile: undefined },
    });
    expect(report.exitCode).toBe(1);
    expect(report.metrics.pushgateway).toBe("pushed");
    // The newer snapshot failed: the newest good one is the older, 26 h old.
    const scraped = await gateway().scrape();
    expect(scraped).toMatch(/backup_verify_last_status\{instance="",job="lifeline",type="media"\} 1/);
    expect(scraped).toMatch(
      /backup_verify_newest_age_seconds\{instance="",job="lifeline",type="media"\} 93600/,
    );
  });
});
