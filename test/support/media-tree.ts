// Trees for media backup tests and the benchmark: a small hostile tree (every awkward name, link,
// mode and time a backup must keep) and a large deterministic tree shaped like a media directory,
// plus `changeFraction` to age it between two backups. The digest lives in tree-digest.ts.
//
// Times: mtimes are set with fs.utimes/lutimes, which take fractional seconds: libuv keeps the
// double's resolution (about 0.24 µs at today's dates, Node 24) or truncates to whole microseconds
// (Node 20). The tree asks for the middle of a microsecond, so neither can move it to another one.
// Two entries (links/ns-file, links/ns-symlink) get a full-nanosecond mtime through `touch -d`, so
// an engine's nanosecond fields are exercised too; treeDigest compares to the microsecond.

import { execFileSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  fstatSync,
  futimesSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { walkTree } from "./tree-digest.js";

export { escapeBytes, fileSha256, treeDigest, treeDigestSync, treeListing, walkTree } from "./tree-digest.js";

const BLOCK = 1 << 20;
const LARGE_SHARE = 0.6;
const MAX_PER_DIR = 1000;
const DIRS_PER_GROUP = 100;
const SMALL_EXTENSIONS = [".jpg", ".json", ".srt", ".png", ".txt"];
const LARGE_EXTENSIONS = [".mkv", ".wav", ".mp4", ".flac"];

/** A fast deterministic 32-bit PRNG (mulberry32): the same seed gives the same sequence. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** `bytes` pseudo-random bytes from `seed` (a multiple of 4 is fastest). */
export function randomBuffer(seed: number, bytes: number): Buffer {
  const next = prng(seed);
  const words = new Uint32Array(Math.ceil(bytes / 4));
  for (let i = 0; i < words.length; i++) words[i] = next();
  return Buffer.from(words.buffer, 0, bytes);
}

/** The relative paths of interest in the tree buildHostileTree made (binary strings: one char a byte). */
export interface HostileTree {
  readonly nonUtf8File: string;
  readonly nonUtf8Dir: string;
  readonly hardLinkPair: readonly [string, string];
  readonly hardLinkTriple: readonly [string, string, string];
  readonly symlinks: Readonly<
    Record<"relative" | "absolute" | "dangling" | "toDir" | "nonUtf8Target" | "nanoseconds", string>
  >;
  readonly largeFile: string;
}

/**
 * Builds the hostile tree under `root` (created; must not exist or be empty): nested and empty
 * directories, empty files, non-UTF-8, space, newline, leading-dash and unicode names, symlinks of
 * every kind, hard links (nlink 2 and 3), modes 0600/0755/0444 and a 0750 directory, sub-second
 * mtimes on files, symlinks and directories, a ~3 MB random file and small files of distinct content.
 */
export async function buildHostileTree(root: string): Promise<HostileTree> {
  const at = (...parts: (string | Buffer)[]) =>
    Buffer.concat([Buffer.from(root), ...parts.flatMap((p) => [Buffer.from("/"), Buffer.from(p)])]);
  const dirs: Buffer[] = [Buffer.from(root)];
  const dir = (...parts: (string | Buffer)[]) => {
    const full = at(...parts);
    mkdirSync(full, { recursive: true });
    dirs.push(full);
    return full;
  };
  const timed: { path: Buffer; symlink: boolean }[] = [];
  const file = (parts: (string | Buffer)[], content: string | Buffer) => {
    const full = at(...parts);
    writeFileSync(full, content);
    timed.push({ path: full, symlink: false });
    return full;
  };
  const link = (target: string | Buffer, ...parts: (string | Buffer)[]) => {
    const full = at(...parts);
    symlinkSync(target, full);
    timed.push({ path: full, symlink: true });
  };
  const nonUtf8File = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]); // "f\xff\xfe.bin"
  const nonUtf8Dir = Buffer.from([0x64, 0xff, 0xfe]); // "d\xff\xfe"
  const latin1Name = Buffer.from("\xe9t\xe9.txt", "latin1"); // é in latin1: not UTF-8 either

  mkdirSync(root, { recursive: true });
  for (const d of ["a/b/c/d", "empty-dir", "日本", "links", "hard", "triple/x", "triple/y", "modes", "big"]) {
    for (let i = 1; i <= d.split("/").length; i++) dir(...d.split("/").slice(0, i));
  }
  dir(nonUtf8Dir);
  const restricted = dir("modes", "restricted");

  file(["a", "b", "c", "deep.txt"], "three levels down\n");
  file(["a", "b", "c", "d", "deeper.txt"], "four levels down\n");
  file(["a", "b", "note.txt"], "a note\n");
  file(["empty.txt"], "");
  file(["a", "empty-too"], "");
  file([nonUtf8File], "a name that is not UTF-8\n");
  file([nonUtf8Dir, "inner.txt"], "inside a directory whose name is not UTF-8\n");
  file([nonUtf8Dir, latin1Name], "latin1 é in the name\n");
  file(["with space.txt"], "spaces\n");
  file(["line\nbreak.txt"], "a newline in the name\n");
  file(["-leading-dash.txt"], "looks like an option\n");
  file(["café.txt"], "UTF-8 é\n");
  file(["日本", "ファイル.txt"], "日本語\n");
  for (let i = 0; i < 10; i++) file([`small-${i}.txt`], `small file ${i}: ${"x".repeat(i * 37)}\n`);
  const big = file(["big", "random.bin"], randomBuffer(0x5eed, 3 * BLOCK + 12_345));

  link("../a/b/c/deep.txt", "links", "relative");
  link("/etc/hostname", "links", "absolute");
  link("../does-not-exist", "links", "dangling");
  link("../a/b", "links", "to-dir");
  link(Buffer.concat([Buffer.from("../"), nonUtf8File]), "links", "non-utf8-target");

  const one = file(["hard", "one"], "two names, one inode\n");
  linkSync(one, at("hard", "two"));
  const first = file(["triple", "x", "first"], "three names in two directories\n");
  linkSync(first, at("triple", "x", "second"));
  linkSync(first, at("triple", "y", "third"));

  chmodSync(file(["modes", "private"], "0600\n"), 0o600);
  chmodSync(file(["modes", "exec.sh"], "#!/bin/sh\necho 0755\n"), 0o755);
  chmodSync(file(["modes", "readonly"], "0444\n"), 0o444);
  file(["modes", "restricted", "inside.txt"], "in a 0750 directory\n");
  chmodSync(restricted, 0o750);

  // Files and symlinks first, directories last and deepest first: creating an entry bumps its
  // directory's mtime. The hard links' inode gets its time through its first name.
  let step = 0;
  const mtime = () => {
    step++;
    return 1_700_000_000 + step * 86_413 + ((step * 123_457) % 1_000_000) / 1e6 + 0.5e-6;
  };
  for (const entry of timed) {
    const t = mtime();
    if (entry.symlink) lutimesSync(entry.path, t, t);
    else utimesSync(entry.path, t, t);
  }
  // Full nanoseconds need utimensat as such: touch has it, Node does not.
  file(["links", "ns-file"], "an mtime with nanoseconds\n");
  link("ns-file", "links", "ns-symlink");
  for (const name of ["ns-file", "ns-symlink"]) {
    execFileSync("touch", ["-h", "-d", "@1700000000.123456789", path.join(root, "links", name)]);
  }
  const depth = (p: Buffer) => p.filter((b) => b === 0x2f).length;
  for (const d of [...dirs].sort((a, b) => depth(b) - depth(a))) {
    const t = mtime();
    utimesSync(d, t, t);
  }

  const rel = (full: Buffer) => full.subarray(Buffer.byteLength(root) + 1).toString("latin1");
  return {
    nonUtf8File: nonUtf8File.toString("latin1"),
    nonUtf8Dir: nonUtf8Dir.toString("latin1"),
    hardLinkPair: ["hard/one", "hard/two"],
    hardLinkTriple: ["triple/x/first", "triple/x/second", "triple/y/third"],
    symlinks: {
      relative: "links/relative",
      absolute: "links/absolute",
      dangling: "links/dangling",
      toDir: "links/to-dir",
      nonUtf8Target: "links/non-utf8-target",
      nanoseconds: "links/ns-symlink",
    },
    largeFile: rel(big),
  };
}

/** The shape of a media tree: `files` in all, `largeFiles` of them holding most of `totalBytes`. */
export interface MediaTreeOptions {
  readonly files: number;
  readonly totalBytes: number;
  readonly largeFiles: number;
  readonly seed: number;
  /** Directories for the small files (default: one per 500), at most 1,000 files each. */
  readonly dirs?: number;
}

/** What buildMediaTree made, and how long it took. */
export interface MediaTreeStats {
  readonly files: number;
  readonly bytes: number;
  readonly dirs: number;
  readonly seconds: number;
}

/** Writes `size` bytes of `base`, XORed with a word per 1 MiB block so no two blocks or files repeat. */
function writeContent(
  file: string,
  size: number,
  base: Buffer,
  scratch: Buffer,
  index: number,
  seed: number,
) {
  const header = Buffer.from(`lifeline media tree seed=${seed} file=${index}\n`);
  if (size <= BLOCK) {
    // Small files: a header plus a slice of the base block at a file-specific offset.
    const offset = (index * 4099) % (BLOCK - size + 1);
    base.copy(scratch, 0, offset, offset + size);
    header.copy(scratch, 0, 0, Math.min(header.length, size));
    writeFileSync(file, scratch.subarray(0, size));
    return;
  }
  const baseWords = new Uint32Array(base.buffer, base.byteOffset, BLOCK / 4);
  const outWords = new Uint32Array(scratch.buffer, scratch.byteOffset, BLOCK / 4);
  const fd = openSync(file, "w");
  try {
    for (let block = 0, left = size; left > 0; block++) {
      const key = (Math.imul(index + 1, 0x9e3779b1) ^ Math.imul(block + 1, 0x85ebca6b)) >>> 0;
      for (let i = 0; i < outWords.length; i++) outWords[i] = baseWords[i]! ^ key;
      if (block === 0) header.copy(scratch);
      const n = Math.min(left, BLOCK);
      writeSync(fd, scratch, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Builds a deterministic media-like tree under `root`: `video/` holds the large files (about 60 % of
 * the bytes when there are small files too), `library/gNN/dNNNN/` the small ones. Content comes from
 * one 1 MiB PRNG block per seed, varied per file and per block, so generation runs at disk speed.
 */
export async function buildMediaTree(root: string, options: MediaTreeOptions): Promise<MediaTreeStats> {
  const { files, totalBytes, largeFiles, seed } = options;
  for (const [name, value] of Object.entries({ files, totalBytes, largeFiles, seed })) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`buildMediaTree: ${name} must be a non-negative integer, got ${value}`);
    }
  }
  if (largeFiles > files || largeFiles > MAX_PER_DIR) {
    throw new TypeError(`buildMediaTree: largeFiles (${largeFiles}) must be ≤ files and ≤ ${MAX_PER_DIR}`);
  }
  const started = process.hrtime.bigint();
  const small = files - largeFiles;
  const dirs = options.dirs ?? Math.max(1, Math.ceil(small / 500));
  const perDir = Math.ceil(small / dirs);
  if (perDir > MAX_PER_DIR || dirs / DIRS_PER_GROUP > MAX_PER_DIR) {
    throw new TypeError(
      `buildMediaTree: ${small} small files in ${dirs} directories is over ${MAX_PER_DIR} a directory`,
    );
  }
  const next = prng(seed ^ 0x51ed);
  const base = randomBuffer(seed, BLOCK);
  const scratch = Buffer.allocUnsafe(BLOCK);

  // Sizes first, so the large files can take exactly what the small ones leave.
  const smallBudget =
    largeFiles === 0 ? totalBytes : small === 0 ? 0 : Math.floor(totalBytes * (1 - LARGE_SHARE));
  const smallAverage = small === 0 ? 0 : smallBudget / small;
  const smallSizes = Array.from({ length: small }, () =>
    Math.floor(smallAverage * (0.25 + (next() / 2 ** 32) * 1.5)),
  );
  let largeBudget = Math.max(0, totalBytes - smallSizes.reduce((a, b) => a + b, 0));
  const largeSizes = Array.from({ length: largeFiles }, (_, i) => {
    if (i === largeFiles - 1) return largeBudget;
    const size = Math.floor((largeBudget / (largeFiles - i)) * (0.8 + (next() / 2 ** 32) * 0.4));
    largeBudget -= size;
    return size;
  });

  mkdirSync(root, { recursive: true });
  let bytes = 0;
  if (largeFiles > 0) mkdirSync(path.join(root, "video"));
  largeSizes.forEach((size, i) => {
    const name = `take-${String(i).padStart(4, "0")}${LARGE_EXTENSIONS[i % LARGE_EXTENSIONS.length]}`;
    writeContent(path.join(root, "video", name), size, base, scratch, i, seed);
    bytes += size;
  });
  let currentDir = "";
  smallSizes.forEach((size, i) => {
    const d = Math.floor(i / perDir);
    const dir = path.join(
      root,
      "library",
      `g${String(Math.floor(d / DIRS_PER_GROUP)).padStart(2, "0")}`,
      `d${String(d).padStart(4, "0")}`,
    );
    if (dir !== currentDir) {
      mkdirSync(dir, { recursive: true });
      currentDir = dir;
    }
    const name = `f${String(i).padStart(7, "0")}${SMALL_EXTENSIONS[i % SMALL_EXTENSIONS.length]}`;
    writeContent(path.join(dir, name), size, base, scratch, largeFiles + i, seed);
    bytes += size;
  });
  const used = small === 0 ? 0 : Math.ceil(small / perDir);
  const dirCount =
    1 + (largeFiles > 0 ? 1 : 0) + (used === 0 ? 0 : 1 + Math.ceil(used / DIRS_PER_GROUP) + used);
  return { files, bytes, dirs: dirCount, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** What changeFraction did: counts, and the relative paths (binary strings) it touched. */
export interface TreeChanges {
  readonly changed: number;
  readonly deleted: number;
  readonly added: number;
  readonly paths: { readonly changed: string[]; readonly deleted: string[]; readonly added: string[] };
}

/**
 * Ages the tree under `root` deterministically: rewrites 4 KiB inside about `fraction` of the regular
 * files (same size, mtime moved at least 1 s on), deletes a tenth as many others, adds as many new.
 */
export function changeFraction(root: string, fraction: number, seed: number): TreeChanges {
  if (!(fraction >= 0 && fraction <= 1))
    throw new TypeError(`changeFraction: fraction must be in [0, 1], got ${fraction}`);
  const regular: string[] = [];
  walkTree(root, ({ rel, stat }) => {
    if (stat.isFile()) regular.push(rel.toString("latin1"));
  });
  const next = prng(seed ^ 0xc4a);
  const at = (rel: string) => Buffer.concat([Buffer.from(`${root}/`), Buffer.from(rel, "latin1")]);
  const changed: string[] = [];
  const untouched: string[] = [];
  for (const rel of regular) (next() / 2 ** 32 < fraction ? changed : untouched).push(rel);
  const patch = randomBuffer(seed ^ 0xfeed, 4096);
  for (const rel of changed) {
    const fd = openSync(at(rel), "r+");
    try {
      const st = fstatSync(fd);
      const length = Math.min(patch.length, Math.max(1, st.size));
      const position = st.size > length ? next() % (st.size - length) : 0;
      writeSync(fd, patch, 0, length, position);
      const mtime = Math.max(Date.now() / 1000, st.mtimeMs / 1000 + 1);
      futimesSync(fd, st.atime, mtime);
    } finally {
      closeSync(fd);
    }
  }
  const count = fraction === 0 ? 0 : Math.max(1, Math.round((regular.length * fraction) / 10));
  const deleted: string[] = [];
  for (let i = 0; i < count && untouched.length > 0; i++) {
    const [rel] = untouched.splice(next() % untouched.length, 1);
    unlinkSync(at(rel!));
    deleted.push(rel!);
  }
  const added: string[] = [];
  for (let i = 0; i < count && regular.length > 0; i++) {
    const dir = path.posix.dirname(regular[next() % regular.length]!);
    const rel = `${dir === "." ? "" : `${dir}/`}added-${seed}-${i}.bin`;
    writeFileSync(at(rel), randomBuffer(seed + i, 1024 + (next() % 60_000)));
    added.push(rel);
  }
  return {
    changed: changed.length,
    deleted: deleted.length,
    added: added.length,
    paths: { changed, deleted, added },
  };
}
