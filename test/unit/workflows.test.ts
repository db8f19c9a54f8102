import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const dir = ".github/workflows";
const workflows = readdirSync(dir).filter((f) => f.endsWith(".yml"));

/** Every `uses:` value in a parsed workflow. */
function usesOf(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(usesOf);
  if (node && typeof node === "object") {
    return Object.entries(node).flatMap(([k, v]) =>
      k === "uses" && typeof v === "string" ? [v] : usesOf(v),
    );
  }
  return [];
}

describe("workflows", () => {
  it.each(workflows)("%s parses and every local action it uses exists", (file) => {
    const wf = parse(readFileSync(path.join(dir, file), "utf8"));
    expect(wf.jobs).toBeTypeOf("object");
    for (const uses of usesOf(wf).filter((u) => u.startsWith("./"))) {
      expect(existsSync(path.join(uses, "action.yml")), `${file}: ${uses}/action.yml`).toBe(true);
    }
  });

  it("backup-db runs daily at 02:00 UTC, on demand and as a reusable workflow", () => {
    const wf = parse(readFileSync(path.join(dir, "backup-db.yml"), "utf8"));
    expect(wf.on.schedule).toEqual([{ cron: "0 2 * * *" }]);
    expect(wf.on).toHaveProperty("workflow_dispatch");
    expect(wf.on).toHaveProperty("workflow_call");
  });

  it("backup-media runs daily at 03:00 UTC with the backup-media action, on demand (full or not) and as a reusable workflow", () => {
    const wf = parse(readFileSync(path.join(dir, "backup-media.yml"), "utf8"));
    expect(wf.on.schedule).toEqual([{ cron: "0 3 * * *" }]);
    expect(wf.on.workflow_dispatch.inputs.full.type).toBe("boolean");
    expect(wf.on).toHaveProperty("workflow_call");
    expect(wf.jobs.backup.steps[1].uses).toBe("./actions/backup-media");
    // The Sunday verification checks the media snapshots too.
    const verify = parse(readFileSync(path.join(dir, "verify.yml"), "utf8"));
    expect(verify.jobs["verify-media"].steps[1].with.media).toBe("true");
  });

  it("verify runs on Sundays at 04:00 UTC with the verify action, test-restoring on schedule", () => {
    const wf = parse(readFileSync(path.join(dir, "verify.yml"), "utf8"));
    expect(wf.on.schedule).toEqual([{ cron: "0 4 * * 0" }]);
    expect(wf.jobs.verify.steps[1].uses).toBe("./actions/verify");
    expect(wf.jobs.verify.steps[1].with["test-restore"]).toContain(
      "github.event_name == 'schedule' && 'true'",
    );
  });

  it("restore is manual only and passes confirm through", () => {
    const wf = parse(readFileSync(path.join(dir, "restore.yml"), "utf8"));
    expect(Object.keys(wf.on)).toEqual(["workflow_dispatch"]);
    expect(wf.jobs.restore.steps[1].with.confirm).toBe(`${"$"}{{ inputs.confirm }}`);
  });

  it("the PR check test-restores into the postgres service container", () => {
    const wf = parse(readFileSync(path.join(dir, "ci.yml"), "utf8"));
    const steps = wf.jobs["self-test"].steps as { uses?: string; with?: Record<string, string> }[];
    expect(wf.jobs["self-test"].services.postgres.image).toMatch(/^postgres:/);
    expect(steps.find((s) => s.uses === "./actions/verify")?.with?.["test-restore"]).toBe("true");
    expect(steps.filter((s) => s.uses === "./actions/restore").map((s) => s.with?.confirm)).toEqual([
      "not-transcripts",
      "transcripts",
    ]);
  });
});
