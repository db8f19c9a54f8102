import { execFile } from "node:child_process";
import {
  chmodSync,
  lstatSync,
  lutimesSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { useTempDirs } from "../support/fixtures.js";
import {
  buildHostileTree,
  buildMediaTree,
  changeFraction,
  type HostileTree,
  treeDigest,
  treeListing,
} from "../support/media-tree.js";

const execFileAsync = promisify(execFile);
const tempDir = useTempDirs();
let source: string;
let hostile: HostileTree;
let sourceListing: string[];
// The it.each table is built before beforeAll runs: the paths buildHostileTree reports, as constants.
const LARGE = "big/random.bin";
const RELATIVE = "links/relative";
const PAIR = ["hard/one", "hard/two"];
const TRIPLE = ["triple/x/first", "triple/x/second", "triple/y/third"];

/** The paths (first field) of the lines that differ between two listings. */
function changedPaths(a: string[], b: string[]): string[] {
  const inA = new Set(a);
  const inB = new Set(b);
  const paths = [...a.filter((l) => !inB.has(l)), ...b.filter((l) => !inA.has(l))].map(
    (l) => l.split("\t")[0]!,
  );
  return [...new Set(paths)].sort();
}

/** A fresh `cp -a` copy of the source tree, to change one thing in. */
async function copyOfSource(): Promise<string> {
  const copy = path.join(await tempDir("media-tree-copy"), "tree");
  await execFileAsync("cp", ["-a", source, copy]);
  return copy;
}

/** An entry's mtime as seconds for utimes: the middle of its microsecond, so rounding keeps it. */
function mtimeOf(file: string): number {
  return Number(lstatSync(file, { bigint: true }).mtimeNs / 1000n) / 1e6 + 5e-7;
}

/** Runs `change` on a path while keeping its parent directory's mtime, so only the change shows. */
function keepingParentMtime(file: string, change: () => void) {
  const parent = mtimeOf(path.dirname(file));
  change();
  utimesSync(path.dirname(file), parent, parent);
}

beforeAll(async () => {
  source = path.join(await tempDir("media-tree"), "tree");
  hostile = await buildHostileTree(source);
  sourceListing = treeListing(source);
});

describe("buildHostileTree", () => {
  it("makes the awkward entries a backup must keep", () => {
    const line = (rel: string) => sourceListing.find((l) => l.startsWith(`${rel}\t`));
    expect(line("f\\xff\\xfe.bin")).toContain("\tfile\t");
    expect(line("d\\xff\\xfe")).toContain("\tdir\t");
    expect(line("line\\x0abreak.txt")).toBeDefined();
    expect(line("links/non-utf8-target")).toContain("target=../f\\xff\\xfe.bin");
    expect(line("links/dangling")).toContain("target=../does-not-exist");
    expect(line("modes/readonly")).toContain("mode=0444");
    expect(line("modes/restricted")).toContain("mode=0750");
    expect(line(".")).toMatch(/^\.\tdir\tmode=0755\t/);
    expect(statSync(path.join(source, hostile.hardLinkPair[0])).nlink).toBe(2);
    expect(statSync(path.join(source, hostile.hardLinkTriple[2])).nlink).toBe(3);
    expect(line(hostile.hardLinkTriple[0])).toContain("link=2");
    expect(line(hostile.hardLinkTriple[2])).toContain("link=2");
    expect([
      hostile.largeFile,
      hostile.symlinks.relative,
      hostile.hardLinkPair,
      hostile.hardLinkTriple,
    ]).toEqual([LARGE, RELATIVE, PAIR, TRIPLE]);
    expect(statSync(path.join(source, hostile.largeFile)).size).toBeGreaterThan(3_000_000);
    expect(lstatSync(path.join(source, hostile.symlinks.nanoseconds), { bigint: true }).mtimeNs % 1000n).toBe(
      789n,
    );
    expect(
      (lstatSync(path.join(source, "a/b/c/deep.txt"), { bigint: true }).mtimeNs / 1000n) % 1_000_000n,
    ).toBe(123_457n);
  });
});

describe("treeDigest", () => {
  it("is equal for a cp -a copy", async () => {
    const copy = await copyOfSource();
    expect(treeListing(copy)).toEqual(sourceListing);
    expect(await treeDigest(copy)).toBe(await treeDigest(source));
  });

  it.each<[string, (copy: string) => void, string[]]>([
    ["a mode", (copy) => chmodSync(path.join(copy, "modes/private"), 0o640), ["modes/private"]],
    ["the root's mode", (copy) => chmodSync(copy, 0o700), ["."]],
    [
      "an mtime by one microsecond",
      (copy) => {
        const file = path.join(copy, "a/b/note.txt");
        const t = mtimeOf(file) + 1e-6;
        utimesSync(file, t, t);
      },
      ["a/b/note.txt"],
    ],
    [
      "one content byte",
      (copy) => {
        const file = path.join(copy, LARGE);
        const before = mtimeOf(file);
        const bytes = readFileSync(file);
        bytes[1_234_567] = bytes[1_234_567]! ^ 1;
        writeFileSync(file, bytes);
        utimesSync(file, before, before);
      },
      [LARGE],
    ],
    [
      "a symlink target",
      (copy) => {
        const link = path.join(copy, RELATIVE);
        const before = mtimeOf(link);
        keepingParentMtime(link, () => {
          unlinkSync(link);
          symlinkSync("../a/b/c/deep.txX", link);
        });
        lutimesSync(link, before, before);
      },
      [RELATIVE],
    ],
    [
      "a hard link broken by copying the file over",
      (copy) => {
        const [one, two] = PAIR.map((p) => path.join(copy, p)) as [string, string];
        keepingParentMtime(two, () => {
          unlinkSync(two);
          writeFileSync(two, readFileSync(one));
          const t = mtimeOf(one);
          utimesSync(two, t, t);
        });
      },
      // The triple's group number moves from 2 to 1: groups are numbered in walk order.
      [...PAIR, ...TRIPLE],
    ],
  ])("changes with %s", async (_, change, expected) => {
    const copy = await copyOfSource();
    change(copy);
    expect(changedPaths(sourceListing, treeListing(copy))).toEqual([...expected].sort());
    expect(await treeDigest(copy)).not.toBe(await treeDigest(source));
  });
});

describe("buildMediaTree", () => {
  it("builds the same content from the same seed, and changeFraction changes it", async () => {
    const options = { files: 600, totalBytes: 8_000_000, largeFiles: 2, seed: 42, dirs: 3 };
    const [a, b, c] = [await tempDir("media-a"), await tempDir("media-b"), await tempDir("media-c")];
    const stats = await buildMediaTree(a, options);
    await buildMediaTree(b, options);
    await buildMediaTree(c, { ...options, seed: 43 });
    expect(stats).toMatchObject({ files: 600, bytes: 8_000_000 });
    const contents = (root: string) => treeListing(root).map((l) => l.replace(/\tmtime=\S+/, ""));
    expect(contents(b)).toEqual(contents(a));
    const hashes = (root: string) => treeListing(root).flatMap((l) => /sha256=(\w+)/.exec(l)?.[1] ?? []);
    expect(new Set(hashes(a)).size).toBe(600);
    expect(hashes(c).filter((h) => hashes(a).includes(h))).toEqual([]);

    const before = treeListing(a);
    const changes = changeFraction(a, 0.05, 1);
    expect(changes.changed).toBeGreaterThan(10);
    expect(changes.deleted).toBe(3);
    expect(changes.added).toBe(3);
    const touched = [...changes.paths.changed, ...changes.paths.deleted, ...changes.paths.added];
    const dirsOf = [...changes.paths.deleted, ...changes.paths.added].map((p) => path.posix.dirname(p));
    expect(changedPaths(before, treeListing(a))).toEqual([...new Set([...touched, ...dirsOf])].sort());
    const after = treeListing(a);
    for (const rel of changes.paths.changed) {
      const old = before.find((l) => l.startsWith(`${rel}\t`))!;
      const now = after.find((l) => l.startsWith(`${rel}\t`))!;
      expect(now.replace(/\tmtime=\S+|\tsha256=\w+/g, "")).toBe(old.replace(/\tmtime=\S+|\tsha256=\w+/g, ""));
      expect(now).not.toBe(old);
    }
  });
});
