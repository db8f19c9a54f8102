import { spawn } from "node:child_process";
import path from "node:path";
import type { Readable, Writable } from "node:stream";

const STDERR_LIMIT = 16 * 1024;

/** A child process used as one stage of a stream pipeline (pg_dump, gpg, psql...). */
export interface ChildStage {
  /** The child's stdin, when it reads one. */
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  /** Resolves when the child exits 0; rejects with its own last words otherwise. */
  readonly exited: Promise<void>;
  /** Stops the child (SIGTERM) if it is still running. */
  kill(): void;
  /** What the child has written to stderr so far (its last 16 KiB). */
  stderr(): string;
}

export class ChildStageError extends Error {
  override readonly name = "ChildStageError";
}

/**
 * The kinds of child programs, each with the variables it may inherit:
 * - "libpq": pg_dump, psql, pg_restore (and their version probes): the base set plus libpq's documented
 *   PG* variables (PGPASSWORD is how they get the password, never argv);
 * - "tool": gpg (and its long-lived gpg-agent), zstd, pigz: the base set only.
 * Nothing else passes: no Lifeline secret, action input, cloud or runner credential, no PG_DATABASE_URL
 * or PGADMIN_DEFAULT_PASSWORD, no proxy (libpq does not use HTTP proxies; gpg runs without dirmngr).
 * A value holding a URL with credentials (`scheme://user:pass@`) never passes, whatever its name.
 */
export type ChildKind = "libpq" | "tool";

/** What every child may see: where programs and files are, the locale, the terminal, gpg's home. */
const BASE_VARIABLES = new Set([
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "LANG",
  "LANGUAGE",
  "TZ",
  "TMPDIR",
  "TMP",
  "TEMP",
  "TERM",
  "GNUPGHOME",
  "GPG_TTY",
  "LD_LIBRARY_PATH",
  "DYLD_LIBRARY_PATH",
  "ZSTD_CLEVEL",
  "ZSTD_NBTHREADS",
]);
const BASE_PATTERNS: readonly RegExp[] = [/^LC_[A-Z_]+$/, /^XDG_[A-Z_]+$/];

/** libpq's documented environment variables (https://www.postgresql.org/docs/current/libpq-envars.html). */
const LIBPQ_VARIABLES = new Set([
  "PGHOST",
  "PGHOSTADDR",
  "PGPORT",
  "PGDATABASE",
  "PGUSER",
  "PGPASSWORD",
  "PGPASSFILE",
  "PGSERVICE",
  "PGSERVICEFILE",
  "PGOPTIONS",
  "PGAPPNAME",
  "PGSSLMODE",
  "PGREQUIRESSL",
  "PGSSLNEGOTIATION",
  "PGSSLCOMPRESSION",
  "PGSSLCERT",
  "PGSSLKEY",
  "PGSSLCERTMODE",
  "PGSSLROOTCERT",
  "PGSSLCRL",
  "PGSSLCRLDIR",
  "PGSSLSNI",
  "PGREQUIREPEER",
  "PGSSLMINPROTOCOLVERSION",
  "PGSSLMAXPROTOCOLVERSION",
  "PGGSSENCMODE",
  "PGKRBSRVNAME",
  "PGGSSLIB",
  "PGGSSDELEGATION",
  "PGCONNECT_TIMEOUT",
  "PGCLIENTENCODING",
  "PGTARGETSESSIONATTRS",
  "PGLOADBALANCEHOSTS",
  "PGCHANNELBINDING",
  "PGREQUIREAUTH",
  "PGMINPROTOCOLVERSION",
  "PGMAXPROTOCOLVERSION",
  "PGDATESTYLE",
  "PGTZ",
  "PGGEQO",
  "PGSYSCONFDIR",
  "PGLOCALEDIR",
  // Kerberos (GSSAPI authentication)
  "KRB5CCNAME",
  "KRB5_CONFIG",
  "KRB5_KTNAME",
]);

/** A URL with credentials in it: `scheme://user:password@`. */
const URL_WITH_CREDENTIALS = /[a-z][a-z0-9+.-]*:\/\/[^/?#@\s:]*:[^\s]*@/i;

/** The kind of a program by its name: libpq's programs by name, anything else a "tool". */
export function childKindOf(command: string): ChildKind {
  return /^(pg_[a-z]+|psql|postgres|initdb|createdb|dropdb|vacuumdb|reindexdb|clusterdb)$/.test(
    path.basename(command),
  )
    ? "libpq"
    : "tool";
}

/**
 * The environment a child program of `kind` is started with: from `env` (by default Lifeline's own),
 * only the variables that kind may see (ChildKind), and none whose value holds URL credentials. Every
 * child start goes through here.
 */
export function childEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  kind: ChildKind = "tool",
): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const allowed =
      BASE_VARIABLES.has(name) ||
      BASE_PATTERNS.some((rule) => rule.test(name)) ||
      (kind === "libpq" && LIBPQ_VARIABLES.has(name));
    if (!allowed || URL_WITH_CREDENTIALS.test(value)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Starts `command` with the given environment (secrets go there, never into argv), less what its kind
 * of program does not need (childEnvironment, the kind told by the command's name). The child's stderr
 * is kept (last 16 KiB) so that a failure is reported in the program's own words.
 */
export function startChildStage(
  label: string,
  command: string,
  args: readonly string[],
  /** stdin: true for a pipe we write; a pipe-backed Readable (another child's stdout) to connect directly. */
  /** fds: descriptors the child inherits as its fd 3, 4, ... (e.g. a file it must read as already opened). */
  options: { env?: NodeJS.ProcessEnv; stdin?: boolean | Readable; fds?: readonly number[] } = {},
): ChildStage {
  const stdin = options.stdin === true ? "pipe" : options.stdin ? options.stdin : "ignore";
  const child = spawn(command, [...args], {
    env: childEnvironment(options.env, childKindOf(command)),
    stdio: [stdin, "pipe", "pipe", ...(options.fds ?? [])],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (text: string) => {
    stderr = (stderr + text).slice(-STDERR_LIMIT);
  });
  // EPIPE on stdin when the child dies early is reported through `exited`, not as a crash.
  child.stdin?.on("error", () => {});

  const exited = new Promise<void>((resolve, reject) => {
    child.once("error", (err) =>
      reject(new ChildStageError(`Could not start ${label} (${command}): ${err.message}`, { cause: err })),
    );
    child.once("close", (code, signal) => {
      if (code === 0) return resolve();
      const said = stderr.trim().split("\n").slice(-5).join(" | ");
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new ChildStageError(`${label} ${how}${said ? `: ${said}` : ""}`));
    });
  });
  exited.catch(() => {}); // observed by the caller; never an unhandled rejection

  return {
    stdin: child.stdin,
    stdout: child.stdout!,
    exited,
    stderr: () => stderr,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    },
  };
}
