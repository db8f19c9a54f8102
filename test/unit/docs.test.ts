import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  ACTION_INPUTS,
  COMMANDS,
  type Command,
  commandInputs,
  generatedBlock,
  inputsBlock,
  rootInputs,
} from "../../scripts/gen-action-inputs.js";
import { configTable, README_TABLES } from "../../scripts/gen-readme-config.js";

const readme = () => readFileSync("README.md", "utf8");
const outputsOf = (file: string) =>
  Object.keys((parse(readFileSync(file, "utf8")) as { outputs?: object }).outputs ?? {});
const ACTION_OF: Record<Command, string> = {
  "backup-db": "actions/backup-db/action.yml",
  "backup-media": "actions/backup-media/action.yml",
  verify: "actions/verify/action.yml",
  restore: "actions/restore/action.yml",
};

describe("README", () => {
  it("documents every setting with the names and defaults the code reads (npx tsx scripts/gen-readme-config.ts)", () => {
    const text = readme();
    for (const { begin, end, settings, command } of README_TABLES) {
      expect(text).toContain(`${begin}\n${configTable(settings, command)}\n${end}`);
    }
  });

  it("opens with the two command lines", () => {
    const lines = readme().split("\n");
    expect(lines[3]).toMatch(/^bash scripts\/setup\.sh && npm run demo/);
    expect(lines[4]).toMatch(/^bash scripts\/setup\.sh && npm run ci/);
    expect(readFileSync(".ci/run", "utf8")).toContain("bash scripts/setup.sh && npm run ci");
  });

  it("counts the alert rules and the ones promtool tests as monitoring/ has them", () => {
    const rules = [...readFileSync("monitoring/alerts.yml", "utf8").matchAll(/^\s*- alert: (\w+)/gm)].map(
      (m) => m[1],
    );
    const tested = new Set(
      [...readFileSync("monitoring/alerts.test.yml", "utf8").matchAll(/alertname: (\w+)/g)].map((m) => m[1]),
    );
    const claim = readme().match(
      /: (\d+) rules\. `monitoring\/alerts\.test\.yml` unit-tests (\d+) of\s+them/,
    );
    expect(
      claim,
      "README states how many rules monitoring/alerts.yml holds and how many are tested",
    ).not.toBeNull();
    expect(Number(claim![1])).toBe(rules.length);
    expect(Number(claim![2])).toBe(tested.size);
    for (const name of tested) expect(rules).toContain(name);
    const untested = rules.filter((r) => !tested.has(r));
    // The README names what is not tested, so "all" cannot come back unnoticed.
    for (const name of untested) expect(readme()).toMatch(new RegExp(`all but ${name}`));
  });

  it("names only outputs that the actions declare", () => {
    const declared = new Set(Object.values(ACTION_OF).flatMap(outputsOf));
    const root = new Set(outputsOf("action.yml"));
    const sentences = [...readme().matchAll(/Outputs:([\s\S]*?)\.(?:\s|$)/g)].map((m) => m[1]!);
    expect(sentences.length).toBeGreaterThanOrEqual(2);
    const named = sentences.flatMap((s) =>
      [...s.replace(/with\s+`[^`]+`/g, "").matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!),
    );
    expect(named).toContain("offsite");
    for (const name of named) {
      expect(declared, `README output '${name}' in no actions/*/action.yml`).toContain(name);
      expect(root, `README output '${name}' not in the root action.yml`).toContain(name);
    }
  });

  it("uses Lifeline only at refs that exist, and recommends pinning a commit SHA", () => {
    const tags = execFileSync("git", ["tag", "--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
    const refs = [...readme().matchAll(/your-org\/lifeline[\w/-]*@([^\s`"]+)/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const ok = ref === "main" || /^[0-9a-f]{40}$/.test(ref) || ref === "<40-hex-sha>" || tags.includes(ref);
      expect(
        ok,
        `README uses @${ref}, which is neither main, a commit SHA nor a tag (${tags.join(", ")})`,
      ).toBe(true);
    }
    expect(readme()).toMatch(/pinning a commit SHA[\s\S]{0,80}is recommended/);
  });

  it("shows in Layout every folder of src/ and no folder that does not exist", () => {
    const text = readme();
    const start = text.indexOf("\n## Layout\n");
    expect(start).toBeGreaterThan(0);
    const layout = text.slice(
      start,
      text.indexOf("\n## ", start + 1) < 0 ? undefined : text.indexOf("\n## ", start + 1),
    );
    const folders = readdirSync("src").filter((f) => statSync(join("src", f)).isDirectory());
    for (const folder of folders)
      expect(layout, `src/${folder}/ missing from README Layout`).toContain(`src/${folder}/`);
    for (const [, folder] of layout.matchAll(/src\/([a-z-]+)\//g)) expect(folders).toContain(folder);
  });
});

describe("action metadata", () => {
  it("is generated from the settings tables (npx tsx scripts/gen-action-inputs.ts)", () => {
    for (const [file, inputs] of Object.entries(ACTION_INPUTS)) {
      expect(generatedBlock(readFileSync(file, "utf8")), file).toBe(inputsBlock(inputs));
    }
  });

  /**
   * Words that belong to one command and would be wrong in another's description: backup-db backs up
   * (it restores nothing and replaces no database), restore restores (it dumps and verifies nothing),
   * verify checks (and test-restores into a scratch database, but replaces nothing and dumps nothing).
   */
  const FOREIGN: Record<Command, RegExp> = {
    "backup-db": /restor|replaced|scratch|\bpsql\b/i,
    "backup-media": /restor|replaced|scratch|\bpsql\b|pg_dump|database/i,
    verify: /pg_dump|\bback(ed)? up\b|replaced|off-site copies/i,
    restore: /pg_dump|\bback(ed)? up\b|scratch|verif|off-site copies/i,
  };
  /** Descriptions that name another command's words on purpose. */
  const ALLOWED = new Set([
    // how each backup format is restored is what tells the user which to choose
    "backup-db format",
  ]);

  it.each(COMMANDS)("%s's inputs say what they mean for %s, in no other command's words", (command) => {
    for (const { input, description } of commandInputs(command)) {
      if (ALLOWED.has(`${command} ${input}`)) continue;
      expect(description, `${command} input '${input}'`).not.toMatch(FOREIGN[command]);
    }
    const own = parse(readFileSync(ACTION_OF[command], "utf8")) as {
      inputs: Record<string, { description: string }>;
    };
    for (const { input, description } of commandInputs(command))
      expect(own.inputs[input]?.description).toBe(description);
  });

  it("the root action.yml says, for each input, what it means for each command that reads it", () => {
    const root = parse(readFileSync("action.yml", "utf8")) as {
      inputs: Record<string, { description: string }>;
    };
    for (const { input, description } of rootInputs()) {
      expect(root.inputs[input]?.description).toBe(description);
      const users = COMMANDS.filter((c) => commandInputs(c).some((i) => i.input === input));
      const parts = [...description.matchAll(/For ([a-z, -]+?): ([\s\S]*?)(?= For [a-z]| Empty: env)/g)];
      const covered = parts.flatMap((p) => p[1]!.split(/, | and /));
      expect(covered.sort(), `root input '${input}'`).toEqual([...users].sort());
      for (const [, who, text] of parts)
        for (const command of who!.split(/, | and /) as Command[]) {
          if (ALLOWED.has(`${command} ${input}`)) continue;
          expect(text, `root input '${input}' for ${command}`).not.toMatch(FOREIGN[command]);
        }
    }
    // the bug of issue 10: backup-db's database got restore's description
    expect(root.inputs["database-url"]!.description).toMatch(/For backup-db: the database to back up/);
    expect(root.inputs["pg-bin-dir"]!.description).toMatch(/For backup-db: directory holding pg_dump/);
  });

  it("declares every output the actions set", () => {
    const root = outputsOf("action.yml");
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
      );
    const setBy = new Map<Command, Set<string>>();
    for (const file of walk("src/actions")) {
      const names = [...readFileSync(file, "utf8").matchAll(/core\.setOutput\(\s*"([^"]+)"/g)].map(
        (m) => m[1]!,
      );
      const command = COMMANDS.find((c) => file.startsWith(`${join("src/actions", c)}/`));
      for (const name of names) {
        expect(root, `${file} sets '${name}', not declared in action.yml`).toContain(name);
        if (command) setBy.set(command, new Set([...(setBy.get(command) ?? []), name]));
      }
    }
    for (const command of COMMANDS) {
      const set = [...(setBy.get(command) ?? [])];
      expect(set.length, `no core.setOutput found for ${command} in src/actions/${command}`).toBeGreaterThan(
        0,
      );
      for (const name of set)
        expect(
          outputsOf(ACTION_OF[command]),
          `${command} sets '${name}' but its action.yml does not declare it`,
        ).toContain(name);
    }
    expect(setBy.get("backup-db")).toContain("offsite");
  });
});
