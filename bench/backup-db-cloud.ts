// Benchmark (issue 4): lifeline backup-db to a local file only, against the same backup streamed to
// S3 (MinIO) in the same pass, on one private ≥ 1 GB database, side by side with alternating repeats.
//
//   npx tsx bench/backup-db-cloud.ts [--scale 50] [--text-rows 2000000] [--repeats 3]
//     [--compression zstd|gzip|both] [--part-size-mb 8] [--concurrency 2] [--upload-tool aws|sdk|none]
//
// Variants (per compression), run in a rotating order in every repeat:
//   (a) local        lifeline backup-db into a fresh BACKUP_DIR
//   (b) local+S3     the same, plus BACKUP_S3_BUCKET/BACKUP_S3_ENDPOINT (MinIO), one streamed pass
//   (c) local, cp    (a) then the runbook's "aws s3 cp" of the daily directory (file, sidecar,
//                    manifest) with the aws CLI's defaults; --upload-tool sdk uses lib-storage Upload
//                    with --part-size-mb/--concurrency instead; none skips it
// Target: median (b) ÷ median (a) ≤ 1.15. Peak RSS is the lifeline process's VmHWM, polled from /proc.
//
// Every run gets a fresh BACKUP_DIR seeded with a tiny valid weekly and monthly backup, so that no
// tier is due: otherwise every run would also file weekly/monthly copies, i.e. upload 3 objects.
// Every cloud run writes under its own BACKUP_REMOTE_PREFIX, deleted from MinIO after the run.
// MinIO runs on the same machine: its CPU and disk writes compete with pg_dump and compression.
// Also printed: CPU seconds of lifeline + pg_dump (+ the uploader in (c)) and of MinIO per run, from
// /proc, to tell CPU contention from waiting; and the load average, since other work skews timings.
// The CLI measured is dist/cli of the committed HEAD (git archive into the run's temp directory).
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { NODE24 } from "../test/support/run-action.js";
import { type MinioServer, startMinio } from "../test/support/services/minio.js";
import { type PostgresServer, startPostgres } from "../test/support/services/postgres.js";
import { execFileAsync, makeTempDir } from "../test/support/services/service.js";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "50" },
    "text-rows": { type: "string", default: "2000000" },
    repeats: { type: "string", default: "3" },
    compression: { type: "string", default: "zstd" },
    "part-size-mb": { type: "string", default: "8" },
    concurrency: { type: "string", default: "2" },
    "upload-tool": { type: "string", default: "aws" },
  },
});
const scale = Number(values.scale);
const textRows = Number(values["text-rows"]);
const repeats = Number(values.repeats);
const partSizeMb = Number(values["part-size-mb"]);
const concurrency = Number(values.concurrency);
const compressions = values.compression === "both" ? ["zstd", "gzip"] : [values.compression];
if (!compressions.every((c) => c === "zstd" || c === "gzip")) {
  throw new Error(`--compression must be zstd, gzip or both, not ${values.compression}`);
}
let uploadTool = values["upload-tool"];
if (!["aws", "sdk", "none"].includes(uploadTool)) throw new Error("--upload-tool must be aws, sdk or none");
const TARGET = 1.15;
const BUCKET = "lifeline-bench";

interface Sample {
  seconds: number;
  peakRssKb: number;
  fileBytes: number;
  /** Variant (c): the upload step alone, and the upload tool's peak RSS. */
  uploadSeconds?: number;
  uploadRssKb?: number;
  /** CPU seconds of lifeline and its children (pg_dump), and of the MinIO server, during the run. */
  cpuSeconds: number;
  minioCpuSeconds: number;
}

/** Runs a command, returning wall time and the peak RSS of the process (VmHWM, polled from /proc). */
function timed(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ seconds: number; peakRssKb: number; cpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    let peak = 0;
    let cpu = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) peak = Math.max(peak, Number(m[1]));
        cpu = cpuTicks(child.pid!) ?? cpu;
      } catch {}
    }, 20);
    child.on("error", (err) => {
      clearInterval(poll);
      reject(err);
    });
    child.on("close", (code) => {
      clearInterval(poll);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0)
        reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr.slice(-1500)}`));
      else resolve({ seconds, peakRssKb: peak, cpuSeconds: cpu / CLK_TCK });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const CLK_TCK = 100;
/** utime + stime + cutime + cstime of a process, in clock ticks (children: those already reaped). */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0);
  } catch {
    return undefined;
  }
}

const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const pad = (n: number) => String(n).padStart(2, "0");
const stamp = (d: Date) =>
  `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}_` +
  `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;

/** Lists every key under a prefix (all pages). */
async function listKeys(s3: S3Client, prefix: string): Promise<{ key: string; size: number }[]> {
  const keys: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) keys.push({ key: o.Key!, size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

async function deletePrefix(s3: S3Client, prefix: string): Promise<void> {
  const keys = await listKeys(s3, prefix);
  for (let i = 0; i < keys.length; i += 1000) {
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: BUCKET,
        Delete: { Objects: keys.slice(i, i + 1000).map((k) => ({ Key: k.key })), Quiet: true },
      }),
    );
  }
}

let pg: PostgresServer | undefined;
let minio: MinioServer | undefined;
let s3: S3Client | undefined;
let work: string | undefined;
let cleaning: Promise<void> | undefined;
const cleanup = () => {
  cleaning ??= (async () => {
    s3?.destroy();
    await Promise.allSettled([minio?.stop(), pg?.stop()]);
    if (work) rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n# ${signal}: stopping PostgreSQL and MinIO`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  const df = await execFileAsync("df", ["-h", process.env.LIFELINE_TMPDIR ?? "/tmp"]);
  console.log(`# Disk:\n${df.stdout.trim()}`);
  const avail = await execFileAsync("df", ["--output=avail", "-B1", process.env.LIFELINE_TMPDIR ?? "/tmp"]);
  const availBytes = Number(avail.stdout.trim().split("\n").pop());
  // Database (~scale × 16 MB + text rows × ~500 B, doubled for the bench's slack), a few backups.
  const needBytes = 3 * (scale * 16e6 + textRows * 500);
  if (availBytes < needBytes) {
    throw new Error(`Only ${mib(availBytes)} free in the temp dir; this run needs about ${mib(needBytes)}`);
  }

  pg = await startPostgres();
  work = await makeTempDir("bench-cloud");
  // The committed CLI bundle, snapshotted: a rebuild of dist/ in the working tree during the run
  // (ncc empties the directory first) must neither break nor change what is measured.
  const commit = (await execFileAsync("git", ["rev-parse", "--short", "HEAD"])).stdout.trim();
  await execFileAsync("bash", ["-o", "pipefail", "-c", `git archive HEAD dist/cli | tar -x -C ${work}`]);
  const cli = path.join(work, "dist", "cli", "index.js");
  console.log(`# lifeline CLI: dist/cli of commit ${commit} (git archive), run by ${NODE24}`);
  console.log(`# Building the benchmark database: pgbench scale ${scale} + ${textRows} text/jsonb rows`);
  await pg.createDatabase("bench");
  const pgEnv = {
    ...process.env,
    PGHOST: pg.host,
    PGPORT: String(pg.port),
    PGUSER: pg.user,
    PGPASSWORD: pg.password,
    PGDATABASE: "bench",
  };
  await execFileAsync(
    path.join(pg.binDir, "pgbench"),
    ["-i", "-q", "-s", String(scale), "--unlogged-tables"],
    { env: pgEnv },
  );
  await pg.query(
    "bench",
    `CREATE TABLE documents AS
       SELECT g AS id, 'Transcript ' || g || ': ' || repeat(md5(g::text) || ' the quick brown fox ', 6) AS body,
              jsonb_build_object('speaker', 'spk' || (g % 7), 'words', g % 5000, 'tags', jsonb_build_array('a', g % 11)) AS meta
       FROM generate_series(1, ${textRows}) g;
     CREATE INDEX documents_meta_idx ON documents USING gin (meta);
     CREATE INDEX documents_id_idx ON documents (id);`,
  );
  await pg.query("bench", "VACUUM ANALYZE");
  const [{ size, bytes }] = (await pg.query<{ size: string; bytes: string }>(
    "bench",
    "SELECT pg_size_pretty(pg_database_size('bench')) AS size, pg_database_size('bench')::text AS bytes",
  )) as [{ size: string; bytes: string }];

  minio = await startMinio();
  await minio.createBucket(BUCKET);
  s3 = minio.client();
  // Our own MinIO's pid, found by its private data directory: its CPU time is read around every run.
  const minioPid = Number(
    readdirSync("/proc").find((p) => {
      try {
        return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, "utf8").includes(minio!.dataDir);
      } catch {
        return false;
      }
    }) ?? Number.NaN,
  );
  const awsCli = await execFileAsync("aws", ["--version"]).then(
    (r) => (r.stdout || r.stderr).trim(),
    () => undefined,
  );
  if (uploadTool === "aws" && !awsCli) {
    console.log("# aws CLI not found: variant (c) uploads with lib-storage Upload instead");
    uploadTool = "sdk";
  }
  console.log(
    `# Database size ${size} (${bytes} bytes); MinIO ${minio.endpoint}; part ${partSizeMb} MiB × ` +
      `concurrency ${concurrency}; ${repeats} repeats, rotating order; 2 cores` +
      (uploadTool === "aws" ? `; ${awsCli}` : ""),
  );

  const awsConfig = path.join(work, "aws-config");
  writeFileSync(awsConfig, "[default]\nregion = us-east-1\n");
  const cloudEnv = {
    AWS_ACCESS_KEY_ID: minio.accessKey,
    AWS_SECRET_ACCESS_KEY: minio.secretKey,
    AWS_REGION: minio.region,
    AWS_EC2_METADATA_DISABLED: "true",
    // Nothing from this machine's ~/.aws.
    AWS_CONFIG_FILE: awsConfig,
    AWS_SHARED_CREDENTIALS_FILE: path.join(work, "aws-credentials-none"),
  };
  const lifelineEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: pg.url("bench"),
  };

  let runNo = 0;
  /** A fresh BACKUP_DIR with a valid weekly and monthly backup, so no tier is due. */
  const freshBackupDir = (): string => {
    const dir = path.join(work!, `backups-${++runNo}`);
    const ts = stamp(new Date());
    for (const tier of ["weekly", "monthly"]) {
      mkdirSync(path.join(dir, tier), { recursive: true });
      const name = `bench_${tier}_${ts}.sql.zst`;
      writeFileSync(path.join(dir, tier, name), "seed");
      // sha256 of "seed": only the sidecar's shape and name are judged.
      writeFileSync(
        path.join(dir, tier, `${name}.sha256`),
        `19b25856e1c150ca834cffc8b59b23adbd0ec0389e58eb22b3b64768098d002b  ${name}\n`,
      );
    }
    return dir;
  };
  const dailyFile = (dir: string): string => {
    const files = readdirSync(path.join(dir, "daily")).filter((f) => /\.sql\.(gz|zst)$/.test(f));
    if (files.length !== 1) throw new Error(`expected one daily backup in ${dir}, found ${files.join(", ")}`);
    return path.join(dir, "daily", files[0]!);
  };
  const lifeline = (dir: string, compression: string, env: NodeJS.ProcessEnv = {}) =>
    timed(
      NODE24,
      [cli, "backup-db", "--backup-dir", dir, "--pg-bin-dir", pg!.binDir, "--compression", compression],
      { ...lifelineEnv, ...env },
    );

  const verified = new Set<string>();
  /** The objects in MinIO match the local backup: same size, sidecar and manifest present, same sha256. */
  const verifyUpload = async (prefix: string, file: string, label: string) => {
    const name = path.basename(file);
    const keys = await listKeys(s3!, prefix);
    const head = await s3!.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}${name}` }));
    const sidecar = await s3!.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}${name}.sha256` }));
    const remoteSidecar = await sidecar.Body!.transformToString();
    const localSidecar = readFileSync(`${file}.sha256`, "utf8");
    const localSize = statSync(file).size;
    const problems = [
      head.ContentLength !== localSize ? `size ${head.ContentLength} ≠ local ${localSize}` : "",
      remoteSidecar.trim() !== localSidecar.trim() ? "sidecar differs from the local one" : "",
      keys.some((k) => k.key === `${prefix}${name}.manifest.json`) ? "" : "no manifest",
      keys.length !== 3 ? `${keys.length} objects, expected 3 (data, manifest, sidecar)` : "",
    ].filter(Boolean);
    console.log(
      `  verify ${label}: ${keys.map((k) => `${k.key.slice(prefix.length)} (${k.size} B)`).join(", ")}; ` +
        `local ${name} ${localSize} B; ${problems.length ? `FAILED: ${problems.join("; ")}` : "OK"}`,
    );
    if (problems.length) throw new Error(`verification of ${label} failed: ${problems.join("; ")}`);
  };

  const sdkUploadScript = `
import { createReadStream, readdirSync } from "node:fs";
import path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
const [dir, endpoint, bucket, prefix, part, conc] = process.argv.slice(1);
const client = new S3Client({ endpoint, forcePathStyle: true });
for (const f of readdirSync(dir)) {
  await new Upload({ client, params: { Bucket: bucket, Key: prefix + f, Body: createReadStream(path.join(dir, f)) },
    partSize: Number(part) * 1048576, queueSize: Number(conc) }).done();
}
client.destroy();`;

  const variants: {
    name: string;
    compression: string;
    run: () => Promise<Omit<Sample, "minioCpuSeconds">>;
  }[] = [];
  for (const compression of compressions) {
    variants.push({
      name: `(a) local ${compression}`,
      compression,
      run: async () => {
        const dir = freshBackupDir();
        try {
          const s = await lifeline(dir, compression);
          return { ...s, fileBytes: statSync(dailyFile(dir)).size };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    });
    variants.push({
      name: `(b) local+S3 ${compression}`,
      compression,
      run: async () => {
        const dir = freshBackupDir();
        const prefix = `bench/run-${runNo}/`;
        try {
          const s = await lifeline(dir, compression, {
            ...cloudEnv,
            BACKUP_S3_BUCKET: BUCKET,
            BACKUP_S3_ENDPOINT: minio!.endpoint,
            BACKUP_REMOTE_PREFIX: prefix,
            BACKUP_UPLOAD_PART_SIZE_MB: String(partSizeMb),
            BACKUP_UPLOAD_CONCURRENCY: String(concurrency),
          });
          const file = dailyFile(dir);
          if (!verified.has(compression)) {
            await verifyUpload(prefix, file, `(b) ${compression}`);
            verified.add(compression);
          }
          return { ...s, fileBytes: statSync(file).size };
        } finally {
          rmSync(dir, { recursive: true, force: true });
          await deletePrefix(s3!, prefix);
        }
      },
    });
    if (uploadTool !== "none") {
      variants.push({
        name: `(c) local, then ${uploadTool === "aws" ? "aws s3 cp" : "SDK Upload"} ${compression}`,
        compression,
        run: async () => {
          const dir = freshBackupDir();
          const prefix = `bench/run-${runNo}/`;
          try {
            const dump = await lifeline(dir, compression);
            const file = dailyFile(dir);
            const env = { ...process.env, ...cloudEnv };
            const up =
              uploadTool === "aws"
                ? await timed(
                    "aws",
                    [
                      "s3",
                      "cp",
                      "--only-show-errors",
                      "--recursive",
                      "--endpoint-url",
                      minio!.endpoint,
                      path.dirname(file),
                      `s3://${BUCKET}/${prefix}`,
                    ],
                    env,
                  )
                : await timed(
                    NODE24,
                    [
                      "--input-type=module",
                      "-e",
                      sdkUploadScript,
                      path.dirname(file),
                      minio!.endpoint,
                      BUCKET,
                      prefix,
                      String(partSizeMb),
                      String(concurrency),
                    ],
                    env,
                  );
            const label = `(c) ${compression}`;
            if (!verified.has(label)) {
              await verifyUpload(prefix, file, label);
              verified.add(label);
            }
            return {
              seconds: dump.seconds + up.seconds,
              peakRssKb: dump.peakRssKb,
              cpuSeconds: dump.cpuSeconds + up.cpuSeconds,
              fileBytes: statSync(file).size,
              uploadSeconds: up.seconds,
              uploadRssKb: up.peakRssKb,
            };
          } finally {
            rmSync(dir, { recursive: true, force: true });
            await deletePrefix(s3!, prefix);
          }
        },
      });
    }
  }

  // Other work on this 2-core machine (a test suite, a build) shows here and in the spread of repeats.
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
  console.log(`# load average before the runs: ${load()}`);
  const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r < repeats; r++) {
    // Rotating order: no variant always runs first (cold MinIO, caches) or right after another.
    const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
    for (const v of order) {
      const minioBefore = cpuTicks(minioPid) ?? 0;
      const s = { ...(await v.run()), minioCpuSeconds: 0 };
      s.minioCpuSeconds = ((cpuTicks(minioPid) ?? 0) - minioBefore) / CLK_TCK;
      samples.get(v.name)!.push(s);
      console.log(
        `  repeat ${r + 1}: ${v.name.padEnd(30)} ${s.seconds.toFixed(2)} s, peak RSS ${mb(s.peakRssKb)}, ` +
          `file ${mib(s.fileBytes)}, CPU lifeline+pg_dump ${s.cpuSeconds.toFixed(2)} s, MinIO ${s.minioCpuSeconds.toFixed(2)} s` +
          (s.uploadSeconds !== undefined
            ? ` (upload ${s.uploadSeconds.toFixed(2)} s, uploader RSS ${mb(s.uploadRssKb ?? 0)})`
            : ""),
      );
    }
  }

  console.log(`# load average after the runs: ${load()}`);
  const t = (name: string) => median(samples.get(name)!.map((s) => s.seconds));
  const rss = (name: string) => Math.max(...samples.get(name)!.map((s) => s.peakRssKb));
  console.log(
    `\n# Database ${size} (${bytes} bytes); part ${partSizeMb} MiB, concurrency ${concurrency}\n` +
      "| variant | median wall time | min–max | peak RSS (lifeline) | backup file | CPU lifeline+pg_dump (+uploader) | CPU MinIO |\n| --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const v of variants) {
    const ss = samples.get(v.name)!;
    const secs = ss.map((s) => s.seconds);
    const up = ss.filter((s) => s.uploadSeconds !== undefined);
    const upNote = up.length
      ? ` (upload median ${median(up.map((s) => s.uploadSeconds!)).toFixed(2)} s, uploader RSS ${mb(Math.max(...up.map((s) => s.uploadRssKb ?? 0)))})`
      : "";
    console.log(
      `| ${v.name} | ${t(v.name).toFixed(2)} s${upNote} | ${Math.min(...secs).toFixed(2)}–${Math.max(...secs).toFixed(2)} s | ` +
        `${mb(rss(v.name))} | ${mib(median(ss.map((s) => s.fileBytes)))} (${median(ss.map((s) => s.fileBytes))} B) | ` +
        `${median(ss.map((s) => s.cpuSeconds)).toFixed(2)} s | ${median(ss.map((s) => s.minioCpuSeconds)).toFixed(2)} s |`,
    );
  }
  console.log("\n| ratio | measured | target | |\n| --- | --- | --- | --- |");
  let allMet = true;
  for (const c of compressions) {
    const a = `(a) local ${c}`;
    const b = `(b) local+S3 ${c}`;
    const ratio = t(b) / t(a);
    allMet &&= ratio <= TARGET;
    console.log(
      `| ${c}: local+S3 ÷ local | ${ratio.toFixed(3)}× | ≤ ${TARGET}× | ${ratio <= TARGET ? "PASS" : "FAIL"} |`,
    );
    const cName = variants.find((v) => v.compression === c && v.name.startsWith("(c)"))?.name;
    if (cName) {
      console.log(`| ${c}: local then upload ÷ local | ${(t(cName) / t(a)).toFixed(3)}× | (reference) | |`);
      console.log(
        `| ${c}: local+S3 ÷ local then upload | ${(t(b) / t(cName)).toFixed(3)}× | (reference) | |`,
      );
    }
    console.log(`| ${c}: peak RSS local+S3 − local | ${((rss(b) - rss(a)) / 1024).toFixed(0)} MB | | |`);
  }
  console.log(`\n# ${allMet ? "PASS" : "FAIL"}: local+S3 ÷ local ≤ ${TARGET}×`);
} finally {
  await cleanup();
}
