import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const execFileAsync = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const depcruise = path.join(repo, "node_modules/.bin/depcruise");
const config = path.join(repo, ".dependency-cruiser.cjs");

interface Violation {
  readonly rule: { readonly name: string };
  readonly from: string;
  readonly to: string;
}

/** Runs the project's rule over `root/src` and returns the violations it reports. */
async function violationsIn(root: string): Promise<Violation[]> {
  const { stdout } = await execFileAsync(depcruise, ["src", "--config", config, "--output-type", "json"], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? "" }));
  const result = JSON.parse(stdout) as { summary: { violations: Violation[] } };
  return result.summary.violations;
}

describe("the import rule (.dependency-cruiser.cjs)", () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "lifeline-deps-"));
    await symlink(path.join(repo, "node_modules"), path.join(root, "node_modules"));
    const files: Record<string, string> = {
      // infrastructure importing a command: upward
      "src/db/probe.ts": 'import { take } from "../backup/take.js";\nexport const probe = take;\n',
      "src/backup/take.ts": "export const take = 1;\n",
      // a command importing another command
      "src/restore/lookup.ts": 'import { take } from "../backup/take.js";\nexport const lookup = take;\n',
      // allowed: verify's test restore is a restore
      "src/verify/check.ts": 'import { lookup } from "../restore/lookup.js";\nexport const check = lookup;\n',
      // a cycle inside one folder
      "src/fs/a.ts": 'import { b } from "./b.js";\nexport const a = () => b;\n',
      "src/fs/b.ts": 'import { a } from "./a.js";\nexport const b = () => a;\n',
      // inside the infrastructure layer, fs comes before storage
      "src/fs/c.ts": 'import { s } from "../storage/s.js";\nexport const c = s;\n',
      "src/storage/s.ts": 'import { a } from "../fs/a.js";\nexport const s = a;\n',
      // GitHub below the adapters
      "src/summary/gh.ts": 'import * as core from "@actions/core";\nexport const gh = core;\n',
      "src/actions/gh.ts": 'import * as core from "@actions/core";\nexport const gh = core;\n',
      // a folder the rule does not know
      "src/helpers/h.ts": "export const h = 1;\n",
      "src/helpers/uses.ts": 'import { a } from "../fs/a.js";\nexport const uses = a;\n',
      "src/summary/helper-user.ts": 'import { h } from "../helpers/h.js";\nexport const helperUser = h;\n',
      // dead code
      "src/catalog/dead.ts": "export const dead = 1;\n",
    };
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(root, name)), { recursive: true });
      await writeFile(path.join(root, name), text);
    }
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("refuses upward, lateral, circular, GitHub and unknown-folder imports, and allows verify → restore", async () => {
    const found = (await violationsIn(root))
      .map((v) => `${v.rule.name}: ${v.from} → ${v.to.replace(/^.*node_modules\//, "node_modules/")}`)
      .sort();
    expect(found).toEqual(
      [
        "github-only-in-actions: src/summary/gh.ts → node_modules/@actions/core/lib/core.js",
        "known-folder: src/helpers/uses.ts → src/fs/a.ts",
        "known-folder-imported: src/summary/helper-user.ts → src/helpers/h.ts",
        "no-circular: src/fs/a.ts → src/fs/b.ts",
        "no-orphans: src/catalog/dead.ts → src/catalog/dead.ts",
        "no-lateral-from-fs: src/fs/c.ts → src/storage/s.ts",
        "no-lateral-from-restore: src/restore/lookup.ts → src/backup/take.ts",
        "no-upward-from-db: src/db/probe.ts → src/backup/take.ts",
      ].sort(),
    );
  });

  it("passes on the project's own src/", async () => {
    expect(await violationsIn(repo)).toEqual([]);
  });
});
