import { UserError } from "../shared/errors.js";
import { isDataName, isEncryptedName } from "./remote-layout.js";

export const INDEX_FORMAT = "lifeline-media-index";
export const OBJECTS_FORMAT = "lifeline-media-objects";
/** An index or objects file larger than this is not one Lifeline wrote (and would not fit a string). */
export const MAX_INDEX_BYTES = 256 << 20;
/** A manifest larger than this (as stored, or decrypted) is not one Lifeline wrote: it is never staged whole. */
export const MAX_MANIFEST_BYTES = 2 ** 31;

/** Where one file content is in a bucket: bytes offset..offset+length of an object's plaintext. */
export interface ContentLocation {
  readonly object: string;
  readonly offset: number;
  readonly length: number;
}

/** A remote index, or its objects file, that cannot be trusted: names it and what was wrong. */
export class RemoteIndexError extends UserError {
  override readonly name = "RemoteIndexError";
}

const SHA256 = /^[0-9a-f]{64}$/;

function natural(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * What a bucket holds for one snapshot: each content (by SHA-256) and where it is, and each data object
 * with its stored size. Built as a snapshot is uploaded; read back for restore, verify and the next
 * run's deduplication.
 */
export class ContentIndex {
  private readonly contents = new Map<string, ContentLocation>();
  private readonly objectBytes = new Map<string, number>();

  get size(): number {
    return this.contents.size;
  }

  has(sha256: string): boolean {
    return this.contents.has(sha256);
  }

  get(sha256: string): ContentLocation | undefined {
    return this.contents.get(sha256);
  }

  /** Stored bytes of a data object, as written (the gpg message, when encrypted). */
  objectSize(name: string): number | undefined {
    return this.objectBytes.get(name);
  }

  addObject(name: string, bytes: number): void {
    this.objectBytes.set(name, bytes);
  }

  add(sha256: string, location: ContentLocation): void {
    if (!this.contents.has(sha256)) this.contents.set(sha256, location);
  }

  /** Every data object, with its stored size, sorted by name. */
  objects(): [string, number][] {
    return [...this.objectBytes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  entries(): IterableIterator<[string, ContentLocation]> {
    return this.contents.entries();
  }

  /** The index as written to the bucket: a header line, the objects, then the contents. */
  encode(snapshot: string): string {
    const lines = [JSON.stringify({ format: INDEX_FORMAT, version: 1, snapshot })];
    for (const [object, bytes] of this.objects()) lines.push(JSON.stringify({ object, bytes }));
    for (const [sha256, l] of this.contents) {
      lines.push(JSON.stringify({ sha256, object: l.object, offset: l.offset, length: l.length }));
    }
    return `${lines.join("\n")}\n`;
  }

  /**
   * Parses an index as `encode` writes it. Everything is checked: names of data objects, hashes,
   * offsets within the object's recorded size; `where` names the object in errors.
   */
  static parse(text: string, where: string, snapshot?: string): ContentIndex {
    const index = new ContentIndex();
    const bad = (line: number, why: string) =>
      new RemoteIndexError(
        `The index ${where} is not valid at line ${line}: ${why}. It was changed or damaged; use another snapshot, or run verify`,
      );
    const lines = text.split("\n");
    if (lines.at(-1) !== "") throw bad(lines.length, "it does not end with a newline (cut short?)");
    lines.pop();
    lines.forEach((raw, i) => {
      let v: Record<string, unknown>;
      try {
        v = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        throw bad(i + 1, "not JSON");
      }
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(i + 1, "not an object");
      if (i === 0) {
        if (v.format !== INDEX_FORMAT || v.version !== 1) throw bad(1, `not a ${INDEX_FORMAT} version 1`);
        if (snapshot !== undefined && v.snapshot !== snapshot)
          throw bad(
            1,
            `it is the index of ${typeof v.snapshot === "string" ? v.snapshot : "no snapshot"}, not of ${snapshot}`,
          );
        return;
      }
      if (typeof v.object !== "string" || !isDataName(v.object))
        throw bad(i + 1, "no valid data object name");
      if (v.sha256 === undefined) {
        if (!natural(v.bytes)) throw bad(i + 1, "no valid object size");
        if (index.objectBytes.has(v.object)) throw bad(i + 1, `${v.object} is listed twice`);
        index.objectBytes.set(v.object, v.bytes);
        return;
      }
      if (typeof v.sha256 !== "string" || !SHA256.test(v.sha256)) throw bad(i + 1, "no valid sha256");
      if (!natural(v.offset) || !natural(v.length)) throw bad(i + 1, "no valid offset and length");
      const objectBytes = index.objectBytes.get(v.object);
      if (objectBytes === undefined) throw bad(i + 1, `${v.object} is not among the index's objects`);
      // A gpg message's size is not its plaintext's; for a plain object the content must lie inside it.
      if (!isEncryptedName(v.object) && v.offset + v.length > objectBytes)
        throw bad(
          i + 1,
          `bytes ${v.offset}+${v.length} lie beyond the end of ${v.object} (${objectBytes} bytes)`,
        );
      if (index.contents.has(v.sha256)) throw bad(i + 1, `${v.sha256} is listed twice`);
      index.contents.set(v.sha256, { object: v.object, offset: v.offset, length: v.length });
    });
    if (lines.length === 0) throw bad(1, "it is empty");
    return index;
  }
}

/** The readable list of a snapshot's data objects: what retention, GC and verify's size check read without a key. */
export interface ObjectsFile {
  readonly snapshot: string;
  /** SHA-256 of the index's plaintext (to check a local copy of it, even when the bucket's is encrypted). */
  readonly indexSha256: string;
  /** Entries the snapshot recorded as unreadable: a snapshot with errors is not "complete" for retention. */
  readonly errors: number;
  readonly objects: ReadonlyMap<string, number>;
}

export function encodeObjectsFile(f: ObjectsFile): string {
  const lines = [
    `# ${OBJECTS_FORMAT} 1`,
    `# snapshot ${f.snapshot}`,
    `# index-sha256 ${f.indexSha256}`,
    `# errors ${f.errors}`,
  ];
  for (const [name, bytes] of [...f.objects].sort(([a], [b]) => (a < b ? -1 : 1)))
    lines.push(`${name} ${bytes}`);
  return `${lines.join("\n")}\n`;
}

export function parseObjectsFile(text: string, where: string, snapshot: string): ObjectsFile {
  const bad = (why: string) =>
    new RemoteIndexError(
      `The objects list ${where} is not valid: ${why}. It was changed or damaged; run verify, and do not delete data by hand`,
    );
  const lines = text.split("\n");
  if (lines.at(-1) !== "") throw bad("it does not end with a newline (cut short?)");
  lines.pop();
  const header = (i: number, key: string, pattern: RegExp): string => {
    const m = new RegExp(`^# ${key} (${pattern.source})$`).exec(lines[i] ?? "");
    if (!m) throw bad(`line ${i + 1} is not '# ${key} …'`);
    return m[1] as string;
  };
  if (lines[0] !== `# ${OBJECTS_FORMAT} 1`) throw bad(`it is not a ${OBJECTS_FORMAT} version 1`);
  const named = header(1, "snapshot", /media_\d{8}_\d{6}/);
  if (named !== snapshot) throw bad(`it names ${named}, not ${snapshot}`);
  const indexSha256 = header(2, "index-sha256", /[0-9a-f]{64}/);
  const errors = Number(header(3, "errors", /\d{1,15}/));
  const objects = new Map<string, number>();
  for (let i = 4; i < lines.length; i++) {
    const m = /^(\S+) (\d{1,15})$/.exec(lines[i] as string);
    if (!m || !isDataName(m[1] as string)) throw bad(`line ${i + 1} is not '<data object> <bytes>'`);
    if (objects.has(m[1] as string)) throw bad(`${m[1]} is listed twice`);
    objects.set(m[1] as string, Number(m[2]));
  }
  return { snapshot, indexSha256, errors, objects };
}
