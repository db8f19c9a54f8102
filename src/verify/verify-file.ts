import { Duplex, type Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BackupName } from "../catalog/backup-name.js";
import { readManifestText, readSidecar } from "../catalog/catalog.js";
import { type BackupManifest, CHECKSUM_SUFFIX, MANIFEST_SUFFIX } from "../catalog/manifest.js";
import { GPG_BASE_ARGS } from "../crypto/gpg-keyring.js";
import { CUSTOM_DUMP_MAGIC, PLAIN_DUMP_TRAILER, TRAILER_WINDOW } from "../db/pg-dump.js";
import { startChildStage } from "../process/child-stage.js";
import type { BackupStore } from "../storage/store.js";
import { compressionOfExtension, createDecompressor } from "../stream/compression.js";
import { DigestTap, EdgeTap } from "../stream/stream-taps.js";

/** Classes whose objects cannot be read without a restore request first (hours): not downloaded. */
const ARCHIVED_CLASSES = new Set(["GLACIER", "DEEP_ARCHIVE", "Archive"]);

export interface FileCheck {
  readonly file: string;
  readonly name: BackupName;
  readonly sizeBytes: number;
  readonly ok: boolean;
  /** What was checked and passed, e.g. "sha256", "gzip", "trailer", "manifest". */
  readonly passed: readonly string[];
  /** What could not be checked and why (not a failure), e.g. "not decrypted: no secret key". */
  readonly notes: readonly string[];
  /** Why it failed, when not ok. */
  readonly problem?: string;
}

export interface VerifyFileOptions {
  /** Environment for gpg (GNUPGHOME of the keyring holding the secret key). */
  readonly gpgEnv?: NodeJS.ProcessEnv | undefined;
  /** A secret key was given on purpose: failing to decrypt with it is a failure, not a note. */
  readonly requireDecryption?: boolean | undefined;
  /** The run's cancellation: aborts the read of the file (the caller then stops the run). */
  readonly signal?: AbortSignal | undefined;
}

const discard = () =>
  new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });

/**
 * Checks one backup in a single streamed read, wherever it is stored (a directory or a bucket):
 * SHA-256 against its sidecar, GPG decryption (when a secret key is at hand), a full decompression
 * (gzip/zstd checksums), pg_dump's completion trailer (plain) or archive magic (custom), and agreement
 * with its manifest when there is one. Objects in an archive class are not downloaded: their sidecar,
 * manifest and recorded checksum are checked, and a note says the contents were not read.
 */
export async function verifyBackupFile(
  store: BackupStore,
  name: BackupName,
  options: VerifyFileOptions = {},
): Promise<FileCheck> {
  const fileName = name.toString();
  const file = store.uri(fileName);
  let object: Awaited<ReturnType<BackupStore["stat"]>>;
  try {
    object = await store.stat(fileName);
  } catch (err) {
    // Not a regular file in a directory (a FIFO, a link, a directory): named, never opened.
    return { file, name, sizeBytes: 0, ok: false, passed: [], notes: [], problem: (err as Error).message };
  }
  const sizeBytes = object?.sizeBytes ?? 0;
  const passed: string[] = [];
  const notes: string[] = [];
  const fail = (problem: string): FileCheck => ({ file, name, sizeBytes, ok: false, passed, notes, problem });

  if (!object) return { file, name, sizeBytes, ok: false, passed: [], notes: [], problem: "it is gone" };
  // The catalog's one reading of a sidecar: regular file, size-bounded, one line naming this file.
  const read = await readSidecar(store, fileName, undefined, options.signal);
  if (read.state === "absent") return fail(`no ${CHECKSUM_SUFFIX} sidecar`);
  if (read.state === "bad") {
    if (read.fault === "names-other")
      return fail(`${CHECKSUM_SUFFIX} sidecar names another file, '${read.names}'`);
    if (read.cause) return fail(`cannot read its ${CHECKSUM_SUFFIX} sidecar: ${read.cause.message}`);
    return fail(read.problem);
  }
  if (read.state !== "ok") return fail(`its ${CHECKSUM_SUFFIX} sidecar was not read`);
  const sidecar = { sha256: read.sha256 };
  if (sizeBytes === 0) return fail("empty file");
  if (object.storageClass && ARCHIVED_CLASSES.has(object.storageClass)) {
    if (object.sha256 !== undefined && object.sha256 !== sidecar.sha256)
      return fail(
        `the object's recorded sha256 ${object.sha256} differs from its sidecar's ${sidecar.sha256}`,
      );
    notes.push(`in ${object.storageClass}: contents not read (restore the object first to check them)`);
    return { file, name, sizeBytes, ok: true, passed: ["sidecar"], notes };
  }
  const open = () => store.get(fileName, options.signal);

  let decrypt = name.encrypted;
  let content: ReadResult | { error: string };
  try {
    content = await readThrough(open, name, decrypt, false, options.gpgEnv);
  } catch (err) {
    const message = (err as Error).message;
    if (decrypt && options.requireDecryption && /no secret key|secret key not available/i.test(message)) {
      content = { error: `gpg cannot decrypt it with the key given (wrong key?): ${message}` };
    } else if (decrypt && /no secret key|secret key not available/i.test(message)) {
      decrypt = false;
      notes.push("not decrypted: no secret key for it here (give one to check the contents)");
      content = await readThrough(open, name, false).catch((e: Error) => ({ error: e.message }));
    } else {
      content = { error: message };
    }
  }
  if ("error" in content) {
    // The digest may be incomplete when reading failed, so the sha256 is judged separately.
    const digestOnly = await readThrough(open, name, false, true).catch(() => undefined);
    if (digestOnly && !("error" in digestOnly) && digestOnly.sha256 !== sidecar.sha256) {
      return fail(`sha256 mismatch: file has ${digestOnly.sha256}, sidecar says ${sidecar.sha256}`);
    }
    return fail(content.error);
  }
  if (content.sha256 !== sidecar.sha256)
    return fail(`sha256 mismatch: file has ${content.sha256}, sidecar says ${sidecar.sha256}`);
  passed.push("sha256");
  if (decrypt) passed.push("gpg");
  if (content.checkedContent) {
    const compression = compressionOfExtension(name.extension);
    if (compression !== "none") passed.push(compression);
    if (name.extension === "dump") {
      if (content.head !== CUSTOM_DUMP_MAGIC)
        return fail(`not a pg_dump custom archive (no ${CUSTOM_DUMP_MAGIC} magic)`);
      passed.push("archive magic");
    } else {
      if (!content.tail.includes(PLAIN_DUMP_TRAILER))
        return fail(`dump is incomplete: no '${PLAIN_DUMP_TRAILER}' at its end`);
      passed.push("dump trailer");
    }
  }

  let manifestText: string | undefined;
  try {
    manifestText = await readManifestText(store, fileName);
  } catch (err) {
    return fail(`cannot read its ${MANIFEST_SUFFIX}: ${(err as Error).message}`);
  }
  if (manifestText === undefined) {
    notes.push("no manifest");
  } else {
    let manifest: BackupManifest;
    try {
      manifest = JSON.parse(manifestText) as BackupManifest;
    } catch {
      return fail(`${MANIFEST_SUFFIX} is not valid JSON`);
    }
    if (manifest.sha256 !== content.sha256)
      return fail(`manifest sha256 ${manifest.sha256} differs from the file's`);
    if (manifest.sizeBytes !== sizeBytes)
      return fail(`manifest size ${manifest.sizeBytes} differs from the file's ${sizeBytes}`);
    passed.push("manifest");
  }
  return { file, name, sizeBytes, ok: true, passed, notes };
}

interface ReadResult {
  readonly sha256: string;
  readonly checkedContent: boolean;
  readonly head: string;
  readonly tail: string;
}

/** Streams the file once: digest, then (unless digestOnly) decrypt and decompress, keeping head and tail. */
async function readThrough(
  open: () => Promise<Readable>,
  name: BackupName,
  decrypt: boolean,
  digestOnly = false,
  gpgEnv: NodeJS.ProcessEnv = process.env,
): Promise<ReadResult> {
  const digest = new DigestTap();
  const edge = new EdgeTap(TRAILER_WINDOW, CUSTOM_DUMP_MAGIC.length);
  const checkContent = !digestOnly && (!name.encrypted || decrypt);
  const stages: NodeJS.ReadWriteStream[] = [digest];
  const gpg =
    checkContent && decrypt
      ? startChildStage("gpg --decrypt", "gpg", [...GPG_BASE_ARGS, "--quiet", "--decrypt"], {
          stdin: true,
          env: gpgEnv,
        })
      : undefined;
  if (gpg) stages.push(Duplex.from({ writable: gpg.stdin!, readable: gpg.stdout }));
  if (checkContent) stages.push(createDecompressor(compressionOfExtension(name.extension)), edge);
  try {
    await Promise.all([
      pipeline(await open(), ...(stages as [NodeJS.ReadWriteStream]), discard()),
      ...(gpg ? [gpg.exited] : []),
    ]);
  } catch (err) {
    // When gpg fails (no secret key, bad data) the decompressor only sees input end early: gpg's own
    // words are the cause.
    const gpgFailure = gpg
      ? await gpg.exited.then(
          () => undefined,
          (e: Error) => e,
        )
      : undefined;
    gpg?.kill();
    if (gpgFailure) throw gpgFailure;
    const e = err as NodeJS.ErrnoException;
    const what =
      e.code?.startsWith("Z_") || /incorrect header|unexpected end|invalid|corrupt/i.test(e.message)
        ? "decompression failed"
        : "read failed";
    throw new Error(gpg && /gpg/.test(e.message) ? e.message : `${what}: ${e.message}`);
  }
  return {
    sha256: digest.hex(),
    checkedContent: checkContent,
    head: edge.head().toString("latin1"),
    tail: edge.tail().toString("utf8"),
  };
}
