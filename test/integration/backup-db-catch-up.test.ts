import { createHash } from "node:crypto";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { backupDbSummary } from "../../src/backup/backup-db-summary.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX } from "../../src/catalog/manifest.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { openStore } from "../../src/storage/open-store.js";
import type { BackupStore } from "../../src/storage/store.js";
import { useMinio } from "../support/cloud-fixtures.js";
import { capturingLogger, listTree, usePostgres, useTempDirs } from "../support/fixtures.js";
import { makeGpgKey, type TestKey } from "../support/gpg.js";

const postgres = usePostgres();
const tempDir = useTempDirs();
const minio = useMinio();

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = minio().accessKey;
  process.env.AWS_SECRET_ACCESS_KEY = minio().secretKey;
  await postgres().createDatabase("ledger");
  // ≈ 0.7 MiB of plain SQL per backup: small and fast, yet big enough for a byte bound of 1 MiB to bite.
  await postgres().query(
    "ledger",
    "create table entries as select g as id, md5(g::text) || md5((g + 1)::text) as body from generate_series(1, 9000) g",
  );
});

/** A backup-db run at a fixed UTC time, into BACKUP_DIR and one S3 bucket. */
async function runAt(iso: string, vars: Record<string, string>) {
  const env = {
    DATABASE_URL: postgres().url("ledger"),
    BACKUP_COMPRESSION: "none",
    BACKUP_S3_ENDPOINT: minio().endpoint,
    ...vars,
  };
  const { logger, lines } = capturingLogger();
  const config = loadBackupDbConfig(environmentLookup(env), env);
  const result = await backupDatabase(config, { logger, now: () => new Date(iso) });
  return { result, lines };
}

async function bucketStore(bucket: string): Promise<BackupStore> {
  const env = {
    DATABASE_URL: postgres().url("ledger"),
    BACKUP_S3_BUCKET: bucket,
    BACKUP_S3_ENDPOINT: minio().endpoint,
  };
  const [destination] = loadBackupDbConfig(environmentLookup(env), env).destinations;
  if (!destination) throw new Error("no destination");
  return openStore(destination);
}

async function sha256Of(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest("hex");
}

/** Names, sizes, inodes and mtimes of a tier folder: proof that a run left it as it was. */
async function snapshotOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await listTree(dir)) {
    const s = await stat(path.join(dir, name));
    out.push(`${name} ${s.size} ${s.ino} ${s.mtimeMs}`);
  }
  return out;
}

/** A complete backup in the bucket: data, sidecar and manifest, the data hashing to the local sidecar's digest. */
async function expectCopyOf(store: BackupStore, localFile: string, remoteName = path.basename(localFile)) {
  const names = (await store.list()).map((o) => o.name);
  expect(names).toEqual(
    expect.arrayContaining([
      remoteName,
      `${remoteName}${CHECKSUM_SUFFIX}`,
      `${remoteName}${MANIFEST_SUFFIX}`,
    ]),
  );
  const localSha = (await readFile(`${localFile}${CHECKSUM_SUFFIX}`, "utf8")).split(" ")[0];
  expect(await sha256Of(await store.get(remoteName))).toBe(localSha);
  expect(await store.getText(`${remoteName}${CHECKSUM_SUFFIX}`)).toBe(`${localSha}  ${remoteName}\n`);
  const manifest = JSON.parse((await store.getText(`${remoteName}${MANIFEST_SUFFIX}`)) ?? "{}");
  expect(manifest).toMatchObject({ file: remoteName, sha256: localSha });
  return manifest as { tier: string };
}

describe("an off-site copy missed is made up by the next run", () => {
  it("Sunday's upload failed: Monday's run gives the bucket a weekly for that week and Sunday's daily; BACKUP_DIR's weekly/ is untouched", async () => {
    const bucket = "weekly-made-up";
    await minio().createBucket(bucket);
    const vars = { BACKUP_DIR: await tempDir("weekly-made-up"), BACKUP_S3_BUCKET: bucket };
    const store = await bucketStore(bucket);
    // Saturday: the first backups open every tier, locally and in the bucket.
    expect((await runAt("2026-11-14T02:00:00Z", vars)).result.offsite[0]?.ok).toBe(true);
    // Sunday: S3 is down. Locally the backup is filed as weekly; the bucket gets nothing.
    await minio().kill();
    const sunday = (await runAt("2026-11-15T02:00:00Z", vars)).result;
    await minio().restart();
    expect(sunday.offsite[0]?.ok).toBe(false);
    expect(sunday.tiers.map((t) => t.tier)).toEqual(["daily", "weekly"]);
    const weeklyDir = path.join(vars.BACKUP_DIR, "weekly");
    const weeklyBefore = await snapshotOf(weeklyDir);

    // Monday: BACKUP_DIR has this week's weekly, the bucket has not.
    const { result: monday, lines } = await runAt("2026-11-16T02:00:00Z", vars);
    expect(monday.offsite.map((o) => [o.ok, o.error])).toEqual([[true, undefined]]);
    expect(monday.tiers.map((t) => t.tier)).toEqual(["daily"]);
    expect(await snapshotOf(weeklyDir)).toEqual(weeklyBefore);
    // Today's backup went to the bucket as weekly too, in the same pass…
    expect(monday.offsite[0]?.uris.map((u) => path.basename(u)).sort()).toEqual([
      "ledger_daily_20261116_020000.sql",
      "ledger_weekly_20261116_020000.sql",
    ]);
    const weeklyManifest = await expectCopyOf(store, monday.file, "ledger_weekly_20261116_020000.sql");
    expect(weeklyManifest.tier).toBe("weekly");
    // …and Sunday's daily, which the bucket missed, was uploaded from BACKUP_DIR after it.
    expect(monday.offsite[0]?.catchUp).toMatchObject({
      uris: [store.uri("ledger_daily_20261115_020000.sql")],
      left: [],
      tooLarge: [],
    });
    expect((await expectCopyOf(store, sunday.file)).tier).toBe("daily");
    // One weekly for the week in the bucket: Sunday's local weekly is not uploaded as a second one.
    const names = (await store.list()).map((o) => o.name);
    expect(names.filter((n) => n.startsWith("ledger_weekly_") && !n.includes(".sql."))).toEqual([
      "ledger_weekly_20261114_020000.sql",
      "ledger_weekly_20261116_020000.sql",
    ]);
    expect(lines.join("\n")).toMatch(/holds no weekly backup for this week/);
    expect(lines.join("\n")).toMatch(
      /Catch-up s3:\/\/weekly-made-up\/backups\/postgres\/: 1 backup\(s\) missing there/,
    );
    expect(backupDbSummary({ result: monday })).toContain("1 missing backup(s)");

    // Tuesday: nothing left to make up, nothing more promoted.
    const tuesday = (await runAt("2026-11-17T02:00:00Z", vars)).result;
    expect(tuesday.offsite[0]?.uris.map((u) => path.basename(u))).toEqual([
      "ledger_daily_20261117_020000.sql",
    ]);
    expect(tuesday.offsite[0]?.catchUp).toMatchObject({ uris: [], left: [] });
    expect(backupDbSummary({ result: tuesday })).toContain("nothing missing");
  });

  it("the 1st's upload failed: the 2nd's run gives the bucket a monthly for that month and the 1st's daily", async () => {
    const bucket = "monthly-made-up";
    await minio().createBucket(bucket);
    const vars = { BACKUP_DIR: await tempDir("monthly-made-up"), BACKUP_S3_BUCKET: bucket };
    const store = await bucketStore(bucket);
    expect((await runAt("2026-11-30T02:00:00Z", vars)).result.offsite[0]?.ok).toBe(true);
    await minio().kill();
    const first = (await runAt("2026-12-01T02:00:00Z", vars)).result;
    await minio().restart();
    expect(first.offsite[0]?.ok).toBe(false);
    expect(first.tiers.map((t) => t.tier)).toEqual(["daily", "monthly"]);
    const monthlyDir = path.join(vars.BACKUP_DIR, "monthly");
    const monthlyBefore = await snapshotOf(monthlyDir);

    const second = (await runAt("2026-12-02T02:00:00Z", vars)).result;
    expect(second.offsite.map((o) => [o.ok, o.error])).toEqual([[true, undefined]]);
    expect(second.tiers.map((t) => t.tier)).toEqual(["daily"]);
    expect(await snapshotOf(monthlyDir)).toEqual(monthlyBefore);
    // The week (from Sunday 11-29) already has its weekly in the bucket: only the monthly is due there.
    expect(second.offsite[0]?.uris.map((u) => path.basename(u)).sort()).toEqual([
      "ledger_daily_20261202_020000.sql",
      "ledger_monthly_20261202_020000.sql",
    ]);
    expect((await expectCopyOf(store, second.file, "ledger_monthly_20261202_020000.sql")).tier).toBe(
      "monthly",
    );
    expect(second.offsite[0]?.catchUp?.uris).toEqual([store.uri("ledger_daily_20261201_020000.sql")]);
    await expectCopyOf(store, first.file);
  });

  it("makes up newest first within BACKUP_CATCHUP_MAX_FILES and BACKUP_CATCHUP_MAX_MB, the rest on later runs", async () => {
    const bucket = "bounded";
    await minio().createBucket(bucket);
    const dir = await tempDir("bounded");
    // Dailies kept for 14 days: every missed night stays within retention for the whole test.
    const vars = { BACKUP_DIR: dir, BACKUP_S3_BUCKET: bucket, BACKUP_RETENTION_DAILY: "14" };
    const store = await bucketStore(bucket);
    expect((await runAt("2026-11-02T02:00:00Z", vars)).result.offsite[0]?.ok).toBe(true);
    // Four nights whose uploads failed (the bucket was gone).
    for (const day of ["03", "04", "05", "06"]) {
      const failed = (await runAt(`2026-11-${day}T02:00:00Z`, { ...vars, BACKUP_S3_BUCKET: "gone" })).result;
      expect(failed.offsite[0]?.ok).toBe(false);
    }
    const daily = (day: string) => `ledger_daily_202611${day}_020000.sql`;
    let names: string[] = [];
    const missing = () => ["03", "04", "05", "06"].map(daily).filter((n) => !names.includes(n));

    // At most 2 files per run: the two newest.
    const sat = (await runAt("2026-11-07T02:00:00Z", { ...vars, BACKUP_CATCHUP_MAX_FILES: "2" })).result;
    expect(sat.offsite[0]?.ok).toBe(true);
    expect(sat.offsite[0]?.catchUp?.uris).toEqual([store.uri(daily("06")), store.uri(daily("05"))]);
    expect(sat.offsite[0]?.catchUp?.left).toEqual([daily("04"), daily("03")]);
    names = (await store.list()).map((o) => o.name);
    expect(missing()).toEqual([daily("03"), daily("04")]);
    expect(backupDbSummary({ result: sat })).toContain("2 left for the next runs");

    // At most 1 MiB per run: one ≈0.7 MiB backup fits, the next would not.
    const size = (await stat(path.join(dir, "daily", daily("04")))).size;
    expect(size).toBeGreaterThan(512 * 1024);
    expect(size).toBeLessThan(1024 * 1024);
    const sun = (await runAt("2026-11-08T02:00:00Z", { ...vars, BACKUP_CATCHUP_MAX_MB: "1" })).result;
    expect(sun.offsite[0]?.catchUp).toMatchObject({ uris: [store.uri(daily("04"))], left: [daily("03")] });
    expect(sun.offsite[0]?.catchUp?.bytes).toBe(size);
    names = (await store.list()).map((o) => o.name);
    expect(missing()).toEqual([daily("03")]);

    // Catch-up off: nothing made up, nothing reported.
    const mon = (await runAt("2026-11-09T02:00:00Z", { ...vars, BACKUP_CATCHUP_MAX_FILES: "0" })).result;
    expect(mon.offsite[0]?.catchUp).toBeUndefined();
    names = (await store.list()).map((o) => o.name);
    expect(missing()).toEqual([daily("03")]);

    // A local file that no longer matches its sidecar is refused while streaming: not stored, named, and the run fails.
    const tampered = path.join(dir, "daily", daily("03"));
    const bytes = await readFile(tampered);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(tampered, bytes);
    const tue = (await runAt("2026-11-10T02:00:00Z", vars)).result;
    expect(tue.offsite[0]).toMatchObject({ ok: false, stage: "catch-up" });
    expect(tue.offsite[0]?.error).toContain(`${tampered} no longer matches its .sha256 sidecar`);
    expect(tue.offsite[0]?.uris.map((u) => path.basename(u))).toEqual([daily("10")]);
    names = (await store.list()).map((o) => o.name);
    expect(names.filter((n) => n.startsWith(daily("03")))).toEqual([]);
  });
});

describe("what catch-up does not upload, and says so", () => {
  const daily = (day: string, ext = "sql") => `ledger_daily_202611${day}_020000.${ext}`;

  /** A bucket whose first backup (the 2nd) arrived, then nights whose uploads failed (the bucket was gone). */
  async function missedNights(bucket: string, nights: Record<string, Record<string, string>>) {
    await minio().createBucket(bucket);
    const dir = await tempDir(bucket);
    // Dailies kept for 14 days: every missed night stays within retention for the whole test.
    const vars = { BACKUP_DIR: dir, BACKUP_S3_BUCKET: bucket, BACKUP_RETENTION_DAILY: "14" };
    expect((await runAt("2026-11-02T02:00:00Z", vars)).result.offsite[0]?.ok).toBe(true);
    for (const [day, extra] of Object.entries(nights)) {
      const failed = (
        await runAt(`2026-11-${day}T02:00:00Z`, { ...vars, ...extra, BACKUP_S3_BUCKET: "gone" })
      ).result;
      expect(failed.offsite[0]?.ok).toBe(false);
    }
    return { dir, vars, store: await bucketStore(bucket) };
  }

  it("a leftover sidecar or data object without its backup is named with what to do, not tried, and older ones still come", async () => {
    const { dir, vars, store } = await missedNights("leftovers", { "03": {}, "04": {}, "05": {} });
    // Leftovers (a run killed between objects, a hand's copy): 05's sidecar alone, 04's data alone.
    const sidecar05 = `${daily("05")}${CHECKSUM_SUFFIX}`;
    await store.put(sidecar05, await readFile(path.join(dir, "daily", sidecar05), "utf8"));
    await store.put(daily("04"), "a partial copy\n");

    const { result, lines } = await runAt("2026-11-06T02:00:00Z", vars);
    expect(result.offsite.map((o) => [o.ok, o.error])).toEqual([[true, undefined]]);
    const blocked = (day: string, leftover: string) =>
      `${daily(day)}: blocked by the leftover ${store.uri(leftover)}: delete it to let catch-up fill it`;
    expect(result.offsite[0]?.catchUp).toMatchObject({
      uris: [store.uri(daily("03"))],
      left: [],
      notTried: [],
      skipped: [blocked("05", sidecar05), blocked("04", daily("04"))],
    });
    await expectCopyOf(store, path.join(dir, "daily", daily("03")));
    // Nothing was uploaded over or beside the leftovers.
    let names = (await store.list()).map((o) => o.name);
    expect(names.filter((n) => n.startsWith(daily("05")))).toEqual([sidecar05]);
    expect(names.filter((n) => n.startsWith(daily("04")))).toEqual([daily("04")]);
    const summary = backupDbSummary({ result });
    expect(summary).toContain(blocked("05", sidecar05));
    expect(summary).toContain(blocked("04", daily("04")));
    expect(summary).not.toContain("nothing missing");
    expect(lines.join("\n")).toContain(blocked("04", daily("04")));

    // Once they are deleted, the next run fills both.
    await store.delete(sidecar05);
    await store.delete(daily("04"));
    const next = (await runAt("2026-11-07T02:00:00Z", vars)).result;
    expect(next.offsite[0]?.catchUp).toMatchObject({
      uris: [store.uri(daily("05")), store.uri(daily("04"))],
      skipped: [],
    });
    names = (await store.list()).map((o) => o.name);
    await expectCopyOf(store, path.join(dir, "daily", daily("05")));
    await expectCopyOf(store, path.join(dir, "daily", daily("04")));
  });

  it("a backup without a manifest goes with its sidecar alone; a manifest that is not an object or disagrees on the size is named", async () => {
    const { dir, vars, store } = await missedNights("no-manifest", { "03": {}, "04": {}, "05": {} });
    const file = (day: string) => path.join(dir, "daily", daily(day));
    // Made by hand per the runbook: data and sidecar only.
    await rm(`${file("03")}${MANIFEST_SUFFIX}`);
    await writeFile(`${file("04")}${MANIFEST_SUFFIX}`, "null\n");
    const size05 = (await stat(file("05"))).size;
    const manifest05 = JSON.parse(await readFile(`${file("05")}${MANIFEST_SUFFIX}`, "utf8"));
    await writeFile(
      `${file("05")}${MANIFEST_SUFFIX}`,
      JSON.stringify({ ...manifest05, sizeBytes: size05 + 1 }),
    );

    const { result } = await runAt("2026-11-06T02:00:00Z", vars);
    expect(result.offsite[0]).toMatchObject({ ok: false, stage: "catch-up" });
    expect(result.offsite[0]?.error).toContain(
      `${file("05")} cannot be caught up: its manifest records ${size05 + 1} bytes, the file has ${size05}`,
    );
    expect(result.offsite[0]?.error).toContain(
      `${file("04")} cannot be caught up: ${file("04")}${MANIFEST_SUFFIX} is not a JSON object`,
    );
    expect(result.offsite[0]?.catchUp?.uris).toEqual([store.uri(daily("03"))]);
    const names = (await store.list()).map((o) => o.name);
    expect(names.filter((n) => n.startsWith(daily("03"))).sort()).toEqual([
      daily("03"),
      `${daily("03")}${CHECKSUM_SUFFIX}`,
    ]);
    const localSha = (await readFile(`${file("03")}${CHECKSUM_SUFFIX}`, "utf8")).split(" ")[0];
    expect(await sha256Of(await store.get(daily("03")))).toBe(localSha);
    expect(names.filter((n) => n.startsWith(daily("04")) || n.startsWith(daily("05")))).toEqual([]);
  });

  describe("with encryption", () => {
    let before: TestKey;
    let current: TestKey;
    beforeAll(async () => {
      before = await makeGpgKey("before@lifeline.test");
      current = await makeGpgKey("current@lifeline.test");
    });
    const encryptingTo = (key: TestKey) => ({
      BACKUP_ENCRYPT: "true",
      BACKUP_GPG_RECIPIENT: key.email,
      BACKUP_GPG_PUBLIC_KEY: key.publicKey,
    });

    it("an encrypting run makes up only backups encrypted to its key: one unencrypted or to the key before a rotation is named, not uploaded", async () => {
      const { vars, store } = await missedNights("encrypting", {
        "03": {},
        "04": encryptingTo(before),
        "05": encryptingTo(current),
      });
      const { result, lines } = await runAt("2026-11-06T02:00:00Z", { ...vars, ...encryptingTo(current) });
      expect(result.offsite.map((o) => [o.ok, o.error])).toEqual([[true, undefined]]);
      const notUploaded = (name: string) => `${name}: not encrypted to the current key: not uploaded`;
      expect(result.offsite[0]?.catchUp).toMatchObject({
        uris: [store.uri(daily("05", "sql.gpg"))],
        skipped: [notUploaded(daily("04", "sql.gpg")), notUploaded(daily("03"))],
      });
      const names = (await store.list()).map((o) => o.name);
      expect(names.filter((n) => n.startsWith(daily("03")) || n.startsWith(daily("04")))).toEqual([]);
      expect(backupDbSummary({ result })).toContain(notUploaded(daily("03")));
      expect(lines.join("\n")).toContain(notUploaded(daily("04", "sql.gpg")));
    });
  });
});
