import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, rm, symlink, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { tiersDue } from "../../src/backup/tiers.js";
import { BackupName } from "../../src/catalog/backup-name.js";
import { expectedSha256, findBackup, listBackups } from "../../src/catalog/backup-source.js";
import {
  type CatalogEntry,
  listCatalog,
  MAX_MANIFEST_BYTES,
  MAX_SIDECAR_BYTES,
  readManifestText,
  readSidecar,
  tierStore,
} from "../../src/catalog/catalog.js";
import { checksumLine } from "../../src/catalog/manifest.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { applyLocalRetention, applyRemoteRetention } from "../../src/retention/apply.js";
import { UserError } from "../../src/shared/errors.js";
import { LocalStore } from "../../src/storage/local-store.js";
import { openStore } from "../../src/storage/open-store.js";
import type { BackupStore, GetTextOptions } from "../../src/storage/store.js";
import { verifyLocalBackups } from "../../src/verify/verify-backups.js";
import { useAzurite, useFakeGcs, useMinio } from "../support/cloud-fixtures.js";
import { capturingLogger, useTempDirs } from "../support/fixtures.js";

const run = promisify(execFile);
const tempDir = useTempDirs();
const minio = useMinio();
const gcs = useFakeGcs();
const azurite = useAzurite();

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

describe("a hostile BACKUP_DIR or bucket: files swapped after the listing, directories in a file's place", () => {
  const DUMP = gzipSync("SELECT 1;\n-- PostgreSQL database dump complete\n\n");
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  const at = (tier: "daily" | "weekly", when: Date) => new BackupName("app", tier, when, "sql.gz").toString();

  /** A whole, verifiable backup (real gzip with the dump trailer, sidecar, manifest) in BACKUP_DIR/<tier>/. */
  async function whole(backupDir: string, tier: "daily" | "weekly", when: Date): Promise<string> {
    const file = at(tier, when);
    await mkdir(path.join(backupDir, tier), { recursive: true });
    await writeFile(path.join(backupDir, tier, file), DUMP);
    await writeFile(path.join(backupDir, tier, `${file}.sha256`), checksumLine(sha(DUMP), file));
    await writeFile(
      path.join(backupDir, tier, `${file}.manifest.json`),
      JSON.stringify({ sha256: sha(DUMP), sizeBytes: DUMP.length }),
    );
    return file;
  }

  /** The store, with the byte length of every text `getText` returned recorded. */
  function measured<T extends BackupStore>(
    store: T,
    hooks: Partial<BackupStore> = {},
  ): { store: T; reads: number[] } {
    const reads: number[] = [];
    const spy = Object.assign(Object.create(store) as T, {
      getText: async (name: string, options?: GetTextOptions) => {
        const text = await store.getText(name, options);
        reads.push(Buffer.byteLength(text ?? ""));
        return text;
      },
      ...hooks,
    });
    return { store: spy, reads };
  }

  it("a sidecar replaced by a 64 MiB file after the listing: at most 4097 bytes are read, and it is too large", async () => {
    const dir = await tempDir("catalog-sidecar-swap");
    const file = at("daily", new Date(Date.UTC(2026, 11, 1, 2)));
    await writeFile(path.join(dir, file), DUMP);
    await writeFile(path.join(dir, `${file}.sha256`), checksumLine(sha(DUMP), file));
    const local = new LocalStore(dir);
    const listed = (await local.list()).find((o) => o.name === `${file}.sha256`);
    await writeFile(path.join(dir, `${file}.sha256`), Buffer.alloc(64 * 1024 * 1024, 0x61));
    const { store, reads } = measured(local);
    const state = await readSidecar(store, file, listed);
    expect(state).toMatchObject({ state: "bad", fault: "too-large" });
    expect(state.state === "bad" && state.problem).toMatch(
      /is more than 4096 bytes, not one 'sha256sum' line: not read$/,
    );
    expect(reads).toEqual([MAX_SIDECAR_BYTES + 1]);
  });

  it("a manifest swapped for an 80 MiB file between its stat and its read: refused after 64 MiB + 1 bytes", async () => {
    const dir = await tempDir("catalog-manifest-swap");
    const file = at("daily", new Date(Date.UTC(2026, 11, 1, 2)));
    const manifest = path.join(dir, `${file}.manifest.json`);
    await writeFile(manifest, "{}");
    const local = new LocalStore(dir);
    const { store, reads } = measured(local, {
      stat: async (name: string) => {
        const found = await local.stat(name);
        await truncate(manifest, 80 * 1024 * 1024); // the swap a hostile writer races for
        return found;
      },
    });
    await expect(readManifestText(store, file)).rejects.toThrow(
      new RegExp(
        `manifest .* is over ${MAX_MANIFEST_BYTES} bytes, more than a manifest holds .*: it was not read`,
      ),
    );
    expect(reads).toEqual([MAX_MANIFEST_BYTES + 1]);
    // A manifest within the bound is still read whole.
    await writeFile(manifest, '{"sha256":"x"}');
    expect(await readManifestText(local, file)).toBe('{"sha256":"x"}');
  });

  it("S3 (MinIO): a bounded read fetches a byte range: a huge sidecar reads 4097 bytes, an empty one reads empty", async () => {
    const bucket = await bucketStore("catalog-ranged");
    const file = day(10);
    await bucket.put(file, "data");
    await bucket.put(`${file}.sha256`, checksumLine(SHA, file));
    const listed = (await bucket.list()).find((o) => o.name === `${file}.sha256`);
    // Replaced after the listing (put never overwrites: the hostile writer deletes first).
    await bucket.delete(`${file}.sha256`);
    await bucket.put(`${file}.sha256`, Buffer.alloc(8 * 1024 * 1024, 0x61));
    const { store, reads } = measured(bucket);
    expect(await readSidecar(store, file, listed)).toMatchObject({ state: "bad", fault: "too-large" });
    expect(reads).toEqual([MAX_SIDECAR_BYTES + 1]);
    expect(await bucket.getText(`${file}.sha256`, { maxBytes: 9 })).toBe("a".repeat(10));
    // An empty object has no byte 0 (HTTP 416 for the range): it reads as empty, not as an error.
    await bucket.put("empty.sha256", "");
    expect(await bucket.getText("empty.sha256", { maxBytes: MAX_SIDECAR_BYTES })).toBe("");
    expect(await bucket.getText("missing.sha256", { maxBytes: MAX_SIDECAR_BYTES })).toBeUndefined();
    // Unbounded reads are unchanged.
    expect(await bucket.getText(`${file}.sha256`)).toHaveLength(8 * 1024 * 1024);
  });

  it("GCS (fake-gcs-server) and Azure (Azurite): bounded reads cut at maxBytes + 1; empty and missing objects as unbounded", async () => {
    await gcs().createBucket("catalog-ranged");
    await azurite().createContainer("catalog-ranged");
    const vars = {
      DATABASE_URL: "postgres://lifeline@127.0.0.1:1/none",
      BACKUP_GCS_BUCKET: "catalog-ranged",
      BACKUP_GCS_ENDPOINT: gcs().endpoint,
      BACKUP_AZURE_CONTAINER: "catalog-ranged",
      AZURE_STORAGE_CONNECTION_STRING: azurite().connectionString,
    };
    const { destinations } = loadBackupDbConfig(environmentLookup(vars), vars);
    expect(destinations.map((d) => d.kind)).toEqual(["gcs", "azure"]);
    for (const destination of destinations) {
      const store = await openStore(destination);
      await store.put("big.sha256", Buffer.alloc(1024 * 1024, 0x61));
      await store.put("empty.sha256", "");
      await store.put("small.sha256", "hello");
      const bound = { maxBytes: MAX_SIDECAR_BYTES };
      expect(await store.getText("big.sha256", bound)).toBe("a".repeat(MAX_SIDECAR_BYTES + 1));
      expect(await store.getText("small.sha256", bound)).toBe("hello");
      expect(await store.getText("empty.sha256", bound)).toBe("");
      expect(await store.getText("missing.sha256", bound)).toBeUndefined();
      expect(await store.getText("big.sha256")).toHaveLength(1024 * 1024);
      expect(await store.getText("empty.sha256")).toBe("");
    }
  });

  it("retention: a directory named like an old backup's manifest is left and reported; the other expired backups still go", async () => {
    const backupDir = await tempDir("catalog-retention-dir");
    const now = new Date(Date.UTC(2026, 11, 2, 3));
    const old = await whole(backupDir, "daily", new Date(now.getTime() - 30 * 86_400_000));
    const kept = await whole(backupDir, "daily", new Date(now.getTime() - 86_400_000));
    const older = await whole(backupDir, "daily", new Date(now.getTime() - 40 * 86_400_000));
    const manifestDir = path.join(backupDir, "daily", `${old}.manifest.json`);
    await rm(manifestDir);
    await mkdir(manifestDir);
    await writeFile(path.join(manifestDir, "inside"), "not Lifeline's");
    const { logger, lines } = capturingLogger();
    const outcome = await applyLocalRetention(backupDir, "app", { daily: 7, weekly: 4, monthly: 12 }, now, {
      dryRun: false,
      logger,
      tiers: ["daily", "weekly", "monthly"],
      schedule: { weeklyDay: 0, monthlyDay: 1 },
    });
    const reason = `${manifestDir} is a directory, not a regular file: Lifeline never deletes it; remove it by hand`;
    expect(outcome.left).toEqual([{ file: path.join("daily", `${old}.manifest.json`), reason }]);
    expect(lines).toContain(`warn: retention daily: deleted ${old} but left ${old}.manifest.json: ${reason}`);
    expect(outcome.removed).toEqual(
      expect.arrayContaining(
        [old, `${old}.sha256`, older, `${older}.sha256`, `${older}.manifest.json`].map((f) =>
          path.join("daily", f),
        ),
      ),
    );
    expect((await readdir(path.join(backupDir, "daily"))).sort()).toEqual(
      [kept, `${kept}.manifest.json`, `${kept}.sha256`, `${old}.manifest.json`].sort(),
    );
    expect(await readdir(manifestDir)).toEqual(["inside"]);
  });

  it("a tier directory that is a regular file: listing names it and what to do; verify fails that tier and checks the others", async () => {
    const backupDir = await tempDir("catalog-tier-file");
    const now = new Date(Date.UTC(2026, 11, 2, 3));
    const daily = await whole(backupDir, "daily", new Date(now.getTime() - 3_600_000));
    await writeFile(path.join(backupDir, "weekly"), "not a directory");
    const advice = `${path.join(backupDir, "weekly")} is a regular file, not a directory: Lifeline keeps each tier (daily, weekly, monthly) in a directory of BACKUP_DIR; move the file away`;
    await expect(listCatalog(tierStore(backupDir, "weekly"))).rejects.toThrow(advice);
    await expect(listCatalog(tierStore(backupDir, "weekly"))).rejects.toBeInstanceOf(UserError);
    const { logger, lines } = capturingLogger();
    const report = await verifyLocalBackups(backupDir, { prefix: "app", maxAgeHours: 26, logger, now });
    expect(report.exitCode).toBe(1);
    expect(report.checks.map((c) => [path.basename(c.file), c.name.tier, c.ok, c.problem])).toEqual([
      [daily, "daily", true, undefined],
      ["weekly", "weekly", false, advice],
    ]);
    expect(lines).toContain(`error: verify weekly: FAILED: ${advice}`);
    expect(report.newestAgeHours).toBeCloseTo(1);
  });
});
