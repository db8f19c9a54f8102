import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import {
  loadBackupMediaConfig,
  loadRestoreMediaConfig,
  loadVerifyMediaConfig,
} from "../../src/config/media-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { backupMedia } from "../../src/media/backup-media.js";
import { restoreMedia } from "../../src/media/restore-media.js";
import { verifyMedia } from "../../src/media/verify-media.js";
import { useAzurite, useFakeGcs, useMinio } from "../support/cloud-fixtures.js";
import { capturingLogger, useTempDirs } from "../support/fixtures.js";
import { makeGpgKey } from "../support/gpg.js";
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
    const dataBefore = await s3Listing(bucket);
    const changes = changeFraction(source, 0.01, 3);
    const second = await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), { logger, now });
    expect(second.exitCode, lines.join("\n")).toBe(0);
    for (const o of second.offsite) {
      expect(o.knownFrom).toMatch(/local cache/);
      expect(o.bytes).toBeLessThanOrEqual(second.totals.bytesCopied + 1);
      expect(o.objects).toBeGreaterThan(0);
      expect(o.objects).toBeLessThanOrEqual(changes.changed + changes.added);
    }
    // Counted on the server: the data objects new in the bucket hold exactly what changed.
    const dataAfter = await s3Listing(bucket);
    const added = [...dataAfter].filter(([k]) => !dataBefore.has(k));
    expect([...dataBefore].every(([k, size]) => dataAfter.get(k) === size)).toBe(true);
    expect(added.length).toBe(second.offsite[0]?.objects);
    expect(added.reduce((a, [, size]) => a + size, 0)).toBe(second.offsite[0]?.bytes);
    expect(added.reduce((a, [, size]) => a + size, 0)).toBeLessThanOrEqual(second.totals.bytesCopied);
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

/** Every data object of an S3 bucket's media area, with its size (a listing: no object is read). */
async function s3Listing(bucket: string): Promise<Map<string, number>> {
  const client = minio().client();
  try {
    const out = new Map<string, number>();
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: "backups/media/data/", ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) out.set(o.Key as string, o.Size ?? 0);
      token = page.NextContinuationToken;
    } while (token);
    return out;
  } finally {
    client.destroy();
  }
}

/** Every object key under `prefix` of an S3 bucket, with its body. */
async function s3Objects(bucket: string, prefix = "backups/media/"): Promise<Map<string, Buffer>> {
  const client = minio().client();
  try {
    const out = new Map<string, Buffer>();
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
        out.set(
          o.Key as string,
          Buffer.from(
            await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
          ),
        );
      }
      token = page.NextContinuationToken;
    } while (token);
    return out;
  } finally {
    client.destroy();
  }
}

async function s3Put(bucket: string, key: string, body: Buffer | string): Promise<void> {
  const client = minio().client();
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  } finally {
    client.destroy();
  }
}

const s3Only = (source: string, backupDir: string, bucket: string, extra: Record<string, string> = {}) => ({
  MEDIA_SOURCE_DIR: source,
  MEDIA_BACKUP_DIR: backupDir,
  BACKUP_S3_BUCKET: bucket,
  BACKUP_S3_ENDPOINT: minio().endpoint,
  ...extra,
});

async function smallTree(label: string, bytes = 6 << 20, largeFiles = 1) {
  const root = await tempDir(label);
  const source = path.join(root, "source");
  mkdirSync(source);
  await buildMediaTree(source, { files: 120, totalBytes: bytes, largeFiles, seed: 11 });
  return { root, source };
}

describe("backup-media off-site, hostile and broken", () => {
  it("verify checks every bucket's snapshots, and names a missing object and a damaged pack", async () => {
    const { root, source } = await smallTree("media-verify-remote");
    const bucket = await freshBuckets();
    const env = s3Only(source, path.join(root, "backups"), bucket);
    const { logger, lines } = capturingLogger();
    const now = clockFrom("2026-12-01T03:00:00Z");
    expect(
      (await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), { logger, now })).exitCode,
    ).toBe(0);
    const good = await verifyMedia(loadVerifyMediaConfig(environmentLookup(env), env), { logger, now });
    expect(good.exitCode, lines.join("\n")).toBe(0);
    expect(good.remotes[0]?.snapshots.map((c) => c.ok)).toEqual([true]);
    expect(good.remotes[0]?.snapshots[0]?.contentsChecked).toBeGreaterThan(100);

    const objects = await s3Objects(bucket);
    const pack = [...objects.keys()].find((k) => k.includes("/data/pack-")) as string;
    const body = objects.get(pack) as Buffer;
    const middle = body.length >> 1;
    body.writeUInt8((body.readUInt8(middle) ^ 0xff) & 0xff, middle); // same size, one byte changed
    await s3Put(bucket, pack, body);
    const damaged = await verifyMedia(loadVerifyMediaConfig(environmentLookup(env), env), { logger, now });
    expect(damaged.exitCode).toBe(1);
    expect(damaged.remotes[0]?.snapshots[0]?.problems.join("\n")).toMatch(/content in the bucket is damaged/);

    const blob = [...objects.keys()].find((k) => /\/data\/[0-9a-f]{64}$/.test(k)) as string;
    const client = minio().client();
    const { DeleteObjectCommand } = await import("@aws-sdk/client-s3");
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: blob }));
    client.destroy();
    const missing = await verifyMedia(loadVerifyMediaConfig(environmentLookup(env), env), { logger, now });
    expect(missing.exitCode).toBe(1);
    expect(missing.remotes[0]?.snapshots[0]?.problems.join("\n")).toContain(
      `${path.basename(blob)} it uses is missing`,
    );
  });

  it("an object planted under a content's name (same size, other bytes) is refused, not reused", async () => {
    const { root, source } = await smallTree("media-planted", 6 << 20, 1);
    const bucket = await freshBuckets();
    const large = treeListing(source)
      .map((l) => l.split("\t"))
      .filter((f) => f[1] === "file")
      .sort((a, b) => Number(b[5]?.slice(5)) - Number(a[5]?.slice(5)))[0] as string[];
    const size = Number(large[5]?.slice(5));
    const sha = (large.find((f) => f.startsWith("sha256=")) as string).slice(7);
    await s3Put(bucket, `backups/media/data/${sha}`, Buffer.alloc(size, 7));
    const env = s3Only(source, path.join(root, "backups"), bucket);
    const { logger } = capturingLogger();
    const result = await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), { logger });
    expect(result.exitCode).toBe(1);
    expect(result.offsite[0]?.error).toMatch(
      new RegExp(`data/${sha} exists but is not what this run would store`),
    );
    expect([...(await s3Objects(bucket)).keys()].filter((k) => k.endsWith(".sha256"))).toEqual([]);
  });

  it("a range download that stalls mid-body fails that file within the network timeout; the restore ends and leaves no staging dir", async () => {
    const { root, source } = await smallTree("media-stall", 6 << 20, 1);
    const bucket = await freshBuckets();
    const env = s3Only(source, path.join(root, "backups"), bucket);
    const { logger } = capturingLogger();
    expect((await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), { logger })).exitCode).toBe(
      0,
    );
    const large = treeListing(source)
      .map((l) => l.split("\t"))
      .filter((f) => f[1] === "file")
      .sort((a, b) => Number(b[5]?.slice(5)) - Number(a[5]?.slice(5)))[0] as string[];
    // A proxy to MinIO that, on a connection whose request asks for a byte range, passes 64 KiB of the
    // answer and then nothing more, the connection left open: a body black-holed halfway.
    const target = new URL(minio().endpoint);
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      sockets.add(client).add(upstream);
      let ranged = false;
      let passed = 0;
      client.on("data", (d) => {
        if (/\r\nrange: bytes=/i.test(d.toString("latin1"))) ranged = true;
        upstream.write(d);
      });
      upstream.on("data", (d) => {
        if (!ranged) return void client.write(d);
        const room = Math.max(0, 65536 - passed);
        if (room > 0) client.write(d.subarray(0, room));
        passed += d.length;
      });
      for (const s of [client, upstream]) s.on("error", () => {});
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", () => resolve()));
    const port = (proxy.address() as net.AddressInfo).port;
    const stagesBefore = readdirSync(tmpdir()).filter((n) => n.startsWith("lifeline-media-stage-"));
    try {
      const restoreEnv = {
        ...env,
        BACKUP_S3_ENDPOINT: `http://127.0.0.1:${port}`,
        BACKUP_NETWORK_TIMEOUT_SECONDS: "3",
        MEDIA_RESTORE_FROM: "s3",
        MEDIA_RESTORE_TARGET: path.join(root, "restored"),
        MEDIA_RESTORE_PATH: large[0] as string,
      };
      const started = Date.now();
      const result = await restoreMedia(loadRestoreMediaConfig(environmentLookup(restoreEnv), restoreEnv), {
        logger,
      });
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(result.exitCode).toBe(1);
      expect(result.failed.join("\n"), result.failed.join("\n")).toMatch(
        /sent nothing for 3 s|timed out after 3000 ms/,
      );
      expect(
        readdirSync(path.join(root, "restored"), { recursive: true }).filter((n) =>
          String(n).includes(".lifeline-restore-"),
        ),
      ).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith("lifeline-media-stage-"))).toEqual(stagesBefore);
  }, 60_000);

  it("a tampered remote manifest with '..' paths (and sums to match) cannot make restore write outside the target", async () => {
    const { root, source } = await smallTree("media-tamper-remote", 1 << 20, 0);
    const bucket = await freshBuckets();
    const env = s3Only(source, path.join(root, "backups"), bucket);
    const { logger } = capturingLogger();
    const result = await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), { logger });
    expect(result.exitCode).toBe(0);
    const objects = await s3Objects(bucket);
    const manifestKey = [...objects.keys()].find((k) => k.endsWith(".manifest.ndjson")) as string;
    const lines = (objects.get(manifestKey) as Buffer).toString("utf8").split("\n");
    const at = lines.findIndex((l) => l.includes('"type":"file"'));
    const entry = JSON.parse(lines[at] as string) as { path: string };
    lines[at] = JSON.stringify({
      ...JSON.parse(lines[at] as string),
      path: `../../escape-${path.basename(entry.path)}`,
    });
    const forged = Buffer.from(lines.join("\n"));
    const sumsKey = manifestKey.replace(/\.manifest\.ndjson$/, ".sha256");
    const sums = (objects.get(sumsKey) as Buffer).toString("utf8");
    const { createHash } = await import("node:crypto");
    const forgedSum = createHash("sha256").update(forged).digest("hex");
    await s3Put(bucket, manifestKey, forged);
    await s3Put(bucket, sumsKey, sums.replace(/^[0-9a-f]{64}(?= {2}\S+\.manifest\.ndjson$)/m, forgedSum));
    const stagesBefore = readdirSync(tmpdir()).filter((n) => n.startsWith("lifeline-media-stage-"));
    const outside = path.join(root, "restore-here");
    const target = path.join(outside, "a", "target");
    const restoreEnv = { ...env, MEDIA_RESTORE_FROM: "s3", MEDIA_RESTORE_TARGET: target };
    await expect(
      restoreMedia(loadRestoreMediaConfig(environmentLookup(restoreEnv), restoreEnv), { logger }),
    ).rejects.toThrow(/\.\./);
    expect(existsSync(outside)).toBe(false); // refused before the target was even created
    expect(readdirSync(root).filter((n) => n.startsWith("escape"))).toEqual([]);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith("lifeline-media-stage-"))).toEqual(stagesBefore);
  });

  it("MinIO killed mid-upload: the run fails naming it, the local snapshot stands, the next run completes the bucket's", async () => {
    const { root, source } = await smallTree("media-kill", 48 << 20, 4);
    const bucket = await freshBuckets();
    const env = s3Only(source, path.join(root, "backups"), bucket, { BACKUP_NETWORK_TIMEOUT_SECONDS: "10" });
    const { logger, lines } = capturingLogger();
    const now = clockFrom("2026-12-01T03:00:00Z");
    let sent = 0;
    let killed: Promise<void> | undefined;
    const first = await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), {
      logger,
      now,
      onUploadBytes: (n) => {
        sent += n;
        if (sent > 20 << 20 && !killed) killed = minio().kill();
      },
    });
    await killed;
    expect(killed).toBeDefined();
    expect(first.exitCode).toBe(1);
    expect(first.offsite[0]?.ok).toBe(false);
    expect(first.offsite[0]?.error).toContain(`s3://${bucket}/`);
    expect(existsSync(path.join(first.snapshotDir, "manifest.ndjson"))).toBe(true);
    await minio().restart();
    const afterKill = [...(await s3Objects(bucket)).keys()];
    expect(afterKill.filter((k) => k.endsWith(".sha256"))).toEqual([]); // no snapshot exists there
    const second = await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), { logger, now });
    expect(second.exitCode, lines.join("\n")).toBe(0);
    expect(second.offsite[0]?.ok).toBe(true);
    // What the killed run had stored whole was kept, not sent again.
    expect(second.offsite[0]?.reusedObjects).toBeGreaterThan(0);
    const verified = await verifyMedia(loadVerifyMediaConfig(environmentLookup(env), env), { logger, now });
    expect(verified.remotes[0]?.snapshots.map((c) => [c.name, c.ok])).toEqual([[second.snapshot, true]]);
    const target = path.join(root, "restored");
    const restoreEnv = { ...env, MEDIA_RESTORE_FROM: "s3", MEDIA_RESTORE_TARGET: target };
    expect(
      (await restoreMedia(loadRestoreMediaConfig(environmentLookup(restoreEnv), restoreEnv), { logger }))
        .exitCode,
    ).toBe(0);
    expect(await treeDigest(target)).toBe(await treeDigest(source));
  });

  it("encrypted: nothing but the objects lists and sums leaves unencrypted, stock gpg -d reads any object, restore needs the key", async () => {
    const key = await makeGpgKey("media@example.org");
    const { root, source } = await smallTree("media-gpg", 6 << 20, 1);
    const bucket = await freshBuckets();
    const env = s3Only(source, path.join(root, "backups"), bucket, {
      BACKUP_ENCRYPT: "true",
      BACKUP_GPG_PUBLIC_KEY: key.publicKey,
    });
    const { logger, lines } = capturingLogger();
    const result = await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), { logger });
    expect(result.exitCode, lines.join("\n")).toBe(0);
    const objects = await s3Objects(bucket);
    const plain = [...objects.keys()].filter((k) => !k.endsWith(".gpg"));
    expect(
      plain.every((k) => /\.(objects|sha256)$|gc-pending-/.test(k)),
      plain.join(", "),
    ).toBe(true);
    const pack = [...objects.keys()].find((k) => k.includes("/data/pack-")) as string;
    const decrypted = execFileSync("gpg", ["--homedir", key.home, "--batch", "--quiet", "--decrypt"], {
      input: objects.get(pack),
      maxBuffer: 64 << 20,
    });
    expect(decrypted.length).toBeGreaterThan(0);
    const target = path.join(root, "restored");
    const restoreEnv = { ...env, MEDIA_RESTORE_FROM: "s3", MEDIA_RESTORE_TARGET: target };
    await expect(
      restoreMedia(loadRestoreMediaConfig(environmentLookup(restoreEnv), restoreEnv), { logger }),
    ).rejects.toThrow(/could not be decrypted.*BACKUP_GPG_PRIVATE_KEY/);
    const secret = execFileSync("gpg", [
      "--homedir",
      key.home,
      "--batch",
      "--armor",
      "--export-secret-keys",
      key.email,
    ]).toString();
    const withKey = { ...restoreEnv, BACKUP_GPG_PRIVATE_KEY: secret };
    expect(
      (await restoreMedia(loadRestoreMediaConfig(environmentLookup(withKey), withKey), { logger })).exitCode,
    ).toBe(0);
    expect(await treeDigest(target)).toBe(await treeDigest(source));
  });
});

describe("backup-media off-site retention", () => {
  it("MEDIA_RETENTION_DAYS applies per bucket, a dry run only plans, and data no kept snapshot uses goes only after the grace period", async () => {
    const { root, source } = await smallTree("media-retention-remote", 4 << 20, 1);
    const bucket = await freshBuckets();
    const base = s3Only(source, path.join(root, "backups"), bucket, { MEDIA_RETENTION_DAYS: "30" });
    const { logger, lines } = capturingLogger();
    let t = Date.parse("2026-12-01T03:00:00Z");
    const at = (days: number) => () => new Date(t + days * 86_400_000);
    const run = async (days: number, extra: Record<string, string> = {}) => {
      const env = { ...base, ...extra };
      const r = await backupMedia(loadBackupMediaConfig(environmentLookup(env), env), {
        logger,
        now: at(days),
      });
      expect(r.exitCode, lines.join("\n")).toBe(0);
      return r;
    };
    const first = await run(0);
    // Every content changes: all of the first snapshot's packs and files become garbage once it goes.
    rmSync(source, { recursive: true });
    mkdirSync(source);
    await buildMediaTree(source, { files: 120, totalBytes: 4 << 20, largeFiles: 1, seed: 12 });
    await run(15);
    const dataOf = async () => [...(await s3Objects(bucket)).keys()].filter((k) => k.includes("/data/"));
    const before = await dataOf();

    const dry = await run(40, { BACKUP_RETENTION_DRY_RUN: "true" });
    const dryRetention = dry.offsite[0]?.retention as unknown as {
      remove: { name: string }[];
      dryRun: boolean;
    };
    expect(dryRetention.dryRun).toBe(true);
    expect(
      dryRetention.remove.map((r) => r.name),
      JSON.stringify(dryRetention),
    ).toEqual([first.snapshot]);
    expect((await s3Objects(bucket)).has(`backups/media/snapshots/${first.snapshot}.sha256`)).toBe(true);

    t += 60_000; // the next run's snapshot gets its own name
    const applied = await run(40);
    const retention = applied.offsite[0]?.retention as unknown as {
      removed: string[];
      gc: { removed: string[]; pendingObjects: number };
    };
    expect(retention.removed).toEqual([first.snapshot]);
    expect(retention.gc.removed).toEqual([]); // found unreferenced now: they wait out the grace period
    expect(retention.gc.pendingObjects).toBeGreaterThan(0);
    expect(await dataOf()).toEqual(before.concat((await dataOf()).filter((k) => !before.includes(k))));

    t += 60_000;
    const later = await run(41); // a day on: past MEDIA_GC_GRACE_HOURS (12)
    const gc = (later.offsite[0]!.retention as unknown as { gc: { removed: string[] } }).gc;
    expect(gc.removed.length).toBe(retention.gc.pendingObjects);
    // Whatever is left serves every kept snapshot: verify reads all of it back.
    const verified = await verifyMedia(loadVerifyMediaConfig(environmentLookup(base), base), {
      logger,
      now: at(41),
    });
    expect(
      verified.remotes[0]?.snapshots.every((c) => c.ok),
      lines.join("\n"),
    ).toBe(true);
    expect(verified.remotes[0]?.snapshots.map((c) => c.name)).not.toContain(first.snapshot);
  });
});
