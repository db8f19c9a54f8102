// The README's first command: a throwaway PostgreSQL with a small transcripts schema, a throwaway
// MinIO as the off-site bucket and a throwaway media tree; the committed CLI bundle under Node 24 backs up (local + S3 in one
// pass), verifies with a test restore, lists, and restores from the bucket over the live database after
// it was damaged, and the rows are compared with the source. Stock sha256sum checks the sidecar too.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildHostileTree, treeDigest } from "../test/support/media-tree.js";
import { NODE24 } from "../test/support/run-action.js";
import { fingerprint, seedTranscripts } from "../test/support/seed.js";
import { startMinio } from "../test/support/services/minio.js";
import { startPostgres } from "../test/support/services/postgres.js";

const backupDir = path.resolve(".tmp/demo/backups");
const mediaSource = path.resolve(".tmp/demo/media/data");
const mediaBackupDir = path.resolve(".tmp/demo/media/backups");
const mediaRestored = path.resolve(".tmp/demo/media/restored");
const mediaFromS3 = path.resolve(".tmp/demo/media/restored-from-s3");
const step = (text: string) => console.log(`\n\x1b[1m== ${text}\x1b[0m`);

rmSync(backupDir, { recursive: true, force: true });
rmSync(path.resolve(".tmp/demo/media"), { recursive: true, force: true });
mkdirSync(backupDir, { recursive: true });
mkdirSync(mediaBackupDir, { recursive: true });

step("Starting a throwaway PostgreSQL 15 (private cluster, scram-sha-256) and a throwaway MinIO (S3)");
const pg = await startPostgres();
const minio = await startMinio();
let ok = false;
try {
  await minio.createBucket("offsite");
  await pg.createDatabase("transcripts");
  await seedTranscripts(pg, "transcripts", 5000);
  const source = await fingerprint(pg, "transcripts");
  console.log(
    `PostgreSQL on ${pg.host}:${pg.port}, MinIO on ${minio.endpoint}; tables: ${Object.entries(source)
      .map(([t, f]) => `${t}=${f.split(":")[0]} rows`)
      .join(", ")}`,
  );
  // The runbook's environment: DATABASE_URL in its SQLAlchemy form, BACKUP_DIR, BACKUP_S3_BUCKET.
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: pg.url("transcripts").replace("postgresql://", "postgresql+psycopg://"),
    BACKUP_DIR: backupDir,
    BACKUP_S3_BUCKET: "offsite",
    BACKUP_S3_ENDPOINT: minio.endpoint,
    AWS_ACCESS_KEY_ID: minio.accessKey,
    AWS_SECRET_ACCESS_KEY: minio.secretKey,
  };
  const lifeline = (...args: string[]) =>
    execFileSync(NODE24, ["dist/cli/index.js", ...args], {
      env,
      stdio: ["ignore", "pipe", "inherit"],
      encoding: "utf8",
    });

  step("lifeline backup-db: one streamed pass to BACKUP_DIR and s3://offsite/backups/postgres/");
  const result = JSON.parse(lifeline("backup-db", "--json")) as {
    file: string;
    sidecarFile: string;
    offsite: { location: string; ok: boolean; uris: string[] }[];
  };
  for (const o of result.offsite) console.log(`${o.ok ? "OK " : "FAILED"} ${o.uris.join(", ")}`);

  step("The sidecar, checked by stock sha256sum -c");
  console.log(
    execFileSync("sha256sum", ["-c", path.basename(result.sidecarFile)], {
      cwd: path.dirname(result.file),
      encoding: "utf8",
    }).trim(),
  );

  step("lifeline verify --test-restore: every copy checked, the newest restored into a scratch database");
  console.log(lifeline("verify", "--test-restore"));

  step("lifeline restore --list-backups");
  console.log(lifeline("restore", "--list-backups"));

  step("Damage the live database (delete a third of the segments), then restore it from the bucket");
  await pg.query("transcripts", "DELETE FROM segments WHERE id % 3 = 0");
  const daily = result.offsite[0]?.uris.find((u) => u.includes("_daily_"));
  if (!daily) throw new Error("no off-site copy to restore from");
  lifeline("restore", "--backup-file", daily, "--force", "--drop-old");

  step("Compare every table with the source");
  const restored = await fingerprint(pg, "transcripts");
  for (const [table, print] of Object.entries(source)) {
    const same = restored[table] === print;
    console.log(
      `${same ? "OK  " : "DIFF"} ${table}: ${print.split(":")[0]} rows, content md5 ${print.split(":")[1]}`,
    );
  }
  const databaseOk = JSON.stringify(restored) === JSON.stringify(source);

  // The media half (runbook: backup_media.sh): a throwaway media tree with every awkward name, link,
  // mode and time, snapshotted twice (the second incremental), verified, restored and compared.
  step(
    "Building a throwaway media tree (non-UTF-8 and newline names, symlinks, hard links, modes, sub-second mtimes)",
  );
  await buildHostileTree(mediaSource);
  const media = (...args: string[]) =>
    execFileSync(NODE24, ["dist/cli/index.js", ...args], {
      env: { ...env, MEDIA_SOURCE_DIR: mediaSource, MEDIA_BACKUP_DIR: mediaBackupDir },
      stdio: ["ignore", "pipe", "inherit"],
      encoding: "utf8",
    });
  step("lifeline backup-media: the first snapshot copies and hashes every file");
  type MediaRun = {
    snapshot: string;
    totals: Record<string, number>;
    offsite: { location: string; ok: boolean; objects: number; bytes: number; reusedContents: number }[];
  };
  const offsiteLine = (r: MediaRun) =>
    r.offsite
      .map(
        (o) =>
          `${o.location}: ${o.ok ? "" : "FAILED "}${o.objects} objects (${o.bytes} bytes) sent, ${o.reusedContents} contents already there`,
      )
      .join("; ");
  const firstSnap = JSON.parse(media("backup-media", "--json")) as MediaRun;
  console.log(
    `${firstSnap.snapshot}: ${firstSnap.totals.files} files, ${firstSnap.totals.bytesCopied} bytes copied; ${offsiteLine(firstSnap)}`,
  );
  writeFileSync(path.join(mediaSource, "added-after-first.txt"), "new since the first snapshot\n");
  await new Promise((r) => setTimeout(r, 1100)); // snapshot names have a one-second resolution
  step("lifeline backup-media again: unchanged files are hard-linked, only the new one is copied");
  const secondSnap = JSON.parse(media("backup-media", "--json")) as MediaRun;
  console.log(
    `${secondSnap.snapshot}: ${secondSnap.totals.newFiles} new, ${secondSnap.totals.unchangedFiles} unchanged (linked), ` +
      `${secondSnap.totals.bytesCopied} bytes copied, ${secondSnap.totals.bytesLinked} linked; ${offsiteLine(secondSnap)}`,
  );
  step("lifeline verify --media: manifests, every file's size and SHA-256, missing and extra files, age");
  console.log(media("verify", "--media"));
  step(
    "lifeline restore --media into an empty directory, then compare with the source (content and metadata)",
  );
  console.log(media("restore", "--media", "--target-dir", mediaRestored).trim());
  const localOk = (await treeDigest(mediaRestored)) === (await treeDigest(mediaSource));
  console.log(
    `${localOk ? "OK  " : "DIFF"} media tree digest (paths, types, modes, owners, sizes, mtimes, targets, content, hard links)`,
  );
  step(
    "lifeline restore --media --media-from s3: the same snapshot from the bucket, by byte ranges of its packs",
  );
  console.log(media("restore", "--media", "--media-from", "s3", "--target-dir", mediaFromS3).trim());
  const s3Ok = (await treeDigest(mediaFromS3)) === (await treeDigest(mediaSource));
  console.log(`${s3Ok ? "OK  " : "DIFF"} media tree digest of the restore from S3`);
  const mediaOk = localOk && s3Ok;

  ok = databaseOk && mediaOk;
  console.log(
    ok
      ? "\nDemo passed: backed up (local + S3), verified, restored from S3; the data equals the source.\n" +
          "Media: snapshotted twice (incremental), verified, restored; the tree equals the source."
      : `\nDemo FAILED: ${databaseOk ? "" : "database data differs; "}${mediaOk ? "" : "media tree differs"}`,
  );
  console.log(`Backups kept in ${backupDir} and ${mediaBackupDir}; the throwaway servers are removed.`);
  console.log(readFileSync(`${result.file}.sha256`, "utf8").trim());
} finally {
  await pg.stop();
  await minio.stop();
}
process.exit(ok ? 0 : 1);
