import { showControls } from "../log/logger.js";

/**
 * Paths of a media tree as "binary strings": every char is one byte of the real name (latin1), so a
 * non-UTF-8 name survives the walk, the manifest and the restore byte for byte, and comparing two
 * strings compares their bytes. The tree's root is "", a child "a", a grandchild "a/b".
 */
export type RelPath = string;

/** The bytes of a real path (a directory given by the operator, as UTF-8) as a binary string. */
export function toBinary(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** The real path of `rel` under `root` (a binary string too), as the Buffer fs calls take. */
export function fsPath(root: string, rel: RelPath): Buffer {
  return Buffer.from(rel === "" ? root : `${root}/${rel}`, "latin1");
}

/** `parent/name`, or `name` under the root. */
export function joinRel(parent: RelPath, name: string): RelPath {
  return parent === "" ? name : `${parent}/${name}`;
}

/** The directory that holds `rel` ("" for a child of the root). */
export function parentOf(rel: RelPath): RelPath {
  const slash = rel.lastIndexOf("/");
  return slash < 0 ? "" : rel.slice(0, slash);
}

/** Whether `rel` is `dir` or lies under it. */
export function isWithin(rel: RelPath, dir: RelPath): boolean {
  return dir === "" || rel === dir || rel.startsWith(`${dir}/`);
}

const SLASH = 0x2f;

/**
 * The walk order: names compared byte by byte, component by component, so a directory comes right
 * before its children and "a/z" before "a b". That is byte order with "/" below every other byte.
 */
export function compareRelPaths(a: RelPath, b: RelPath): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return x - y;
  }
  return a.length - b.length;
}

/** Why `rel` cannot be a path inside a tree, or undefined when it can: what a tampered manifest would try. */
export function relPathProblem(rel: RelPath): string | undefined {
  if (rel === "") return "it is empty";
  if (rel.includes("\0")) return "it contains a NUL byte";
  if (rel.startsWith("/")) return "it is absolute";
  for (const part of rel.split("/")) {
    if (part === "") return "it has an empty component (a leading, trailing or double '/')";
    if (part === "." || part === "..") return `it has a '${part}' component`;
  }
  return undefined;
}

/** Whether the bytes are valid UTF-8, so a name can be written as text rather than base64. */
export function isUtf8(rel: RelPath): boolean {
  const bytes = Buffer.from(rel, "latin1");
  return Buffer.from(bytes.toString("utf8"), "utf8").equals(bytes);
}

/** A path for people: UTF-8 as is, other bytes as \xNN (never a raw control char in a log line). */
export function showPath(rel: RelPath): string {
  const text = isUtf8(rel)
    ? Buffer.from(rel, "latin1").toString("utf8")
    : [...rel].map((c) => (c.charCodeAt(0) < 0x80 ? c : `\\x${c.charCodeAt(0).toString(16)}`)).join("");
  return showControls(text === "" ? "." : text)
    .replace(/\n/g, "\\n")
    .replace(/\t/g, "\\t");
}

/**
 * An fs error for a log line or manifest: its code and words ("EACCES: permission denied"), without the
 * path Node appends (a /proc/self/fd path, or raw bytes that could forge a line), control chars escaped.
 */
export function showError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const words = code && message.startsWith(`${code}:`) ? message.replace(/, \w+ '[\s\S]*$/, "") : message;
  return showControls(words).replace(/\n/g, "\\n").replace(/\t/g, "\\t");
}
