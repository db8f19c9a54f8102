// Benchmark: lifeline backup-db against the shell pipelines it replaces, on one private database,
// measured side by side in one run with alternating repeats.
//
//   npx tsx bench/backup-db.ts [--scale 50] [--text-rows 2000000] [--repeats 3]
//
// The database is pgbench at --scale plus a text-heavy table (text + jsonb, two indexes).
// Prints wall time per variant (median), ratios against the pipelines, and backup-db's peak RSS.
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { NODE24 } from "../test/support/run-action.js";
import { startPostgres } from "../test/support/services/postgres.js";
import { execFileAsync, makeTempDir } from "../test/support/services/service.js";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "50" },
    "text-rows": { type: "string", default: "2000000" },
    repeats: { type: "string", default: "3" },
  },
});
const scale = Number(values.scale);
const textRows = Number(values["text-rows"]);
const repeats = Number(values.repeats);

interface Sample {
  seconds: number;
  peakRssKb?: number;
}

/** Runs a command, returning wall time and (when asked) the peak RSS of the process, from /proc. */
function timed(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  trackRss = false,
): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    let peak = 0;
    const poll = trackRss
      ? setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
            if (m) peak = Math.max(peak, Number(m[1]));
          } catch {}
        }, 20)
      : undefined;
    child.on("close", (code) => {
      if (poll) clearInterval(poll);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr.slice(-500)}`));
      else resolve({ seconds, ...(trackRss ? { peakRssKb: peak } : {}) });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const pg = await startPostgres();
const work = await makeTempDir("bench");
try {
  console.log(`# Building the benchmark database: pgbench scale ${scale} + ${textRows} text/jsonb rows`);
  await pg.createDatabase("bench");
  const env = {
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
    { env },
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
  const [{ size }] = (await pg.query<{ size: string }>(
    "bench",
    "SELECT pg_size_pretty(pg_database_size('bench')) AS size",
  )) as [{ size: string }];
  const pgDump = path.join(pg.binDir, "pg_dump");
  console.log(`# Database size ${size}; pg_dump ${pgDump}; ${repeats} alternating repeats; 2 cores\n`);

  const out = path.join(work, "out");
  const sh = (pipeline: string) => ["bash", ["-o", "pipefail", "-c", pipeline]] as const;
  const lifeline =
    (...flags: string[]) =>
    async () => {
      rmSync(path.join(work, "backups"), { recursive: true, force: true });
      return timed(
        NODE24,
        [
          "dist/cli/index.js",
          "backup-db",
          "--backup-dir",
          path.join(work, "backups"),
          "--pg-bin-dir",
          pg.binDir,
          ...flags,
        ],
        { PATH: process.env.PATH, DATABASE_URL: pg.url("bench") },
        true,
      );
    };
  const variants: Record<string, () => Promise<Sample>> = {
    "pg_dump > /dev/null": () => timed(...sh(`${pgDump} -Fp > /dev/null`), env),
    "pg_dump | gzip -6 > f": () => timed(...sh(`${pgDump} -Fp | gzip -6 > ${out}.gz`), env),
    "pg_dump | pigz -p 2 > f": () => timed(...sh(`${pgDump} -Fp | pigz -6 -p 2 > ${out}.pigz.gz`), env),
    "pg_dump | zstd -3 -T2 > f": () => timed(...sh(`${pgDump} -Fp | zstd -q -3 -T2 > ${out}.zst`), env),
    "lifeline gzip": lifeline("--compression", "gzip"),
    "lifeline zstd": lifeline("--compression", "zstd"),
    "lifeline zstd, row counts estimated": lifeline("--compression", "zstd", "--row-counts", "estimated"),
  };
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < repeats; r++) {
    for (const [name, run] of Object.entries(variants)) {
      const s = await run();
      samples[name]!.push(s);
      console.log(
        `  repeat ${r + 1}: ${name.padEnd(32)} ${s.seconds.toFixed(2)} s${s.peakRssKb ? `, peak RSS ${(s.peakRssKb / 1024).toFixed(0)} MB` : ""}`,
      );
    }
  }
  const t = (name: string) => median(samples[name]!.map((s) => s.seconds));
  console.log("\n| variant | median wall time | peak RSS |\n| --- | --- | --- |");
  for (const name of Object.keys(variants)) {
    const rss = Math.max(...samples[name]!.map((s) => s.peakRssKb ?? 0));
    console.log(`| ${name} | ${t(name).toFixed(2)} s | ${rss ? `${(rss / 1024).toFixed(0)} MB` : "—"} |`);
  }
  const peak = Math.max(
    ...Object.keys(variants)
      .filter((n) => n.startsWith("lifeline"))
      .flatMap((n) => samples[n]!.map((s) => s.peakRssKb ?? 0)),
  );
  const targets: [string, number, number][] = [
    ["lifeline zstd ÷ pg_dump | zstd -3 -T2", t("lifeline zstd") / t("pg_dump | zstd -3 -T2 > f"), 1.05],
    ["lifeline zstd ÷ raw pg_dump", t("lifeline zstd") / t("pg_dump > /dev/null"), 1.15],
    [
      "lifeline zstd, counts estimated ÷ pg_dump | zstd",
      t("lifeline zstd, row counts estimated") / t("pg_dump | zstd -3 -T2 > f"),
      1.05,
    ],
    ["lifeline gzip ÷ pg_dump | pigz -p 2", t("lifeline gzip") / t("pg_dump | pigz -p 2 > f"), 1.0],
    ["lifeline gzip ÷ pg_dump | gzip -6", t("lifeline gzip") / t("pg_dump | gzip -6 > f"), 1.0],
    ["lifeline peak RSS (MB)", peak / 1024, 100],
  ];
  console.log(`\n# Database ${size}\n| ratio | measured | target | |\n| --- | --- | --- | --- |`);
  for (const [label, value, target] of targets) {
    console.log(`| ${label} | ${value.toFixed(2)} | ≤ ${target} | ${value <= target ? "met" : "NOT met"} |`);
  }
} finally {
  await pg.stop();
  rmSync(work, { recursive: true, force: true });
}
