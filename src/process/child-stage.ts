import { spawn } from "node:child_process";
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
 * Variables no child program (pg_dump, psql, pg_restore, gpg, zstd, pigz) needs and none may inherit:
 * Lifeline's own secrets, the action's inputs, the clouds' and the runner's credentials. libpq's PG*
 * variables pass (PGPASSWORD is how a child gets the password, never argv).
 */
const WITHHELD_FROM_CHILDREN: readonly RegExp[] = [
  /DATABASE_URL$/i,
  /^BACKUP_GPG_(PRIVATE|PUBLIC)_KEY$/i,
  /^PUSHGATEWAY_URL$/i,
  /^INPUT_/i,
  /^(AWS|AZURE|ARM|GOOGLE|GCLOUD|CLOUDSDK|GCE|GCS|MINIO)_/i,
  /^ACTIONS_(RUNTIME|ID_TOKEN|CACHE|RESULTS)_/i,
  /^(GITHUB|GH)_TOKEN$/i,
  /(SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY)/i,
];
const ALWAYS_PASSED = /^PG[A-Z_]*$/;

/**
 * The environment a child program is started with: `env` (by default Lifeline's own) without the
 * variables in WITHHELD_FROM_CHILDREN. Every child start goes through here.
 */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (!ALWAYS_PASSED.test(name) && WITHHELD_FROM_CHILDREN.some((rule) => rule.test(name))) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Starts `command` with the given environment (secrets go there, never into argv), less what no child
 * needs (childEnvironment). The child's stderr
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
    env: childEnvironment(options.env),
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
