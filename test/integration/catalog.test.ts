import { execFile } from "node:child_process";
import { mkdir, readdir, symlink, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { tiersDue } from "../../src/backup/tiers.js";
import { BackupName } from "../../src/catalog/backup-name.js";
import { expectedSha256, findBackup, listBackups } from "../../src/catalog/backup-source.js";
import {
  type CatalogEntry,
  listCatalog,
  MAX_MANIFEST_BYTES,
  readManifestText,
} from "../../src/catalog/catalog.js";
import { checksumLine } from "../../src/catalog/manifest.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { applyLocalRetention, applyRemoteRetention } from "../../src/retention/apply.js";
import { LocalStore } from "../../src/storage/local-store.js";
import { openStore } from "../../src/storage/open-store.js";
import type { BackupStore } from "../../src/storage/store.js";
import { useMinio } from "../support/cloud-fixtures.js";
import { capturingLogger, useTempDirs } from "../support/fixtures.js";

const run = promisify(execFile);
const tempDir = useTempDirs();
const minio = useMinio();

beforeAll(() => {
  process.env.AWS_ACCESS_KEY_ID = minio().accessKey;
  process.env.AWS_SECRET_ACCESS_KEY = minio().secretKey;
});

async function bucketStore(bucket: string): Promise<BackupStore> {
  await minio().createBucket(bucket);
  const env = {
    DATABASE_URL: "postgres://lifeline@127.0.0.1:1/none",
    BACKUP_S3_BUCKET: bucket,
    BACKUP_S3_ENDPOINT: minio().endpoint,
  };
  const [destination] = loadBackupDbConfig(environmentLookup(env), env).destinations;
  if (!destination) throw new Error("no destination");
  return openStore(destination);
}

const day = (d: number) =>
  new BackupName("app", "daily", new Date(Date.UTC(2024, 10, d, 2)), "sql.gz").toString();
const SHA = "ab".repeat(32);

/** The same tampered set in any store: one whole backup, and one of each way a backup can be broken. */
async function fill(store: BackupStore): Promise<void> {
  const whole = day(10);
  await store.put(whole, "data");
  await store.put(`${whole}.sha256`, checksumLine(SHA, whole));
  await store.put(`${whole}.manifest.json`, JSON.stringify({ sha256: SHA, sizeBytes: 4 }));
  const noManifest = day(9); // the runbook's shell backups: a sidecar only, a backup all the same
  await store.put(noManifest, "data");
  await store.put(`${noManifest}.sha256`, checksumLine(SHA, noManifest));
  await store.put(day(8), "data"); // no sidecar
  await store.put(day(7), "data");
  await store.put(`${day(7)}.sha256`, "not sha256sum output\n"); // tampered
  await store.put(day(6), "data");
  await store.put(`${day(6)}.sha256`, checksumLine(SHA, day(10))); // copied from another backup
  await store.put(day(5), ""); // zero bytes
  await store.put(`${day(5)}.sha256`, checksumLine(SHA, day(5)));
  await store.put(day(4), "data");
  await store.put(`${day(4)}.sha256`, `${checksumLine(SHA, day(4))}${"#".repeat(8192)}`); // not one line
  // Not backups: foreign names, another prefix, an impossible date, an orphan companion, a hidden partial.
  await store.put("notes.txt", "hello");
  await store.put("other_daily_20241110_020000.sql.gz", "data");
  await store.put("app_daily_20241131_020000.sql.gz", "data");
  await store.put(`${day(3)}.sha256`, checksumLine(SHA, day(3)));
}

const verdicts = (entries: readonly CatalogEntry[]) =>
  Object.fromEntries(entries.map((e) => [e.fileName, e.valid ? "valid" : e.problem]));

function expectJudged(entries: readonly CatalogEntry[], empty: string): void {
  expect(entries.map((e) => e.fileName)).toEqual([day(10), day(9), day(8), day(7), day(6), day(5), day(4)]);
  expect(verdicts(entries)).toEqual({
    [day(10)]: "valid",
    [day(9)]: "valid",
    [day(8)]: "no .sha256 sidecar",
    [day(7)]: "malformed .sha256 sidecar",
    [day(6)]: `.sha256 sidecar names '${day(10)}'`,
    [day(5)]: empty,
    [day(4)]: expect.stringMatching(/is \d+ bytes, not one 'sha256sum' line \(at most 4096\): not read$/),
  });
  const [whole, noManifest] = entries;
  expect(whole).toMatchObject({ kind: "database-dump", tier: "daily", sizeBytes: 4, hasManifest: true });
  expect(whole?.sidecar).toEqual({ state: "ok", sha256: SHA });
  expect(whole?.companions).toEqual([`${day(10)}.sha256`, `${day(10)}.manifest.json`]);
  expect(noManifest).toMatchObject({ valid: true, hasManifest: false, companions: [`${day(9)}.sha256`] });
  expect(entries[2]?.sidecar).toEqual({ state: "absent" });
  expect(entries[4]?.sidecar).toMatchObject({ state: "bad", fault: "names-other", names: day(10) });
}

describe("one catalog for a directory and a bucket", () => {
  it("a BACKUP_DIR tier directory: the tampered, the empty and the foreign are judged or ignored, never counted", async () => {
    const dir = await tempDir("catalog-local");
    const store = new LocalStore(dir);
    await fill(store);
    expectJudged(await listCatalog(store, { prefix: "app" }), "empty file");
    // Without a prefix the other prefix is listed; the rest is still not a backup.
    expect((await listCatalog(store)).map((e) => e.fileName)).toContain("other_daily_20241110_020000.sql.gz");
  });

  it("an S3 bucket (MinIO): the same judgement", async () => {
    const store = await bucketStore("catalog-judged");
    await fill(store);
    expectJudged(await listCatalog(store, { prefix: "app" }), "empty object");
  });

  it("retention in both places deletes only what counts, and reports the rest in place", async () => {
    const now = new Date("2024-11-30T03:00:00Z");
    const policy = { daily: 1, weekly: 1, monthly: 1 };
    const options = {
      dryRun: false,
      tiers: ["daily"] as const,
      schedule: { weeklyDay: 0, monthlyDay: 1 },
    };
    const backupDir = await tempDir("catalog-retention");
    await mkdir(path.join(backupDir, "daily"));
    await fill(new LocalStore(path.join(backupDir, "daily")));
    const bucket = await bucketStore("catalog-retention");
    await fill(bucket);
    const local = await applyLocalRetention(backupDir, "app", policy, now, {
      ...options,
      logger: capturingLogger().logger,
    });
    const remote = await applyRemoteRetention(bucket, "app", policy, now, {
      ...options,
      logger: capturingLogger().logger,
    });
    // The newest valid is kept however old; the older valid one goes with its sidecar (it has no manifest).
    expect(local.removed).toEqual([path.join("daily", day(9)), path.join("daily", `${day(9)}.sha256`)]);
    expect(remote.removed).toEqual([bucket.uri(day(9)), bucket.uri(`${day(9)}.sha256`)]);
    const left = await readdir(path.join(backupDir, "daily"));
    for (const d of [10, 8, 7, 6, 5, 4]) expect(left).toContain(day(d));
    expect((await bucket.list()).map((o) => o.name)).toEqual(
      expect.arrayContaining([8, 7, 6, 5, 4].map(day)),
    );
  });

  it("restore's lookup refuses a tampered or copied sidecar, naming it", async () => {
    const dir = await tempDir("catalog-restore");
    await fill(new LocalStore(dir));
    await expect(expectedSha256(await findBackup(path.join(dir, day(7))))).rejects.toThrow(
      /^Malformed checksum sidecar .*\.sha256: expected 'sha256sum' output$/,
    );
    await expect(expectedSha256(await findBackup(path.join(dir, day(6))))).rejects.toThrow(
      `names another file, '${day(10)}'`,
    );
    await expect(expectedSha256(await findBackup(path.join(dir, day(4))))).rejects.toThrow(
      /cannot be used \(its sidecar .* not one 'sha256sum' line/,
    );
    expect(await expectedSha256(await findBackup(path.join(dir, day(10))))).toBe(SHA);
  });
});

describe("entries of a directory that are not regular files", () => {
  it("a FIFO and a symbolic link in place of dumps, a FIFO as a sidecar: listed as not counting, never opened", async () => {
    const backupDir = await tempDir("catalog-fifo");
    const weekly = path.join(backupDir, "weekly");
    await mkdir(weekly);
    const week = (d: number) =>
      new BackupName("app", "weekly", new Date(Date.UTC(2024, 10, d, 2)), "sql.gz").toString();
    await run("mkfifo", [path.join(weekly, week(10))]);
    await writeFile(path.join(weekly, `${week(10)}.sha256`), checksumLine(SHA, week(10)));
    await writeFile(path.join(weekly, "elsewhere"), "data");
    await symlink(path.join(weekly, "elsewhere"), path.join(weekly, week(11)));
    await writeFile(path.join(weekly, `${week(11)}.sha256`), checksumLine(SHA, week(11)));
    await writeFile(path.join(weekly, week(12)), "data");
    await run("mkfifo", [path.join(weekly, `${week(12)}.sha256`)]);
    const store = new LocalStore(weekly);
    const listed = await Promise.race([listCatalog(store), sleep(5_000).then(() => "hung" as const)]);
    expect(listed).not.toBe("hung");
    const entries = listed as CatalogEntry[];
    expect(verdicts(entries)).toEqual({
      [week(12)]: `its sidecar ${week(12)}.sha256 is a FIFO (named pipe), not a regular file: remove it`,
      [week(11)]: "a symbolic link, not a regular file",
      [week(10)]: "a FIFO (named pipe), not a regular file",
    });
    expect(entries.find((e) => e.fileName === week(10))).toMatchObject({ object: undefined, sizeBytes: 0 });
    // No weekly counts, so this week's is due; restore lists only the one regular file.
    expect(
      await tiersDue(backupDir, "app", new Date("2024-11-13T02:00:00Z"), { weeklyDay: 0, monthlyDay: 1 }),
    ).toEqual(["weekly", "monthly"]);
    expect((await listBackups([store], "app")).map((e) => e.fileName)).toEqual([week(12)]);
  });

  it("a manifest larger than any manifest is refused unread (a sparse file: no bytes are written)", async () => {
    const dir = await tempDir("catalog-big-manifest");
    const store = new LocalStore(dir);
    await store.put(day(10), "data");
    await writeFile(path.join(dir, `${day(10)}.manifest.json`), "");
    await truncate(path.join(dir, `${day(10)}.manifest.json`), MAX_MANIFEST_BYTES + 1);
    await expect(readManifestText(store, day(10))).rejects.toThrow(
      /manifest .* is \d+ bytes, more than a manifest holds .*: it was not read; move it away/,
    );
  });
});
