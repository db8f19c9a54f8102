import { mkdirSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadBackupMediaConfig, loadRestoreMediaConfig } from "../../src/config/media-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { backupMedia } from "../../src/media/backup-media.js";
import { restoreMedia } from "../../src/media/restore-media.js";
import { useAzurite, useFakeGcs, useMinio } from "../support/cloud-fixtures.js";
import { capturingLogger, useTempDirs } from "../support/fixtures.js";
import { buildMediaTree, changeFraction, treeDigest, treeListing } from "../support/media-tree.js";

const tempDir = useTempDirs();
const minio = useMinio();
const gcs = useFakeGcs();
const azurite = useAzurite();

beforeAll(() => {
  delete process.env.STORAGE_EMULATOR_HOST;
  process.env.AWS_ACCESS_KEY_ID = minio().accessKey;
  process.env.AWS_SECRET_ACCESS_KEY = minio().secretKey;
});

let buckets = 0;
/** A fresh bucket of one name in all three services. */
async function freshBuckets(): Promise<string> {
  const bucket = `media-${++buckets}-${process.pid}`;
  await minio().createBucket(bucket);
  await gcs().createBucket(bucket);
  await azurite().createContainer(bucket);
  return bucket;
}

function mediaEnv(source: string, backupDir: string, bucket: string, extra: Record<string, string> = {}) {
  return {
    MEDIA_SOURCE_DIR: source,
    MEDIA_BACKUP_DIR: backupDir,
    BACKUP_S3_BUCKET: bucket,
    BACKUP_S3_ENDPOINT: minio().endpoint,
    BACKUP_GCS_BUCKET: bucket,
    BACKUP_GCS_ENDPOINT: gcs().endpoint,
    BACKUP_AZURE_CONTAINER: bucket,
    AZURE_STORAGE_CONNECTION_STRING: azurite().connectionString,
    ...extra,
  };
}

/** A clock that starts at `iso` and moves one minute per call. */
function clockFrom(iso: string): () => Date {
  let t = Date.parse(iso);
  return () => {
    t += 60_000;
    return new Date(t);
  };
}

describe("backup-media off-site", () => {
  /** Set by the first test: a source tree, backed up twice to all three buckets. */
  let shared: { source: string; env: Record<string, string>; snapshot: string } | undefined;

  it("sends a tree to S3, GCS and Azure in one run, and after 1 % changed only that content", async () => {
    const root = await tempDir("media-offsite");
    const source = path.join(root, "source");
    mkdirSync(source);
    await buildMediaTree(source, { files: 600, totalBytes: 40 << 20, largeFiles: 3, seed: 7 });
    const bucket = await freshBuckets();
    const env = mediaEnv(source, path.join(root, "backups"), bucket);
    const now = clockFrom("2026-12-01T03:00:00Z");
    const { logger, lines } = capturingLogger();
    const first = await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), { logger, now });
    expect(first.exitCode, lines.join("\n")).toBe(0);
    expect(first.offsite.map((o) => [o.kind, o.ok])).toEqual([
      ["s3", true],
      ["gcs", true],
      ["azure", true],
    ]);
    for (const o of first.offsite) {
      expect(o.bytes).toBeGreaterThanOrEqual(first.totals.bytes * 0.99);
      // 600 files, 40 MiB: packs of 8 MiB and three large files, not one object per file.
      expect(o.objects).toBeLessThan(20);
    }
    const changes = changeFraction(source, 0.01, 3);
    const second = await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), { logger, now });
    expect(second.exitCode, lines.join("\n")).toBe(0);
    for (const o of second.offsite) {
      expect(o.knownFrom).toMatch(/local cache/);
      expect(o.bytes).toBeLessThanOrEqual(second.totals.bytesCopied + 1);
      expect(o.objects).toBeGreaterThan(0);
      expect(o.objects).toBeLessThanOrEqual(changes.changed + changes.added);
    }
    shared = { source, env, snapshot: second.snapshot };
  });

  for (const from of ["s3", "gcs", "azure"] as const) {
    it(`restores the whole tree from ${from}, equal to the source with metadata, and one file by its byte range`, async () => {
      if (!shared) throw new Error("the backup test did not run");
      const target = path.join(await tempDir(`media-restore-${from}`), "target");
      const env = { ...shared.env, MEDIA_RESTORE_FROM: from, MEDIA_RESTORE_TARGET: target };
      const { logger, lines } = capturingLogger();
      const whole = await restoreMedia(loadRestoreMediaConfig(environmentLookup(env), env), { logger });
      expect(whole.exitCode, lines.join("\n")).toBe(0);
      expect(whole.snapshot).toBe(shared.snapshot);
      expect(await treeDigest(target)).toBe(await treeDigest(shared.source));

      // One small file: one ranged read of its pack, not the snapshot.
      const small = treeListing(shared.source).find((l) => /\tfile\t.*\tsize=\d{1,5}\t/.test(l)) ?? "";
      const file = small.split("\t")[0] as string;
      expect(file).toContain("/");
      const one = path.join(await tempDir(`media-restore-one-${from}`), "one");
      const envOne = { ...env, MEDIA_RESTORE_TARGET: one, MEDIA_RESTORE_PATH: file };
      const single = await restoreMedia(loadRestoreMediaConfig(environmentLookup(envOne), envOne), {
        logger,
      });
      expect(single.exitCode, lines.join("\n")).toBe(0);
      expect(single.files).toBe(1);
      expect(single.remote?.requests).toBe(1);
      expect(single.remote?.bytes).toBe(single.bytes);
      const listed = treeListing(one).filter((l) => l.includes("\tfile\t"));
      expect(listed).toEqual(treeListing(shared.source).filter((l) => l.startsWith(`${file}\t`)));
    });
  }
});
