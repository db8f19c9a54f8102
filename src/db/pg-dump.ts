import { type ChildStage, startChildStage } from "../process/child-stage.js";
import type { PgTool } from "./pg-tools.js";

/** The marker pg_dump writes at the end of a plain-format dump; its absence means the dump is truncated. */
export const PLAIN_DUMP_TRAILER = "-- PostgreSQL database dump complete";

/** The magic bytes a custom-format archive starts with. */
export const CUSTOM_DUMP_MAGIC = "PGDMP";

/**
 * How many final bytes to search for the trailer. Since 17.6/16.10/15.14, pg_dump follows it with a
 * `\unrestrict <64-char key>` line, so the trailer is no longer the very last thing written.
 */
export const TRAILER_WINDOW = 512;

/**
 * Starts pg_dump with the connection in its environment (never in argv, where `ps` would show a
 * password). `--no-password` makes a missing password fail instead of waiting for a prompt.
 */
export function startPgDump(tool: PgTool, args: readonly string[], env: NodeJS.ProcessEnv): ChildStage {
  return startChildStage("pg_dump", tool.path, ["--no-password", ...args], { env });
}
