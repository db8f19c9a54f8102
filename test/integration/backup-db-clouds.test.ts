import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { GetObjectTaggingCommand, ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { backupDbSummary } from "../../src/backup/backup-db-summary.js";
import { formatTimestamp } from "../../src/catalog/backup-name.js";
import { CHECKSUM_SUFFIX, checksumLine, MANIFEST_SUFFIX } from "../../src/catalog/manifest.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { openStore } from "../../src/storage/open-store.js";
import type { BackupStore } from "../../src/storage/store.js";
import { useAzurite, useFakeGcs, useMinio } from "../support/cloud-fixtures.js";
import { capturingLogger, usePostgres, useTempDirs } from "../support/fixtures.js";
import { runAction, unescapeCommand, withoutMaskCommands } from "../support/run-action.js";
import { freePort, waitUntil } from "../support/services/service.js";

const postgres = usePostgres();
const tempDir = useTempDirs();
const minio = useMinio();
const gcs = useFakeGcs();
const azurite = useAzurite();

const MIB = 1024 * 1024;

beforeAll(async () => {
  delete process.env.STORAGE_EMULATOR_HOST;
  // The AWS SDK's default credential chain reads these, as it would on a runner.
  process.env.AWS_ACCESS_KEY_ID = minio().accessKey;
  process.env.AWS_SECRET_ACCESS_KEY = minio().secretKey;
  await postgres().createDatabase("transcripts");
  // ≈ 45 MiB of plain SQL: big enough for several 8 MiB parts / chunks / blocks everywhere.
  await postgres().query(
    "transcripts",
    "create table segments as select g as id, repeat(md5(g::text), 9) as body from generate_series(1, 150000) g",
  );
});

function cloudEnv(bucket: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: postgres().url("transcripts"),
    BACKUP_COMPRESSION: "none",
    BACKUP_S3_BUCKET: bucket,
    BACKUP_S3_ENDPOINT: minio().endpoint,
    BACKUP_S3_STORAGE_CLASS: "REDUCED_REDUNDANCY", // the class MinIO implements besides STANDARD
    BACKUP_GCS_BUCKET: bucket,
    BACKUP_GCS_ENDPOINT: gcs().endpoint,
    BACKUP_GCS_STORAGE_CLASS: "NEARLINE",
    BACKUP_AZURE_CONTAINER: bucket,
    BACKUP_AZURE_TIER: "Cool",
    AZURE_STORAGE_CONNECTION_STRING: azurite().connectionString,
    ...extra,
  };
}

const load = (vars: Record<string, string>) => loadBackupDbConfig(environmentLookup(vars), vars);

async function sha256Of(stream: NodeJS.ReadableStream): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** A backup of `days` ago as an earlier run would have left it in a bucket (tiny data, real sidecar). */
async function pastRemoteBackup(
  store: BackupStore,
  now: Date,
  days: number,
  sidecar = true,
): Promise<string> {
  const name = `transcripts_daily_${formatTimestamp(new Date(now.getTime() - days * 86_400_000))}.sql`;
  const body = `-- old backup ${name}\n`;
  await store.put(name, body);
  if (sidecar) {
    await store.put(
      `${name}${CHECKSUM_SUFFIX}`,
      checksumLine(createHash("sha256").update(body).digest("hex"), name),
    );
  }
  return name;
}

/** Starts an S3-only backup of ≈45 MiB at a fixed time and waits until its multipart upload is under way. */
async function backupWithUploadUnderWay(
  bucket: string,
  at: Date,
  options: {
    logger: ReturnType<typeof capturingLogger>["logger"];
    signal?: AbortSignal;
    extra?: Record<string, string>;
  },
) {
  const key = `backups/postgres/transcripts_daily_${formatTimestamp(at)}.sql`;
  const s3 = minio().client();
  const running = backupDatabase(
    load({
      DATABASE_URL: postgres().url("transcripts"),
      BACKUP_DIR: await tempDir("underway"),
      BACKUP_COMPRESSION: "none",
      BACKUP_S3_BUCKET: bucket,
      BACKUP_S3_ENDPOINT: minio().endpoint,
      BACKUP_UPLOAD_PART_SIZE_MB: "5",
      ...options.extra,
    }),
    { logger: options.logger, now: () => at, ...(options.signal ? { signal: options.signal } : {}) },
  );
  running.catch(() => {}); // awaited by the caller
  // MinIO lists an upload only by its exact key.
  await waitUntil(
    "a multipart upload in progress",
    async () =>
      ((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }))).Uploads ?? [])
        .length > 0,
    20_000,
  );
  return { running, key, s3 };
}

describe("backup-db to S3, GCS and Azure in one pass", () => {
  it("streams one dump to the local file and all three clouds, with sidecars, metadata, classes and remote retention", async () => {
    const bucket = "nightly";
    await minio().createBucket(bucket);
    await gcs().createBucket(bucket);
    await azurite().createContainer(bucket);
    const vars = cloudEnv(bucket, { BACKUP_DIR: await tempDir("clouds") });
    const config = load(vars);
    const stores = await Promise.all(config.destinations.map((d) => openStore(d)));
    const now = new Date();
    // Earlier runs: two expired daily backups, one recent, and one broken (no sidecar) in each bucket.
    const past = new Map<BackupStore, { expired: string[]; recent: string; broken: string }>();
    for (const store of stores) {
      past.set(store, {
        expired: [await pastRemoteBackup(store, now, 20), await pastRemoteBackup(store, now, 9)],
        recent: await pastRemoteBackup(store, now, 2),
        broken: await pastRemoteBackup(store, now, 30, false),
      });
    }

    const { logger, lines } = capturingLogger();
    const result = await backupDatabase(config, { logger });
    expect(result.offsite.map((o) => [o.kind, o.ok, o.error])).toEqual([
      ["s3", true, undefined],
      ["gcs", true, undefined],
      ["azure", true, undefined],
    ]);
    expect(result.sizeBytes).toBeGreaterThan(40 * MIB);
    const daily = path.basename(result.file);
    const localSha = (await readFile(result.sidecarFile, "utf8")).split(" ")[0];
    expect(localSha).toBe(result.sha256);

    for (const [i, store] of stores.entries()) {
      const report = result.offsite[i];
      // The first backup into an empty BACKUP_DIR also opens the weekly and monthly tiers, remotely too.
      expect(report?.uris.map((u) => path.basename(u)).sort()).toEqual(
        result.tiers.map((t) => path.basename(t.file)).sort(),
      );
      const listed = await store.list();
      const names = listed.map((o) => o.name);
      expect(names).toEqual(
        expect.arrayContaining([daily, `${daily}${CHECKSUM_SUFFIX}`, `${daily}${MANIFEST_SUFFIX}`]),
      );
      // Bytes downloaded equal the local file's; the sidecar names the object; the manifest says the same.
      const downloaded = await sha256Of(await store.get(daily));
      expect(downloaded).toEqual({ sha256: result.sha256, bytes: result.sizeBytes });
      expect(await store.getText(`${daily}${CHECKSUM_SUFFIX}`)).toBe(checksumLine(result.sha256, daily));
      const manifest = JSON.parse((await store.getText(`${daily}${MANIFEST_SUFFIX}`)) ?? "{}");
      expect(manifest).toMatchObject({ file: daily, tier: "daily", sha256: result.sha256 });
      // Storage class / tier as configured, and the checksum on the object itself.
      const object = listed.find((o) => o.name === daily);
      expect(object?.storageClass).toBe(["REDUCED_REDUNDANCY", "NEARLINE", "Cool"][i]);
      if (store.kind === "s3") {
        const tags = await minio()
          .client()
          .send(new GetObjectTaggingCommand({ Bucket: bucket, Key: `backups/postgres/${daily}` }));
        expect(tags.TagSet).toEqual([{ Key: "sha256", Value: result.sha256 }]);
      } else {
        expect((await store.stat(daily))?.sha256).toBe(result.sha256);
      }
      // Remote retention: expired dailies and their sidecars gone, the recent one kept, the broken one reported and kept.
      const p = past.get(store);
      for (const gone of p?.expired ?? []) {
        expect(names).not.toContain(gone);
        expect(names).not.toContain(`${gone}${CHECKSUM_SUFFIX}`);
      }
      expect(names).toContain(p?.recent);
      expect(names).toContain(p?.broken);
      expect(
        lines.some(
          (l) => l.startsWith("warn:") && l.includes(store.location) && l.includes(p?.broken ?? "?"),
        ),
      ).toBe(true);
    }
    const summary = backupDbSummary({ result });
    expect(summary).toContain("### Off-site copies");
    expect(summary).toContain("s3://nightly/backups/postgres/");
  });

  it("a misconfigured destination is found before the dump, named, and skipped; the local backup still lands", async () => {
    await minio().createBucket("present");
    const { logger, lines } = capturingLogger();
    const result = await backupDatabase(
      load({
        DATABASE_URL: postgres().url("transcripts"),
        BACKUP_DIR: await tempDir("missing-bucket"),
        BACKUP_COMPRESSION: "zstd",
        BACKUP_S3_BUCKET: "no-such-bucket",
        BACKUP_S3_ENDPOINT: minio().endpoint,
        BACKUP_AZURE_CONTAINER: "present",
        AZURE_STORAGE_CONNECTION_STRING: azurite().connectionString.replace(
          /AccountKey=[^;]+/,
          "AccountKey=d3Jvbmc=",
        ),
        BACKUP_GCS_BUCKET: "present",
        BACKUP_GCS_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      }),
      { logger },
    );
    const [s3, gcsReport, azure] = result.offsite;
    expect(s3).toMatchObject({ ok: false, stage: "preflight" });
    expect(s3?.error).toMatch(
      /s3:\/\/no-such-bucket\/backups\/postgres\/: bucket 'no-such-bucket' does not exist/,
    );
    expect(gcsReport).toMatchObject({ ok: false, stage: "preflight" });
    expect(gcsReport?.error).toMatch(
      /gs:\/\/present\/backups\/postgres\/: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
    expect(azure).toMatchObject({ ok: false, stage: "preflight" });
    expect(azure?.error).toMatch(/azure:\/\/present\/backups\/postgres\/: access denied/);
    // Reported before pg_dump started.
    const firstDump = lines.findIndex((l) => l.includes("Dumped"));
    const firstSkip = lines.findIndex((l) => l.includes("this destination is skipped"));
    expect(firstSkip).toBeGreaterThanOrEqual(0);
    expect(firstSkip).toBeLessThan(firstDump);
    expect((await readFile(result.sidecarFile, "utf8")).startsWith(result.sha256)).toBe(true);
    expect(lines.join("\n")).not.toContain("d3Jvbmc=");
  });

  it("MinIO killed mid-upload: the error names the object, no multipart upload is left, the local backup is intact", async () => {
    const bucket = "crash";
    await minio().createBucket(bucket);
    const at = new Date(Date.UTC(2026, 10, 17, 2, 0, 0)); // a Tuesday: daily only
    const { logger, lines } = capturingLogger();
    const { running, key, s3 } = await backupWithUploadUnderWay(bucket, at, {
      logger,
      extra: { BACKUP_UPLOAD_CONCURRENCY: "1" },
    });
    await minio().kill();
    await waitUntil(
      "the upload to fail",
      async () => lines.some((l) => l.includes(`Upload to s3://${bucket}/${key} failed`)),
      30_000,
    );
    await minio().restart();
    const result = await running;

    const [report] = result.offsite;
    expect(report).toMatchObject({ ok: false, stage: "upload" });
    expect(report?.error).toContain(`s3://${bucket}/${key}`);
    const left = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    expect(left.Uploads ?? []).toEqual([]);
    const store = await openStore(
      load({
        BACKUP_S3_BUCKET: bucket,
        BACKUP_S3_ENDPOINT: minio().endpoint,
        DATABASE_URL: "postgresql://x@h/d",
      }).destinations[0]!,
    );
    expect(await store.stat(path.basename(key))).toBeUndefined();
    // The local backup is whole: its bytes hash to its sidecar.
    const local = await sha256Of((await import("node:fs")).createReadStream(result.file));
    expect(local.sha256).toBe(result.sha256);
    expect(local.bytes).toBeGreaterThan(40 * MIB);
  }, 90_000);
});

describe("preflight by listing", () => {
  it("names a missing GCS bucket and a missing Azure container with the command that creates them", async () => {
    const vars = {
      DATABASE_URL: "postgresql://u@h/d",
      BACKUP_GCS_BUCKET: "no-such-gcs-bucket",
      BACKUP_GCS_ENDPOINT: gcs().endpoint,
      BACKUP_AZURE_CONTAINER: "no-such-container",
      AZURE_STORAGE_CONNECTION_STRING: azurite().connectionString,
    };
    const messages: string[] = [];
    for (const d of load(vars).destinations) {
      await (await openStore(d)).preflight().catch((e: Error) => messages.push(e.message));
    }
    expect(messages).toEqual([
      expect.stringContaining(
        "bucket 'no-such-gcs-bucket' does not exist: create it (gcloud storage buckets create gs://no-such-gcs-bucket)",
      ),
      expect.stringContaining(
        "container 'no-such-container' does not exist: create it (az storage container create --name no-such-container)",
      ),
    ]);
  });
});

describe("a backup that fails after pg_dump's output ended", () => {
  it("leaves no object in the bucket: uploads complete only once the dump is proven and committed locally", async () => {
    const bucket = "cancelled";
    await minio().createBucket(bucket);
    const at = new Date(Date.UTC(2026, 10, 18, 2, 0, 0));
    const controller = new AbortController();
    const { logger } = capturingLogger();
    const { running, key, s3 } = await backupWithUploadUnderWay(bucket, at, {
      logger,
      signal: controller.signal,
    });
    // SIGTERM to pg_dump: its output just ends, as it would when pg_dump dies of an error.
    controller.abort(new Error("SIGTERM"));
    await expect(running).rejects.toThrow(/cancelled/);
    const store = await openStore(
      load({
        DATABASE_URL: "postgresql://x@h/d",
        BACKUP_S3_BUCKET: bucket,
        BACKUP_S3_ENDPOINT: minio().endpoint,
      }).destinations[0]!,
    );
    expect((await store.list()).map((o) => o.name)).toEqual([]);
    const left = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    expect(left.Uploads ?? []).toEqual([]);
  });
});

describe("remote retention dry run", () => {
  it("plans deletions in the bucket but deletes nothing, and says so in the summary", async () => {
    await minio().createBucket("dry-run");
    const vars = {
      DATABASE_URL: postgres().url("transcripts"),
      BACKUP_DIR: await tempDir("dry"),
      BACKUP_COMPRESSION: "zstd",
      BACKUP_S3_BUCKET: "dry-run",
      BACKUP_S3_ENDPOINT: minio().endpoint,
      BACKUP_RETENTION_DRY_RUN: "true",
    };
    const config = load(vars);
    const store = await openStore(config.destinations[0]!);
    const expired = await pastRemoteBackup(store, new Date(), 15);
    const { logger, lines } = capturingLogger();
    const result = await backupDatabase(config, { logger });
    const retention = result.offsite[0]?.retention;
    if (!retention || "error" in retention) throw new Error("no remote retention outcome");
    expect(retention.dryRun).toBe(true);
    expect(retention.removed).toEqual([]);
    expect(
      retention.plans.flatMap((p) => p.decisions).find((d) => d.backup.fileName === expired)?.action,
    ).toBe("delete");
    expect((await store.list()).map((o) => o.name)).toContain(expired);
    expect(lines).toContain(
      `info: retention s3://dry-run/backups/postgres/ daily: would delete ${expired}: 15 day(s) old, beyond 7`,
    );
    expect(backupDbSummary({ result })).toContain("dry run, would delete 1");
  });
});

describe("lifecycle --apply", () => {
  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const { main } = await import("../../src/cli/main.js");
    const out = new PassThrough();
    const err = new PassThrough();
    const code = await main(["lifecycle", ...args], { out, err });
    out.end();
    err.end();
    return { code, out: out.read()?.toString() ?? "", err: err.read()?.toString() ?? "" };
  }

  it("reads the rules back after setting them (fake-gcs-server drops them: caught) and prints the Azure policy with the az command", async () => {
    await gcs().createBucket("lifecycle");
    const r = await run([
      "--apply",
      "--prefix",
      "transcripts",
      "--azure-container",
      "backups",
      "--azure-account",
      "acct",
      "--gcs-bucket",
      "lifecycle",
      "--gcs-endpoint",
      gcs().endpoint,
    ]);
    expect(r.out).toContain('"matchesPrefix"');
    // The emulator answers 200 and keeps nothing: the command must not report success.
    expect(r.code).toBe(1);
    expect(r.err).toContain("the call succeeded but the bucket reports 0 of 2 rules");
    const azure = await run([
      "--apply",
      "--prefix",
      "transcripts",
      "--azure-container",
      "backups",
      "--azure-account",
      "acct",
    ]);
    expect(azure.code).toBe(0);
    expect(azure.out).toContain("az storage account management-policy create --account-name acct");
    expect(azure.out).toContain('"tierToCold"');
    expect(azure.err).toContain("were NOT applied");
  });

  it("an S3 store that refuses the policy is named with its reason (MinIO implements neither AbortIncompleteMultipartUpload nor GLACIER_IR)", async () => {
    await minio().createBucket("lifecycle");
    const r = await run([
      "--apply",
      "--prefix",
      "transcripts",
      "--s3-bucket",
      "lifecycle",
      "--s3-endpoint",
      minio().endpoint,
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /S3 put-bucket-lifecycle-configuration failed for s3:\/\/lifecycle\/backups\/postgres\/: /,
    );
    expect(r.out).toContain('"AbortIncompleteMultipartUpload"');
  });
});

describe("the committed action bundle with clouds, under Node 24", () => {
  it("loads each SDK's chunk, uploads to all three, masks the secrets, and fails naming a bucket that is gone", async () => {
    const bucket = "bundle";
    await minio().createBucket(bucket);
    await gcs().createBucket(bucket);
    await azurite().createContainer(bucket);
    const env = {
      AWS_ACCESS_KEY_ID: minio().accessKey,
      AWS_SECRET_ACCESS_KEY: minio().secretKey,
      AZURE_STORAGE_CONNECTION_STRING: azurite().connectionString,
    };
    const inputs = {
      "database-url": postgres().url("transcripts"),
      "backup-dir": await tempDir("bundle"),
      compression: "zstd",
      "s3-bucket": bucket,
      "s3-endpoint": minio().endpoint,
      "gcs-bucket": bucket,
      "gcs-endpoint": gcs().endpoint,
      "azure-container": bucket,
    };
    const run = await runAction("actions/backup-db/action.yml", inputs, env);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.outputs.offsite).toBe(
      `s3://${bucket}/backups/postgres/=ok,gs://${bucket}/backups/postgres/=ok,azure://${bucket}/backups/postgres/=ok`,
    );
    expect(run.summary).toContain("### Off-site copies");
    const masked = run.stdout
      .split("\n")
      .filter((l) => l.startsWith("::add-mask::"))
      .map((l) => unescapeCommand(l.slice("::add-mask::".length)));
    expect(masked).toEqual(expect.arrayContaining([minio().secretKey, azurite().accountKey]));
    expect(withoutMaskCommands(run.stdout)).not.toContain(azurite().accountKey);

    const failed = await runAction(
      "actions/backup-db/action.yml",
      { ...inputs, "s3-bucket": "gone-bucket", "gcs-bucket": "", "azure-container": "" },
      env,
    );
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(
      /::error::The backup was written locally \(.*\) but 1 off-site copy failed: S3 check the bucket failed for s3:\/\/gone-bucket\/backups\/postgres\/: bucket 'gone-bucket' does not exist/,
    );
    expect(failed.summary).toContain("written locally, an off-site copy FAILED");
  }, 90_000);
});

describe("STORAGE_EMULATOR_HOST", () => {
  it.each(["", "/storage/v1"])(
    "works as the GCS endpoint when given as host%s, for the JSON API and resumable uploads",
    async (suffix) => {
      const bucket = `emulator-host${suffix ? "-v1" : ""}`;
      await gcs().createBucket(bucket);
      const host = `${gcs().endpoint.replace("http://", "")}${suffix}`;
      process.env.STORAGE_EMULATOR_HOST = host;
      try {
        const vars = { BACKUP_GCS_BUCKET: bucket, STORAGE_EMULATOR_HOST: host };
        const [destination] = load({ DATABASE_URL: "postgresql://u@h/d", ...vars }).destinations;
        const store = await openStore(destination!);
        await store.preflight();
        const upload = await store.upload("x.sql");
        upload.stream.end(Buffer.alloc(9 * MIB, 1)); // two resumable chunks
        await upload.done;
        expect((await store.stat("x.sql"))?.sizeBytes).toBe(9 * MIB);
        expect(process.env.STORAGE_EMULATOR_HOST).toBe(host);
      } finally {
        delete process.env.STORAGE_EMULATOR_HOST;
      }
    },
  );
});
