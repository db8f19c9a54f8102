import { type ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import type { PgTool } from "./pg-tools.js";

const STDERR_LIMIT = 16 * 1024;

/** The marker pg_dump writes at the end of a plain-format dump; its absence means the dump is truncated. */
export const PLAIN_DUMP_TRAILER = "-- PostgreSQL database dump complete";

/**
 * How many final bytes to search for the trailer. Since 17.6/16.10/15.14, pg_dump follows it with a
 * `\unrestrict <64-char key>` line, so the trailer is no longer the very last thing written.
 */
export const TRAILER_WINDOW = 512;

export interface DumpProcess {
  readonly stdout: Readable;
  /** Resolves when pg_dump exits 0; rejects with pg_dump's own words otherwise. */
  readonly exited: Promise<void>;
  /** Stops pg_dump (e.g. because the output could not be written). */
  kill(): void;
}

export class PgDumpError extends Error {
  override readonly name = "PgDumpError";
}

/**
 * Starts pg_dump with the connection in its environment (never in argv, where `ps` would show a
 * password). `--no-password` makes a missing password fail instead of waiting for a prompt.
 */
export function startPgDump(tool: PgTool, args: readonly string[], env: NodeJS.ProcessEnv): DumpProcess {
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(tool.path, ["--no-password", ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => {
    stderr = (stderr + text).slice(-STDERR_LIMIT);
  });

  const exited = new Promise<void>((resolve, reject) => {
    child.once("error", (err) =>
      reject(new PgDumpError(`Could not start ${tool.path}: ${err.message}`, { cause: err })),
    );
    child.once("close", (code, signal) => {
      if (code === 0) return resolve();
      const said = stderr.trim().split("\n").slice(-5).join(" | ");
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new PgDumpError(`pg_dump ${how}${said ? `: ${said}` : ""}`));
    });
  });
  // The caller may stop listening once another failure is known; do not let this one go unhandled.
  exited.catch(() => {});

  return {
    stdout: child.stdout,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    },
  };
}
