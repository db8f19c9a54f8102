import { execFile } from "node:child_process";
import { access, constants, readdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { childEnvironment } from "../process/child-stage.js";
import { UserError } from "../shared/errors.js";

const execFileAsync = promisify(execFile);

export interface PgTool {
  readonly path: string;
  /** e.g. "15.18" */
  readonly version: string;
  readonly major: number;
}

/** Directories that hold PostgreSQL client programs: PATH, then the distributions' versioned dirs. */
async function candidateDirs(binDir: string | undefined): Promise<string[]> {
  if (binDir) return [binDir];
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  for (const root of ["/usr/lib/postgresql", "/usr/local/lib/postgresql"]) {
    const versions = await readdir(root).catch(() => [] as string[]);
    for (const v of versions) dirs.push(path.join(root, v, "bin"));
  }
  for (const dir of await readdir("/usr").catch(() => [] as string[])) {
    if (/^pgsql-\d+$/.test(dir)) dirs.push(path.join("/usr", dir, "bin"));
  }
  return [...new Set(dirs)];
}

async function probe(file: string): Promise<PgTool | undefined> {
  try {
    await access(file, constants.X_OK);
    const { stdout } = await execFileAsync(file, ["--version"], {
      timeout: 10_000,
      env: childEnvironment(process.env, "libpq"),
    });
    const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(stdout);
    if (!match) return undefined;
    return { path: file, version: match[2] ? `${match[1]}.${match[2]}` : match[1]!, major: Number(match[1]) };
  } catch {
    return undefined;
  }
}

/** Every installed copy of a PostgreSQL client program, one per real path. */
export async function findPgTools(name: string, binDir?: string): Promise<PgTool[]> {
  const found = new Map<string, PgTool>();
  for (const dir of await candidateDirs(binDir)) {
    const tool = await probe(path.join(dir, name));
    if (tool && ![...found.values()].some((t) => t.version === tool.version && t.major === tool.major)) {
      found.set(tool.path, tool);
    }
  }
  return [...found.values()];
}

/**
 * Picks the client program for a server of major version `serverMajor`. pg_dump must be at least as
 * new as the server; among those, the closest major is chosen, because a newer pg_dump emits settings
 * (e.g. transaction_timeout in 17) that older servers reject on restore. Tools that pass `prefer` (e.g. a
 * psql that can be restricted) come first, whatever their major.
 */
export async function choosePgTool(
  name: string,
  serverMajor: number,
  binDir?: string,
  prefer: (tool: PgTool) => boolean = () => true,
): Promise<PgTool> {
  const tools = await findPgTools(name, binDir);
  const rank = (t: PgTool) => (prefer(t) ? 0 : 1000) + t.major;
  const usable = tools.filter((t) => t.major >= serverMajor).sort((a, b) => rank(a) - rank(b));
  const chosen = usable[0];
  if (chosen) return chosen;
  const seen = tools.length
    ? tools.map((t) => `${t.version} at ${t.path}`).join(", ")
    : `none found${binDir ? ` in ${binDir}` : " in PATH or /usr/lib/postgresql/*/bin"}`;
  throw new UserError(
    `The server runs PostgreSQL ${serverMajor}, but no ${name} of version ${serverMajor} or newer is installed ` +
      `(found: ${seen}). Install the PostgreSQL ${serverMajor} client (e.g. apt-get install postgresql-client-${serverMajor}) ` +
      "or set PG_BIN_DIR to its bin directory",
  );
}
