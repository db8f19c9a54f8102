import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { runAction } from "../../src/actions/shared/run-action.js";
import { ConfigError } from "../../src/shared/errors.js";

let dir: string;
let stdout: string;

// @actions/core keeps the summary file's path from its first write: one file for all the tests here.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lifeline-run-action-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await writeFile(join(dir, "summary.md"), "");
  await rm(join(dir, "lifeline.prom"), { force: true });
  vi.stubEnv("GITHUB_STEP_SUMMARY", join(dir, "summary.md"));
  vi.stubEnv("GITHUB_OUTPUT", "");
  vi.stubEnv("INPUT_METRICS-TEXTFILE", join(dir, "lifeline.prom"));
  stdout = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return true;
  });
  process.exitCode = undefined;
});

afterEach(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  process.exitCode = undefined;
});

const summary = () => readFile(join(dir, "summary.md"), "utf8");
const textfile = () => readFile(join(dir, "lifeline.prom"), "utf8").catch(() => "");

describe("runAction", () => {
  it("a run cancelled while its body finished anyway (a listing, a dry run) exits 143 with the cancelled summary, never as a success", async () => {
    await runAction({
      command: "restore",
      kind: "restore",
      body: async () => {
        process.emit("SIGTERM", "SIGTERM"); // the runner's cancellation, while the listing still completes
        return "## backups listed\n";
      },
      failureSummary: () => "failed",
    });
    expect(process.exitCode).toBe(143);
    expect(await summary()).not.toContain("backups listed");
    expect(await summary()).toMatch(/cancel/i);
    expect(stdout).toMatch(/::error::.*SIGTERM/);
  });

  it("masks every registered secret in the summary a body returns (an off-site error quoting a URL with its password)", async () => {
    const secret = "s3cr3t-Passw0rd";
    vi.stubEnv("INPUT_DATABASE-URL", `postgresql://app:${secret}@db:5432/app`);
    await runAction({
      command: "backup-db",
      kind: "backup",
      body: async () => `## written, but s3://b failed: could not reach postgresql://app:${secret}@db\n`,
      failureSummary: () => "failed",
    });
    expect(await summary()).toBe("## written, but s3://b failed: could not reach postgresql://app:***@db\n");
  });

  it("writes the body's summary and leaves the exit status alone on success", async () => {
    await runAction({
      command: "verify",
      kind: "verify",
      body: async () => "## all good\n",
      failureSummary: () => "failed",
    });
    expect(await summary()).toBe("## all good\n");
    expect(process.exitCode).toBeUndefined();
    expect(await textfile()).toBe("");
  });

  it("on failure: the step fails with the redacted message, exit 78 for a setting, the failure recorded and summarised", async () => {
    const secret = "s3cr3t-Passw0rd";
    vi.stubEnv("INPUT_DATABASE-URL", `postgresql://app:${secret}@db:5432/app`);
    await runAction({
      command: "backup-db",
      kind: "backup",
      body: async ({ lookup }) => {
        throw new ConfigError(
          `bad value in ${lookup({ env: "DATABASE_URL", input: "database-url", description: "", parse: String })?.value}`,
        );
      },
      failureSummary: (message) => `## failed: ${message}\n`,
    });
    expect(process.exitCode).toBe(78);
    expect(stdout).toContain(`::add-mask::${secret}`);
    expect(stdout).toMatch(/::error::bad value in postgresql:\/\/app:\*\*\*@db:5432\/app/);
    expect(stdout).not.toMatch(new RegExp(`::error::.*${secret}`));
    expect(await summary()).toBe("## failed: bad value in postgresql://app:***@db:5432/app\n");
    expect(await textfile()).toMatch(/^backup_last_status\{[^}]*\} 78$/m);
  });

  it("records no failure when the body cleared the kind, and calls onError before failing", async () => {
    const order: string[] = [];
    await runAction({
      command: "restore",
      kind: "restore",
      body: async (run) => {
        run.kind = undefined;
        throw new Error("listing failed");
      },
      onError: (err) => order.push(`onError: ${(err as Error).message}`),
      failureSummary: (message, err) => {
        order.push("summary");
        return `${message} / ${(err as Error).message}\n`;
      },
    });
    expect(order).toEqual(["onError: listing failed", "summary"]);
    expect(process.exitCode).toBe(1);
    expect(await summary()).toBe("listing failed / listing failed\n");
    expect(await textfile()).toBe("");
  });
});
