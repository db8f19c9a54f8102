import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { findBackup } from "../../src/catalog/backup-source.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { loadRestoreConfig } from "../../src/config/restore-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { loadVerifyConfig } from "../../src/config/verify-config.js";
import { restoreDatabase } from "../../src/restore/restore-db.js";
import { openStore } from "../../src/storage/open-store.js";
import { verifyBackups } from "../../src/verify/verify-backups.js";
import { useAzurite, useFakeGcs, useMinio } from "../support/cloud-fixtures.js";
import { capturingLogger, usePostgres, useTempDirs } from "../support/fixtures.js";
import { makeGpgKey, type TestKey } from "../support/gpg.js";
import { BACKUP_KINDS } from "../support/restore.js";
import { NODE24 } from "../support/run-action.js";
import { fingerprint, seedTranscripts } from "../support/seed.js";
import { execFileAsync } from "../support/services/service.js";

const postgres = usePostgres();
const tempDir = useTempDirs();
const minio = useMinio();
const gcs = useFakeGcs();
const azurite = useAzurite();

const BUCKET = "restores";
let key: TestKey;
let secretKey: string;

beforeAll(async () => {
  delete process.env.STORAGE_EMULATOR_HOST;
  process.env.AWS_ACCESS_KEY_ID = minio().accessKey;
  process.env.AWS_SECRET_ACCESS_KEY = minio().secretKey;
  // Credentials live in the environment, as on a runner; the SDK chains and the config read them there.
  process.env.AZURE_STORAGE_CONNECTION_STRING = azurite().connectionString;
  await minio().createBucket(BUCKET);
  await gcs().createBucket(BUCKET);
  await azurite().createContainer(BUCKET);
  key = await makeGpgKey("clouds@lifeline.test");
  secretKey = (
    await execFileAsync("gpg", [
      "--homedir",
      key.home,
      "--batch",
      "--armor",
      "--export-secret-keys",
      key.email,
    ])
  ).stdout;
});

/** The settings that point any command at the three emulators (as a runner's env would). */
function cloudVars(prefix: string): Record<string, string> {
  return {
    BACKUP_S3_BUCKET: BUCKET,
    BACKUP_S3_ENDPOINT: minio().endpoint,
    BACKUP_GCS_BUCKET: BUCKET,
    BACKUP_GCS_ENDPOINT: gcs().endpoint,
    BACKUP_AZURE_CONTAINER: BUCKET,
    AZURE_STORAGE_CONNECTION_STRING: azurite().connectionString,
    BACKUP_REMOTE_PREFIX: prefix,
  };
}

describe("restore from S3, GCS and Azure", () => {
  it.each(BACKUP_KINDS)(
    "%s / %s / encrypted %s: backed up to all three, restored from each, proven",
    async (format, compression, encrypted) => {
      const pg = postgres();
      const db = `cl_${format}_${compression}_${encrypted ? "gpg" : "clear"}`;
      await pg.createDatabase(db);
      await seedTranscripts(pg, db, 800);
      const want = await fingerprint(pg, db);
      const prefix = `rt/${db}/`;
      const vars = {
        DATABASE_URL: pg.url(db),
        BACKUP_DIR: await tempDir("cl"),
        BACKUP_FORMAT: format,
        BACKUP_COMPRESSION: compression,
        ...(encrypted ? { BACKUP_ENCRYPT: "true", BACKUP_GPG_PUBLIC_KEY: key.publicKey } : {}),
        ...cloudVars(prefix),
      };
      const { logger } = capturingLogger();
      const backup = await backupDatabase(loadBackupDbConfig(environmentLookup(vars), vars), { logger });
      expect(backup.offsite.map((o) => o.ok)).toEqual([true, true, true]);
      const name = path.basename(backup.file);

      for (const uri of [
        `s3://${BUCKET}/${prefix}${name}`,
        `gs://${BUCKET}/${prefix}${name}`,
        `azure://${BUCKET}/${prefix}${name}`,
      ]) {
        await pg.query(db, "DELETE FROM segments");
        const restoreVars = {
          ...vars,
          BACKUP_FILE: uri,
          RESTORE_DROP_OLD: "true",
          RESTORE_JOBS: "2",
          ...(encrypted ? { BACKUP_GPG_PRIVATE_KEY: secretKey } : {}),
        };
        const config = loadRestoreConfig(environmentLookup(restoreVars));
        const entry = await findBackup(uri, config.destinationForUri);
        expect(entry.uri).toBe(uri);
        const result = await restoreDatabase(config, entry, { logger });
        expect(result.proof.comparison?.ok, uri).toBe(true);
        expect(await fingerprint(pg, db), uri).toEqual(want);
      }
    },
  );
});

describe("verify and list with buckets configured", () => {
  it("lists cloud copies beside local ones, verifies them, and names a corrupted cloud object (exit 1)", async () => {
    const pg = postgres();
    const db = "cl_verify";
    await pg.createDatabase(db);
    await seedTranscripts(pg, db, 500);
    const dir = await tempDir("clv");
    const vars = { DATABASE_URL: pg.url(db), BACKUP_DIR: dir, ...cloudVars("verify/") };
    const { logger } = capturingLogger();
    const backup = await backupDatabase(loadBackupDbConfig(environmentLookup(vars), vars), { logger });
    const name = path.basename(backup.file);

    // --list-backups through the CLI bundle under Node 24: local tiers and all three buckets, as JSON.
    const { stdout } = await execFileAsync(
      NODE24,
      ["dist/cli/index.js", "restore", "--list-backups", "--json"],
      {
        env: { ...process.env, ...vars },
      },
    );
    const listed = JSON.parse(stdout) as { uri: string }[];
    const uris = listed.map((l) => l.uri);
    for (const uri of [
      `s3://${BUCKET}/verify/${name}`,
      `gs://${BUCKET}/verify/${name}`,
      `azure://${BUCKET}/verify/${name}`,
    ]) {
      expect(uris).toContain(uri);
    }
    expect(uris).toContain(backup.file);

    const clean = await verifyBackups(loadVerifyConfig(environmentLookup(vars)), { logger });
    expect(clean.exitCode).toBe(0);
    expect(clean.checks.filter((c) => c.file.startsWith("s3://")).every((c) => c.ok)).toBe(true);
    expect(clean.ages.map((a) => `${a.location} ${a.tier} ${a.ok}`)).toContain(
      `gs://${BUCKET}/verify/ daily true`,
    );

    // One flipped byte in the GCS copy: caught, named by its URI, exit 1; the others still pass.
    const destinations = loadVerifyConfig(environmentLookup(vars)).destinations;
    const gcsStore = await openStore(destinations.find((d) => d.kind === "gcs")!);
    const chunks: Buffer[] = [];
    for await (const c of await gcsStore.get(name)) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await gcsStore.delete(name);
    const upload = await gcsStore.upload(name);
    upload.stream.end(bytes);
    await upload.done;

    const { logger: l2, lines } = capturingLogger();
    const broken = await verifyBackups(loadVerifyConfig(environmentLookup(vars)), { logger: l2 });
    expect(broken.exitCode).toBe(1);
    const bad = broken.checks.filter((c) => !c.ok);
    expect(bad.map((c) => c.file)).toEqual([`gs://${BUCKET}/verify/${name}`]);
    expect(bad[0]?.problem).toMatch(/sha256 mismatch/);
    expect(lines.some((l) => l.includes(`gs://${BUCKET}/verify/${name}: FAILED`))).toBe(true);
  });

  it("BACKUP_VERIFY_REMOTE=newest downloads only each tier's newest copy from the buckets", async () => {
    const pg = postgres();
    const db = "cl_newest";
    await pg.createDatabase(db);
    await seedTranscripts(pg, db, 100);
    const vars = { DATABASE_URL: pg.url(db), BACKUP_DIR: await tempDir("cln"), ...cloudVars("newest/") };
    const { logger } = capturingLogger();
    await backupDatabase(loadBackupDbConfig(environmentLookup(vars), vars), { logger });
    // An older daily copy in S3 whose bytes are not gzip: "all" reads and fails it, "newest" leaves it.
    const s3 = await openStore(
      loadVerifyConfig(environmentLookup(vars)).destinations.find((d) => d.kind === "s3")!,
    );
    const old = "cl_newest_daily_20200101_020000.sql.gz";
    await s3.put(old, "not gzip\n");
    const { createHash } = await import("node:crypto");
    await s3.put(`${old}.sha256`, `${createHash("sha256").update("not gzip\n").digest("hex")}  ${old}\n`);

    const all = await verifyBackups(loadVerifyConfig(environmentLookup(vars)), { logger });
    expect(all.exitCode).toBe(1);
    expect(all.checks.filter((c) => !c.ok).map((c) => c.file)).toEqual([`s3://${BUCKET}/newest/${old}`]);

    const { logger: l2, lines } = capturingLogger();
    const newest = await verifyBackups(
      loadVerifyConfig(environmentLookup({ ...vars, BACKUP_VERIFY_REMOTE: "newest" })),
      { logger: l2 },
    );
    expect(newest.exitCode).toBe(0);
    expect(newest.checks.filter((c) => c.file.startsWith("s3://")).length).toBe(3); // daily, weekly, monthly
    expect(lines).toContain(
      `info: verify s3://${BUCKET}/newest/: 1 older copy not downloaded (BACKUP_VERIFY_REMOTE=newest)`,
    );
  });

  it("restore --backup-file s3://… through the CLI bundle refuses without a terminal and without --force, touching nothing", async () => {
    const pg = postgres();
    const db = "cl_refuse";
    await pg.createDatabase(db);
    await seedTranscripts(pg, db, 100);
    const vars = { DATABASE_URL: pg.url(db), BACKUP_DIR: await tempDir("clr"), ...cloudVars("refuse/") };
    const { logger } = capturingLogger();
    const backup = await backupDatabase(loadBackupDbConfig(environmentLookup(vars), vars), { logger });
    const before = await fingerprint(pg, db);
    const err = await execFileAsync(
      NODE24,
      [
        "dist/cli/index.js",
        "restore",
        "--backup-file",
        `s3://${BUCKET}/refuse/${path.basename(backup.file)}`,
      ],
      { env: { ...process.env, ...vars }, input: "" } as never,
    ).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/--force|confirm/);
    expect(await fingerprint(pg, db)).toEqual(before);
  });
});
