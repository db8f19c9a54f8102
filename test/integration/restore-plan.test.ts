import { execFile } from "node:child_process";
import { copyFile, mkdir, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { usePostgres, useTempDirs } from "../support/fixtures.js";
import { databases, takeBackup } from "../support/restore.js";
import { fingerprint, seedTranscripts } from "../support/seed.js";

const execFileAsync = promisify(execFile);
const postgres = usePostgres();
const tempDir = useTempDirs();

const LIVE = "plan";
let dir = "";

/** Copies of one backup under the names of three nights (sidecars regenerated, no manifests). */
const NIGHTS = ["20241024_020000", "20241025_020000", "20241026_020000"];
const fileOf = (night: string) => path.join(dir, "daily", `${LIVE}_daily_${night}.sql.gz`);

beforeAll(async () => {
  const pg = postgres();
  await pg.createDatabase(LIVE);
  await seedTranscripts(pg, LIVE, 200);
  const source = await takeBackup(pg, LIVE, await tempDir("plan-source"));
  dir = await tempDir("plan");
  await mkdir(path.join(dir, "daily"));
  for (const night of NIGHTS) {
    const file = fileOf(night);
    await copyFile(source, file);
    const { stdout } = await execFileAsync("sha256sum", [file]);
    await writeFile(`${file}.sha256`, `${stdout.split(" ")[0]}  ${path.basename(file)}\n`);
  }
});

async function run(...argv: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  const code = await main(argv, { out, err });
  return { code, out: String(out.read() ?? ""), err: String(err.read() ?? "") };
}

/** Everything a dry run must leave as it was: the databases on the server and the live data. */
async function state() {
  const pg = postgres();
  return { databases: await databases(pg), live: await fingerprint(pg, LIVE) };
}

describe("restore --dry-run: the plan, and nothing touched", () => {
  it("prints which backup, the target, the new database, the swap and what is kept; no confirmation needed", async () => {
    const pg = postgres();
    const before = await state();
    const r = await run(
      "restore",
      "--dry-run",
      "--backup-file",
      fileOf(NIGHTS[1]!),
      "--backup-dir",
      dir,
      "--database-url",
      pg.url(LIVE),
    );
    expect(r.err).not.toMatch(/ERROR/); // (a warning about --database-url on argv may come first)
    expect(r.code).toBe(0);
    expect(r.out).toContain('Dry run: restore of "plan" — nothing was changed');
    expect(r.out).toContain(`Backup:    ${fileOf(NIGHTS[1]!)}`);
    expect(r.out).toContain("taken 2024-10-25T02:00:00.000Z");
    expect(r.out).toContain('Target:    "plan" (exists; replaced only after the restore is proven)');
    expect(r.out).toMatch(/create the new database "plan_lifeline_restore_\d{8}_\d{6}"/);
    expect(r.out).toMatch(/psql 15\.\d+ at \S+ \(restricted, single transaction\)/);
    expect(r.out).toMatch(/KEPT as "plan_pre_restore_\d{8}_\d{6}" until you drop it/);
    expect(r.out).toContain("sha256 sidecar only (no manifest");
    expect(r.out).toContain("Problems:  none found");
    expect(await state()).toEqual(before);

    const dropping = await run(
      "restore",
      "--dry-run",
      "--drop-old",
      "--backup-file",
      fileOf(NIGHTS[1]!),
      "--database-url",
      pg.url("plan_not_there"),
    );
    expect(dropping.code).toBe(0);
    expect(dropping.out).toContain('"plan_not_there" does not exist: "plan_not_there_lifeline_restore_');
    expect(await state()).toEqual(before);
  });

  it("names what would stop the restore (a missing sidecar) and exits 1, still changing nothing", async () => {
    const pg = postgres();
    const lone = await tempDir("plan-lone");
    await mkdir(path.join(lone, "daily"));
    const file = path.join(lone, "daily", `${LIVE}_daily_20241026_020000.sql.gz`);
    await copyFile(fileOf(NIGHTS[2]!), file);
    const before = await state();
    const r = await run("restore", "--dry-run", "--backup-file", file, "--database-url", pg.url(LIVE));
    expect(r.code).toBe(1);
    expect(r.out).toContain("the restore would not go ahead");
    expect(r.out).toContain("No checksum sidecar");
    expect(await state()).toEqual(before);
    await unlink(file);
  });

  it("with --pitr: the backup chosen for the target and the WAL guidance, nothing restored", async () => {
    const pg = postgres();
    const before = await state();
    const r = await run(
      "restore",
      "--dry-run",
      "--pitr",
      "--target-time",
      "2024-10-25 12:00:00",
      "--backup-dir",
      dir,
      "--database-url",
      pg.url(LIVE),
    );
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Backup:    ${fileOf(NIGHTS[1]!)}`);
    expect(r.out).toContain(
      `Would restore "plan" from ${path.basename(fileOf(NIGHTS[1]!))}, taken 2024-10-25 02:00:00 UTC (dry run: nothing was changed)`,
    );
    expect(r.out).toContain("(10.0 h) are NOT in what would be restored");
    expect(r.out).toContain("recovery_target_time = '2024-10-25 12:00:00 UTC'");
    expect(await state()).toEqual(before);
  });
});

describe("restore --pitr with no backup before the target", () => {
  it.each([[[]], [["--dry-run"]]])(
    "names the oldest backup, says what to do, prints the WAL guidance (extra flags: %j)",
    async (extra: string[]) => {
      const pg = postgres();
      const before = await state();
      const r = await run(
        "restore",
        "--pitr",
        "--target-time",
        "2024-10-01 00:00:00",
        "--backup-dir",
        dir,
        "--database-url",
        pg.url(LIVE),
        "--force",
        ...extra,
      );
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        `No backup in ${dir} was taken at or before 2024-10-01 00:00:00 UTC: the oldest of the 3 there is ${fileOf(NIGHTS[0]!)}, taken 2024-10-24 02:00:00 UTC`,
      );
      expect(r.err).toContain("give a --target-time at or after 2024-10-24 02:00:00 UTC");
      expect(r.err).toContain(`--backup-file ${fileOf(NIGHTS[0]!)}`);
      expect(r.out).toContain("Point-in-time recovery to 2024-10-01 00:00:00 UTC");
      expect(r.out).toContain(
        `The oldest backup, ${path.basename(fileOf(NIGHTS[0]!))}, was taken 2024-10-24 02:00:00 UTC`,
      );
      expect(r.out).toContain("pg_basebackup");
      expect(await state()).toEqual(before);
    },
  );
});
