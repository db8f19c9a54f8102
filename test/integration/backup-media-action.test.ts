import { readFileSync, writeFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { useMinio } from "../support/cloud-fixtures.js";
import { useTempDirs } from "../support/fixtures.js";
import { NODE24, runAction } from "../support/run-action.js";
import { execFileAsync } from "../support/services/service.js";

const tempDir = useTempDirs();

async function mediaSource(label: string): Promise<string> {
  const src = await tempDir(label);
  await mkdir(path.join(src, "photos"));
  writeFileSync(path.join(src, "photos/a.jpg"), "a".repeat(1000));
  writeFileSync(path.join(src, "photos/b.jpg"), "b".repeat(2000));
  writeFileSync(path.join(src, "readme.txt"), "media");
  return src;
}

const metricLine = (text: string, name: string) =>
  text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes('type="media"')) ?? "";

describe("the committed dist/backup-media bundle, run as the runner runs it", () => {
  it("snapshots, then snapshots incrementally; outputs, job summary and metrics say what was copied and linked", async () => {
    const src = await mediaSource("act-media-src");
    const dir = await tempDir("act-media-bk");
    const textfile = path.join(await tempDir("act-media-prom"), "media.prom");
    const env = { MEDIA_SOURCE_DIR: src, MEDIA_BACKUP_DIR: dir, BACKUP_METRICS_TEXTFILE: textfile };
    const first = await runAction("actions/backup-media/action.yml", {}, env);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.outputs).toMatchObject({
      files: "3",
      "new-files": "3",
      "bytes-copied": "3005",
      "bytes-linked": "0",
    });
    expect(first.summary).toContain(`## ✅ Lifeline backup-media: ${first.outputs.snapshot}`);
    writeFileSync(path.join(src, "photos/c.jpg"), "c");
    await new Promise((r) => setTimeout(r, 1100)); // snapshot names have a one-second resolution
    const second = await runAction("actions/backup-media/action.yml", { "media-retention-days": "30" }, env);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.outputs).toMatchObject({
      files: "4",
      "new-files": "1",
      "bytes-copied": "1",
      "bytes-linked": "3005",
    });
    expect(second.summary).toMatch(/New \/ changed \/ deleted \/ unchanged \| 1 \/ 0 \/ 0 \/ 3/);
    expect(second.summary).toContain(`incremental against ${first.outputs.snapshot}`);
    const prom = await readFile(textfile, "utf8");
    expect(metricLine(prom, "backup_last_status")).toMatch(/ 0$/);
    expect(metricLine(prom, "backup_media_files")).toMatch(/ 4$/);
    expect(metricLine(prom, "backup_media_new_bytes")).toMatch(/ 1$/);
    expect(metricLine(prom, "backup_size_bytes")).toMatch(/ 3006$/);

    // verify-only, the verify action with media, and the root action agree.
    const verifyOnly = await runAction("actions/backup-media/action.yml", { "verify-only": "true" }, env);
    expect(verifyOnly.code, verifyOnly.stdout).toBe(0);
    expect(verifyOnly.outputs["verified-count"]).toBe("2");
    const verify = await runAction("actions/verify/action.yml", { media: "true" }, env);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.outputs["exit-code"]).toBe("0");
    writeFileSync(path.join(dir, second.outputs.snapshot as string, "tree/photos/c.jpg"), "X");
    const root = await runAction("action.yml", { command: "verify", media: "true" }, env);
    expect(root.code).toBe(1);
    expect(root.stdout).toMatch(/photos\/c\.jpg/);
    expect(metricLine(await readFile(textfile, "utf8"), "backup_verify_last_status")).toMatch(/ 1$/);
  });

  it('a missing source fails with exit 78, a failure summary and backup_last_status{type="media"} 78; the success timestamp stays', async () => {
    const src = await mediaSource("act-media-fail-src");
    const dir = await tempDir("act-media-fail-bk");
    const textfile = path.join(await tempDir("act-media-fail-prom"), "media.prom");
    const env = { MEDIA_BACKUP_DIR: dir, BACKUP_METRICS_TEXTFILE: textfile };
    const ok = await runAction("action.yml", { command: "backup-media", "media-source-dir": src }, env);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const success = metricLine(await readFile(textfile, "utf8"), "backup_last_success_timestamp");
    expect(success).not.toBe("");
    const failed = await runAction(
      "actions/backup-media/action.yml",
      { "media-source-dir": path.join(src, "nope") },
      env,
    );
    expect(failed.code).toBe(78);
    expect(failed.stdout).toMatch(/::error::.*MEDIA_SOURCE_DIR .*nope.* cannot be backed up/);
    expect(failed.summary).toContain("## ❌ Lifeline backup-media failed");
    const prom = await readFile(textfile, "utf8");
    expect(metricLine(prom, "backup_last_status")).toMatch(/ 78$/);
    expect(metricLine(prom, "backup_last_success_timestamp")).toBe(success);
  });

  it("the restore action with media restores the latest snapshot into a new directory, checked against the manifest", async () => {
    const src = await mediaSource("act-media-restore-src");
    const dir = await tempDir("act-media-restore-bk");
    const target = path.join(await tempDir("act-media-restore-to"), "restored");
    const env = { MEDIA_SOURCE_DIR: src, MEDIA_BACKUP_DIR: dir };
    expect((await runAction("actions/backup-media/action.yml", {}, env)).code).toBe(0);
    const run = await runAction("actions/restore/action.yml", { media: "true", "target-dir": target }, env);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs.files).toBe("3");
    expect(readFileSync(path.join(target, "photos/b.jpg"), "utf8")).toBe("b".repeat(2000));
    const again = await runAction("actions/restore/action.yml", { media: "true", "target-dir": target }, env);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/::error::.*already exist/i);
  });
});

describe("lifeline backup-media on the command line", () => {
  it("--help lists the runbook's variables; --verify-only and verify --media give the runbook's exit codes", async () => {
    const help = await execFileAsync(NODE24, ["dist/cli/index.js", "backup-media", "--help"]);
    for (const v of [
      "MEDIA_SOURCE_DIR",
      "MEDIA_BACKUP_DIR",
      "MEDIA_RETENTION_DAYS",
      "--full",
      "--verify-only",
    ])
      expect(help.stdout).toContain(v);
    const dir = await tempDir("cli-media-empty");
    const none = await execFileAsync(NODE24, ["dist/cli/index.js", "verify", "--media"], {
      env: { PATH: process.env.PATH ?? "", MEDIA_BACKUP_DIR: dir },
    }).catch((err: { code: number; stderr: string }) => err);
    expect((none as { code: number }).code).toBe(2);
    const src = await mediaSource("cli-media-src");
    const env = { PATH: process.env.PATH ?? "", MEDIA_SOURCE_DIR: src, MEDIA_BACKUP_DIR: dir };
    const made = await execFileAsync(NODE24, ["dist/cli/index.js", "backup-media", "--json"], { env });
    expect(JSON.parse(made.stdout).totals.files).toBe(3);
    const good = await execFileAsync(
      NODE24,
      ["dist/cli/index.js", "backup-media", "--verify-only", "--json"],
      { env },
    );
    expect(JSON.parse(good.stdout).exitCode).toBe(0);
  });
});

describe("the backup-media bundle with a bucket, on a runner whose MEDIA_BACKUP_DIR does not last", () => {
  const minio = useMinio();

  it("each run starts empty, yet uploads only what the bucket lacks (its index read back); a missing bucket fails the run", async () => {
    const src = await mediaSource("act-media-offsite-src");
    const bucket = `act-media-${process.pid}`;
    await minio().createBucket(bucket);
    const textfile = path.join(await tempDir("act-media-offsite-prom"), "media.prom");
    const env = (dir: string, bucketName = bucket) => ({
      MEDIA_SOURCE_DIR: src,
      MEDIA_BACKUP_DIR: dir,
      BACKUP_METRICS_TEXTFILE: textfile,
      BACKUP_S3_BUCKET: bucketName,
      BACKUP_S3_ENDPOINT: minio().endpoint,
      AWS_ACCESS_KEY_ID: minio().accessKey,
      AWS_SECRET_ACCESS_KEY: minio().secretKey,
    });
    const first = await runAction(
      "actions/backup-media/action.yml",
      {},
      env(await tempDir("act-media-eph1")),
    );
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.summary).toContain("**Off-site:**");
    expect(first.stdout).toMatch(/Actions cache is not available on this runner/);
    await new Promise((r) => setTimeout(r, 1100)); // snapshot names have a one-second resolution
    const second = await runAction(
      "actions/backup-media/action.yml",
      {},
      env(await tempDir("act-media-eph2")),
    );
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.summary).toMatch(/0 objects, 0 B new .*3 contents already there/);
    expect(second.summary).toContain(`the index of ${first.outputs.snapshot} in the bucket`);
    expect(second.outputs["offsite-failed"]).toBe("");
    const prom = await readFile(textfile, "utf8");
    expect(prom).toMatch(/backup_upload_last_status\{destination="s3",[^}]*type="media"\} 0/);

    await new Promise((r) => setTimeout(r, 1100));
    const missing = await runAction(
      "actions/backup-media/action.yml",
      {},
      env(await tempDir("act-media-eph3"), "no-such-bucket"),
    );
    expect(missing.code).toBe(1);
    expect(missing.outputs["offsite-failed"]).toBe("s3://no-such-bucket/backups/media/");
    expect(missing.summary).toMatch(/❌ Lifeline backup-media: .* published locally; 1 bucket\(s\) FAILED/);
    const after = await readFile(textfile, "utf8");
    expect(metricLine(after, "backup_last_status")).toMatch(/ 1$/);
  });
});
