import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { usePostgres, useTempDirs } from "../support/fixtures.js";
import { databases, takeBackup } from "../support/restore.js";
import { NODE24, runAction } from "../support/run-action.js";
import { fingerprint, seedTranscripts } from "../support/seed.js";

const postgres = usePostgres();
const tempDir = useTempDirs();

async function liveWithBackup(db: string) {
  const pg = postgres();
  await pg.createDatabase(db);
  await seedTranscripts(pg, db, 500);
  const dir = await tempDir("raction");
  const file = await takeBackup(pg, db, dir);
  await pg.query(db, "INSERT INTO audit.events (at, what) VALUES (now(), 'after the backup')");
  return { pg, dir, file, live: await fingerprint(pg, db) };
}

describe("the committed dist/restore and dist/verify bundles under Node 24", () => {
  it("the restore action refuses without the right confirm and changes nothing", async () => {
    const { pg, file, live } = await liveWithBackup("confirmdb");
    for (const confirm of ["", "confirmdb_typo"]) {
      const run = await runAction("actions/restore/action.yml", {
        "database-url": pg.url("confirmdb"),
        "backup-file": file,
        ...(confirm ? { confirm } : {}),
      });
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        confirm
          ? /::error::Input 'confirm' is 'confirmdb_typo' but the target database is 'confirmdb': nothing was changed/
          : /::error::Refusing to replace the database 'confirmdb': set the input 'confirm' to 'confirmdb'/,
      );
      expect(run.summary).toContain("## ❌ Lifeline restore of confirmdb failed");
    }
    expect(await fingerprint(pg, "confirmdb")).toEqual(live);
    expect((await databases(pg)).filter((d) => d.startsWith("confirmdb"))).toEqual(["confirmdb"]);
  });

  it("dry-run needs no confirm: the plan goes to the log and the summary, and nothing changes", async () => {
    const { pg, file, live } = await liveWithBackup("dryaction");
    const run = await runAction("actions/restore/action.yml", {
      "database-url": pg.url("dryaction"),
      "backup-file": file,
      "dry-run": "true",
    });
    expect(run.code).toBe(0);
    expect(run.outputs).toMatchObject({ "source-backup": file });
    expect(run.stdout).toContain('Dry run: restore of "dryaction" — nothing was changed');
    expect(run.summary).toContain("## 🔎 Lifeline restore of dryaction: dry run, nothing was changed");
    expect(run.summary).toMatch(/KEPT as "dryaction_pre_restore_\d{8}_\d{6}"/);
    expect(await fingerprint(pg, "dryaction")).toEqual(live);
    expect((await databases(pg)).filter((d) => d.startsWith("dryaction"))).toEqual(["dryaction"]);
  });

  it("with confirm equal to the database, the root action restores, sets outputs and writes the comparison", async () => {
    const { pg, file } = await liveWithBackup("actiondb");
    const run = await runAction("action.yml", {
      command: "restore",
      "database-url": pg.url("actiondb"),
      "backup-file": file,
      confirm: "actiondb",
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.outputs).toMatchObject({ "restored-database": "actiondb", "source-backup": file });
    expect(run.outputs["previous-database"]).toMatch(/^actiondb_pre_restore_/);
    expect(Number(run.outputs["duration-seconds"])).toBeGreaterThan(0);
    expect(run.summary).toContain("## ✅ Lifeline restore: actiondb from");
    expect(run.summary).toMatch(/\| ✅ \| table \| public\.segments \| 500 \| 500 \|/);
    const rows = await pg.query<{ n: string }>(
      "actiondb",
      "SELECT count(*)::text AS n FROM audit.events WHERE what = 'after the backup'",
    );
    expect(rows[0]!.n).toBe("0");
  });

  it("the verify action lists each backup in the summary and sets the runbook's outputs", async () => {
    const { pg, dir } = await liveWithBackup("verifyaction");
    const run = await runAction("actions/verify/action.yml", {
      "backup-dir": dir,
      "test-restore": "true",
      "database-url": pg.url("postgres"),
    });
    expect(run.code).toBe(0);
    expect(run.outputs).toMatchObject({
      "failed-count": "0",
      "exit-code": "0",
      "test-restore": "passed",
    });
    // The first backup is also filed as weekly and monthly: each copy is checked.
    expect(Number(run.outputs["verified-count"])).toBeGreaterThanOrEqual(1);
    expect(run.summary).toContain("### ✅ Test restore of verifyaction_");
  });

  it("the CLI bundle refuses without a terminal and without --force, changing nothing", async () => {
    const { pg, file, live } = await liveWithBackup("clirefuse");
    const child = spawn(NODE24, ["dist/cli/index.js", "restore", "--backup-file", file], {
      env: { PATH: process.env.PATH ?? "", DATABASE_URL: pg.url("clirefuse") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(1);
    expect(stderr).toContain(
      "Refusing to replace the database 'clirefuse' without confirmation, and there is no terminal",
    );
    expect(await fingerprint(pg, "clirefuse")).toEqual(live);
  });
});
