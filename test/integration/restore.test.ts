import { readFile, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { shell, usePostgres, useTempDirs } from "../support/fixtures.js";
import { databases, restoreFile, takeBackup } from "../support/restore.js";
import { fingerprint, seedTranscripts } from "../support/seed.js";

const postgres = usePostgres();
const tempDir = useTempDirs();

async function seeded(name: string, segments = 2000) {
  const pg = postgres();
  await pg.createDatabase(name);
  await seedTranscripts(pg, name, segments);
  return pg;
}

describe("restore: into a new database, proven, then swapped in", () => {
  it("replaces the live database with the backup's data and keeps the old one under a dated name", async () => {
    const pg = await seeded("swap1");
    const dir = await tempDir("restore");
    const before = await fingerprint(pg, "swap1");
    const file = await takeBackup(pg, "swap1", dir);
    await pg.query(
      "swap1",
      "DELETE FROM segments WHERE id % 2 = 0; INSERT INTO audit.events (at, what) VALUES (now(), 'after')",
    );
    const changed = await fingerprint(pg, "swap1");
    const { result, lines } = await restoreFile(pg, "swap1", file);
    expect(await fingerprint(pg, "swap1")).toEqual(before);
    expect(result.previousDatabase).toMatch(/^swap1_pre_restore_\d{8}_\d{6}$/);
    expect(await fingerprint(pg, result.previousDatabase!)).toEqual(changed);
    expect(result.proof.comparison?.ok).toBe(true);
    expect(result.proof.comparison?.rows.find((r) => r.name === "public.segments")).toMatchObject({
      expected: "2000",
      actual: "2000",
    });
    expect(lines.join("\n")).toContain("matches the manifest");
    expect((await databases(pg)).filter((d) => d.includes("lifeline_restore"))).toEqual([]);
  });

  it("--drop-old drops the replaced database after the swap; a fresh target is simply created", async () => {
    const pg = await seeded("swap2");
    const dir = await tempDir("restore");
    const file = await takeBackup(pg, "swap2", dir);
    const { result } = await restoreFile(pg, "swap2", file, { RESTORE_DROP_OLD: "true" });
    expect(result.droppedPrevious).toBe(true);
    expect((await databases(pg)).filter((d) => d.startsWith("swap2"))).toEqual(["swap2"]);
    const fresh = await restoreFile(pg, "swap2_brand_new", file);
    expect(fresh.result.previousDatabase).toBeUndefined();
    expect(await fingerprint(pg, "swap2_brand_new")).toEqual(await fingerprint(pg, "swap2"));
  });

  it("an SQL error mid-file fails the restore, drops the new database and leaves the live one exactly as it was", async () => {
    const pg = await seeded("sqlerr");
    const dir = await tempDir("restore");
    const file = await takeBackup(pg, "sqlerr", dir, { BACKUP_COMPRESSION: "none" });
    // A backup whose middle holds a bad statement, with a matching sidecar: only psql can catch it.
    const text = await readFile(file, "utf8");
    const cut = text.indexOf("COPY public.segments");
    const bad = `${text.slice(0, cut)}CREATE VIEW public.broken AS SELECT no_such_function();\n${text.slice(cut)}`;
    const badFile = file.replace("sqlerr_daily", "sqlerr_weekly");
    await writeFile(badFile, bad);
    const sha = (await shell(pg, `sha256sum "${badFile}" | cut -d' ' -f1`)).trim();
    await writeFile(`${badFile}.sha256`, `${sha}  ${badFile.split("/").pop()}\n`);
    await pg.query("sqlerr", "INSERT INTO audit.events (at, what) VALUES (now(), 'live only')");
    const live = await fingerprint(pg, "sqlerr");
    const err = await restoreFile(pg, "sqlerr", badFile).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/psql exited with code 3: .*no_such_function/);
    expect((err as Error).message).toContain('"sqlerr" was not touched');
    expect(await fingerprint(pg, "sqlerr")).toEqual(live);
    expect((await databases(pg)).filter((d) => d.startsWith("sqlerr"))).toEqual(["sqlerr"]);
  });

  it("a server crash mid-restore (backend killed) leaves the live database intact", async () => {
    const pg = await seeded("crash", 1000);
    await pg.query(
      "crash",
      "CREATE TABLE bulk AS SELECT g, repeat(md5(g::text), 10) AS t FROM generate_series(1, 300000) g",
    );
    const dir = await tempDir("restore");
    const file = await takeBackup(pg, "crash", dir);
    const live = await fingerprint(pg, "crash");
    const restoring = restoreFile(pg, "crash", file).catch((e: Error) => e);
    // Kill psql's backend with SIGKILL: the postmaster treats it as a crash and restarts every session.
    let killed = false;
    for (let i = 0; i < 400 && !killed; i++) {
      const rows = await pg
        .query<{ pid: number }>(
          "postgres",
          "SELECT pid FROM pg_stat_activity WHERE application_name = 'lifeline-restore' AND datname LIKE 'crash_lifeline_restore_%'",
        )
        .catch(() => []);
      if (rows[0]) {
        process.kill(rows[0].pid, "SIGKILL");
        killed = true;
      } else await new Promise((r) => setTimeout(r, 25));
    }
    expect(killed).toBe(true);
    const err = await restoring;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/psql|connection|terminat/i);
    // The server recovers by itself; the live database is exactly as before.
    for (let i = 0; i < 100; i++) {
      if (
        await pg.query("crash", "SELECT 1").then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await fingerprint(pg, "crash")).toEqual(live);
    expect((await databases(pg)).filter((d) => d.startsWith("crash"))).toEqual(["crash"]);
  });

  it("a manifest whose row counts disagree with the data is caught, named, and nothing is swapped", async () => {
    const pg = await seeded("mismatch");
    const dir = await tempDir("restore");
    const file = await takeBackup(pg, "mismatch", dir);
    const live = await fingerprint(pg, "mismatch");
    const err = await restoreFile(
      pg,
      "mismatch",
      file,
      {},
      {
        afterRestoreHook: async (client) => {
          await client.query("DELETE FROM segments WHERE id <= 10");
        },
      },
    ).catch((e: Error) => e);
    expect((err as Error).message).toContain(
      "table public.segments: 2000 rows in the manifest, 1990 restored",
    );
    expect(await fingerprint(pg, "mismatch")).toEqual(live);
    expect((await databases(pg)).filter((d) => d.startsWith("mismatch"))).toEqual(["mismatch"]);
  });

  it("a flipped byte is refused by the sha256 check and the live database is untouched", async () => {
    const pg = await seeded("flip");
    const dir = await tempDir("restore");
    const file = await takeBackup(pg, "flip", dir, { BACKUP_COMPRESSION: "none" });
    const bytes = await readFile(file);
    const at = bytes.indexOf("Segment 1000");
    bytes[at + 8] = "2".charCodeAt(0);
    await writeFile(file, bytes);
    const live = await fingerprint(pg, "flip");
    const err = await restoreFile(pg, "flip", file).catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      /sha256 mismatch: flip_daily_.*\.sql has [0-9a-f]{64}, its sidecar says/,
    );
    expect(await fingerprint(pg, "flip")).toEqual(live);
  });

  it("restores the runbook's own shell backup (pg_dump | gzip, sha256sum, no manifest)", async () => {
    const pg = await seeded("shellbk");
    const dir = await tempDir("restore");
    await shell(
      pg,
      'mkdir -p "$B/daily" && cd "$B/daily" && pg_dump -d shellbk | gzip > transcripts_daily_20241026_020000.sql.gz && sha256sum transcripts_daily_20241026_020000.sql.gz > transcripts_daily_20241026_020000.sql.gz.sha256',
      { B: dir },
    );
    const want = await fingerprint(pg, "shellbk");
    const { result, lines } = await restoreFile(
      pg,
      "shellbk_copy",
      `${dir}/daily/transcripts_daily_20241026_020000.sql.gz`,
    );
    expect(result.proof.comparison).toBeUndefined();
    expect(lines.join("\n")).toContain("has no manifest");
    expect(await fingerprint(pg, "shellbk_copy")).toEqual(want);
  });

  it("refuses a backup without a sidecar before creating any database", async () => {
    const pg = postgres();
    const dir = await tempDir("restore");
    await writeFile(`${dir}/x_daily_20241026_020000.sql.gz`, gzipSync("SELECT 1;\n"));
    const err = await restoreFile(pg, "nosidecar", `${dir}/x_daily_20241026_020000.sql.gz`).catch(
      (e: Error) => e,
    );
    expect((err as Error).message).toContain("No checksum sidecar");
    expect(await databases(pg)).not.toContain("nosidecar");
  });
});
