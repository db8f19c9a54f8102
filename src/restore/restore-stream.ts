import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BackupEntry } from "../catalog/backup-source.js";
import type { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import type { PgTool } from "../db/pg-tools.js";
import { type ChildStage, startChildStage } from "../process/child-stage.js";
import { LocalStore } from "../storage/local-store.js";
import { createDecompressor, decompressorProgram } from "../stream/compression.js";
import { DigestTap } from "../stream/stream-taps.js";
import { PsqlGuard, requireRestrictablePsql } from "./psql-guard.js";

export interface RestoreStreamOptions {
  readonly entry: BackupEntry;
  /** libpq environment naming the database to restore into (PGDATABASE), password in PGPASSWORD. */
  readonly env: NodeJS.ProcessEnv;
  readonly psql: PgTool;
  readonly pgRestore: PgTool;
  /** pg_restore -j for custom-format archives. */
  readonly jobs: number;
  /** Needed for .gpg backups. */
  readonly keyring: GpgDecryptKeyring | undefined;
  /** Where an encrypted custom archive is decrypted to, since pg_restore -j needs a seekable file. */
  readonly tempDir?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface RestoreStreamResult {
  /** SHA-256 of the backup file's bytes as read. */
  readonly sha256: string;
  readonly bytesRead: number;
  /** How the data went in, for logs and summaries, e.g. "pigz -dc | psql --single-transaction". */
  readonly topology: string;
}

/** A child failure that only follows from another stage dying (a broken pipe) is never the cause. */
const isConsequence = (err: Error) =>
  /SIGPIPE|EPIPE|Broken pipe|write error|Premature close|write after end|destroyed/i.test(err.message) ||
  ["EPIPE", "ERR_STREAM_PREMATURE_CLOSE", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END"].includes(
    (err as NodeJS.ErrnoException).code ?? "",
  );

/**
 * Waits for every stage; on failure stops the others and reports the failure that is the cause: of
 * the stages that failed on their own (not a broken pipe, not stopped by us), the one furthest
 * upstream — a gpg that cannot decrypt starves pigz, whose complaint may well arrive first.
 * `node` is the reading end (file or bucket → hash → first child), then `children` in pipe order.
 */
async function settle(node: Promise<unknown>, children: readonly ChildStage[]): Promise<void> {
  const arrived: { error: Error; afterStop: boolean; position: number }[] = [];
  let stopped = false;
  const all = [node, ...children.map((c) => c.exited)];
  for (const [position, p] of all.entries()) {
    p.catch((error: Error) => {
      arrived.push({ error, afterStop: stopped, position });
      if (!stopped) {
        stopped = true;
        for (const c of children) c.kill();
      }
    });
  }
  await Promise.allSettled(all);
  if (!arrived.length) return;
  const own = arrived
    .filter((f) => !isConsequence(f.error) && !(f.afterStop && /SIGTERM/.test(f.error.message)))
    .sort((a, b) => a.position - b.position);
  throw (own[0] ?? arrived[0]!).error;
}

/**
 * Streams one backup into the database named by `env`: the file is read once, hashed on the way,
 * decrypted by gpg and decompressed by pigz/zstd, whose output feeds psql through a kernel pipe.
 * Plain dumps run through `psql -v ON_ERROR_STOP=1 --single-transaction` (any SQL error fails the
 * restore and leaves nothing behind) in restricted mode, behind a guard that refuses any psql
 * meta-command and any statement pg_dump never writes (see PsqlGuard). That fences the restore in, but
 * is no sandbox: what an allowed statement runs (a function in an index or default) runs with the
 * restoring role's rights. Custom archives through `pg_restore -j N --exit-on-error`.
 * The caller compares the returned SHA-256 with the sidecar before trusting the result.
 */
export async function streamBackupInto(options: RestoreStreamOptions): Promise<RestoreStreamResult> {
  const { entry } = options;
  const env = { ...options.env, PGAPPNAME: "lifeline-restore" };
  const digest = new DigestTap();
  if (entry.format === "custom") {
    // An unencrypted local archive is restored from the file itself while it is hashed (the page cache
    // makes that one read); anything else is first decrypted/downloaded into a seekable temp file.
    if (!entry.encrypted && entry.store instanceof LocalStore) {
      const input = await entry.store.get(entry.fileName); // a regular file only, never a FIFO
      // pg_restore reads the very file hashed here, not whatever the path names by the time it opens
      // it: it gets our descriptor as its fd 3, and /dev/fd/3 (which its -j workers reopen) is that
      // open file on Linux, even if the name has been replaced since.
      const fd = (input as Readable & { fd?: unknown }).fd;
      if (typeof fd !== "number") throw new Error(`${entry.uri}: the opened archive has no file descriptor`);
      await checkArchiveStatements(options, env, entry.uri, "/dev/fd/3", [fd]);
      const restore = startPgRestore(options, env, "/dev/fd/3", [fd]);
      await settle(pipeline(input, digest, sink()), [restore]);
      return {
        sha256: digest.hex(),
        bytesRead: digest.bytes,
        topology: `pg_restore -j ${options.jobs} (file)`,
      };
    }
    const dir = await mkdtemp(path.join(options.tempDir ?? tmpdir(), "lifeline-restore-"));
    try {
      const file = path.join(dir, "archive.dump");
      const input = await entry.store.get(entry.fileName, options.signal);
      const gpg = entry.encrypted ? requireKeyring(options).startDecrypt() : undefined;
      const out = createWriteStream(file, { mode: 0o600 });
      await settle(
        gpg
          ? Promise.all([pipeline(input, digest, gpg.stdin!), pipeline(gpg.stdout, out)])
          : pipeline(input, digest, out),
        gpg ? [gpg] : [],
      );
      await checkArchiveStatements(options, env, entry.uri, file);
      const restore = startPgRestore(options, env, file);
      await settle(Promise.resolve(), [restore]);
      return {
        sha256: digest.hex(),
        bytesRead: digest.bytes,
        topology: `${gpg ? "gpg --decrypt > temp file, " : "temp file, "}pg_restore -j ${options.jobs}`,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  requireRestrictablePsql(options.psql, entry.uri);
  const input = await entry.store.get(entry.fileName, options.signal);
  const children: ChildStage[] = [];
  const names: string[] = [];
  try {
    // gpg and pigz/zstd are chained through kernel pipes (each reads the previous one's stdout);
    // what reaches psql passes through the guard in this process, so psql never reads the file itself.
    let upstream: Readable | undefined;
    const chain = (stage: ChildStage, name: string) => {
      children.push(stage);
      names.push(name);
      if (upstream) upstream.destroy(); // the child holds its own copy of the pipe now
      upstream = stage.stdout;
    };
    if (entry.encrypted) chain(requireKeyring(options).startDecrypt(), "gpg --decrypt");
    const program = decompressorProgram(entry.compression);
    const nodeStages: NodeJS.ReadWriteStream[] = [];
    if (program) {
      chain(
        startChildStage(program.command, program.command, program.args, { stdin: upstream ?? true }),
        `${program.command} ${program.args.join(" ")}`,
      );
    } else if (entry.compression !== "none") {
      if (entry.encrypted)
        throw new Error(
          `${entry.compression} restores of encrypted backups need the ${entry.compression} program`,
        );
      nodeStages.push(createDecompressor(entry.compression));
      names.push(`node ${entry.compression}`);
    }
    const psql = startChildStage(
      "psql",
      options.psql.path,
      ["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-o", "/dev/null"],
      { env, stdin: true },
    );
    psql.stdout.resume();
    // On refusal psql is stopped first: it must not reach the end of its input, where
    // --single-transaction would commit what came before (into the new database, dropped anyway).
    const guard = new PsqlGuard({ file: entry.uri, onRefuse: () => psql.kill() });
    names.push("meta-command guard", "psql --single-transaction (restricted)");
    const first = children[0];
    const reading = first
      ? Promise.all([
          pipeline(input, digest, first.stdin as Writable),
          pipeline(upstream!, guard, psql.stdin as Writable),
        ])
      : pipeline(input, digest, ...(nodeStages as [NodeJS.ReadWriteStream]), guard, psql.stdin as Writable);
    children.push(psql);
    await settle(reading, children);
    return { sha256: digest.hex(), bytesRead: digest.bytes, topology: names.join(" | ") };
  } catch (err) {
    input.destroy();
    for (const c of children) c.kill();
    throw err;
  }
}

/**
 * A custom archive's SQL is held to the same rule as a plain dump's before anything is restored: its
 * schema (pre-data and post-data sections: no table data, so this is quick) as `pg_restore -f -` writes
 * it goes through the guard (statements pg_dump never writes, psql meta-commands), and nothing is
 * restored when it refuses. The data section (COPY statements, sequence values, large objects) is not
 * listed here.
 */
async function checkArchiveStatements(
  options: RestoreStreamOptions,
  env: NodeJS.ProcessEnv,
  uri: string,
  file: string,
  fds: readonly number[] = [],
): Promise<void> {
  const listing = startChildStage(
    "pg_restore --schema-only -f -",
    options.pgRestore.path,
    ["--schema-only", "-f", "-", file],
    { env, fds },
  );
  const guard = new PsqlGuard({
    file: `${uri} (its schema as pg_restore -f - writes it)`,
    onRefuse: () => listing.kill(),
  });
  await settle(pipeline(listing.stdout, guard, sink()), [listing]);
}

function startPgRestore(
  options: RestoreStreamOptions,
  env: NodeJS.ProcessEnv,
  file: string,
  fds: readonly number[] = [],
): ChildStage {
  const stage = startChildStage(
    "pg_restore",
    options.pgRestore.path,
    ["--no-password", "--exit-on-error", "-j", String(options.jobs), "-d", env.PGDATABASE ?? "", file],
    { env, fds },
  );
  stage.stdout.resume();
  return stage;
}

function requireKeyring(options: RestoreStreamOptions): GpgDecryptKeyring {
  if (!options.keyring) throw new Error(`${options.entry.uri} is encrypted but no GPG keyring was prepared`);
  return options.keyring;
}

const sink = (): Writable =>
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
