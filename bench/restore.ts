// Benchmark: lifeline restore against the stock restores it replaces, on one private ≥ 1 GB database,
// measured side by side in one run with alternating repeats.
//
//   npx tsx bench/restore.ts [--scale 50] [--text-rows 2000000] [--repeats 3]
//
// The backups are taken once by lifeline backup-db (plain .sql.gz and custom .dump). Each variant
// restores into a database that does not exist yet (lifeline: into its _lifeline_restore_ database,
// proven against the manifest with count(*) per table, then renamed), which is dropped untimed after.
// Prints medians, ratios against `gunzip -c | psql` and `pg_restore -j 2`, and lifeline's peak RSS.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
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
      if (code !== 0) reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr.slice(-800)}`));
      else resolve({ seconds, ...(trackRss ? { peakRssKb: peak } : {}) });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const pg = await startPostgres();
const work = await makeTempDir("bench-restore");
try {
  console.log(`# Building the benchmark database: pgbench scale ${scale} + ${textRows} text/jsonb rows`);
  await pg.createDatabase("bench");
  const env = {
    ...process.env,
    PGHOST: pg.host,
    PGPORT: String(pg.port),
    PGUSER: pg.user,
    PGPASSWORD: pg.password,
  };
  await execFileAsync(path.join(pg.binDir, "pgbench"), ["-i", "-q", "-s", String(scale)], {
    env: { ...env, PGDATABASE: "bench" },
  });
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
  const backups = path.join(work, "backups");
  const cli = (...args: string[]) =>
    timed(NODE24, ["dist/cli/index.js", ...args], { PATH: process.env.PATH, DATABASE_URL: pg.url("bench") });
  await cli("backup-db", "--backup-dir", backups, "--pg-bin-dir", pg.binDir);
  await new Promise((r) => setTimeout(r, 1100)); // a distinct second in the next backup's name
  await cli("backup-db", "--backup-dir", backups, "--pg-bin-dir", pg.binDir, "--format", "custom");
  const daily = path.join(backups, "daily");
  const plain = path.join(daily, readdirSync(daily).find((f) => f.endsWith(".sql.gz"))!);
  const custom = path.join(daily, readdirSync(daily).find((f) => f.endsWith(".dump"))!);
  console.log(
    `# Database ${size}; backups ${path.basename(plain)}, ${path.basename(custom)}; ${repeats} alternating repeats; 2 cores\n`,
  );

  let n = 0;
  const fresh = () => `target_${++n}`;
  const sh = (script: string, db: string) =>
    timed("bash", ["-o", "pipefail", "-c", script], { ...env, PGDATABASE: db });
  const withTarget =
    (run: (db: string, created: boolean) => Promise<Sample>, create: boolean) => async () => {
      const db = fresh();
      if (create) await pg.createDatabase(db);
      try {
        return await run(db, create);
      } finally {
        await pg.dropDatabase(db);
      }
    };
  const lifeline = (file: string) =>
    withTarget(
      (db) =>
        timed(
          NODE24,
          [
            "dist/cli/index.js",
            "restore",
            "--backup-file",
            file,
            "--force",
            "--jobs",
            "2",
            "--pg-bin-dir",
            pg.binDir,
          ],
          { PATH: process.env.PATH, DATABASE_URL: pg.url(db) },
          true,
        ),
      false,
    );
  const psql = path.join(pg.binDir, "psql");
  const pgRestore = path.join(pg.binDir, "pg_restore");
  const variants: Record<string, () => Promise<Sample>> = {
    "gunzip -c | psql": withTarget(
      (db) => sh(`gunzip -c ${plain} | ${psql} -X -q -v ON_ERROR_STOP=1 -d ${db} > /dev/null`, db),
      true,
    ),
    "lifeline restore (plain .sql.gz)": lifeline(plain),
    "pg_restore -j 2": withTarget(
      (db) => sh(`${pgRestore} -j 2 --exit-on-error -d ${db} ${custom}`, db),
      true,
    ),
    "lifeline restore (custom, -j 2)": lifeline(custom),
  };
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < repeats; r++) {
    for (const [name, run] of Object.entries(variants)) {
      const s = await run();
      samples[name]!.push(s);
      console.log(
        `  repeat ${r + 1}: ${name.padEnd(34)} ${s.seconds.toFixed(2)} s${s.peakRssKb ? `, peak RSS ${(s.peakRssKb / 1024).toFixed(0)} MB` : ""}`,
      );
    }
  }
  const t = (name: string) => median(samples[name]!.map((s) => s.seconds));
  console.log("\n| variant | median wall time | peak RSS |\n| --- | --- | --- |");
  for (const name of Object.keys(variants)) {
    const rss = Math.max(...samples[name]!.map((s) => s.peakRssKb ?? 0));
    console.log(`| ${name} | ${t(name).toFixed(2)} s | ${rss ? `${(rss / 1024).toFixed(0)} MB` : "—"} |`);
  }
  const targets: [string, number, number][] = [
    [
      "lifeline plain ÷ gunzip -c | psql",
      t("lifeline restore (plain .sql.gz)") / t("gunzip -c | psql"),
      1.05,
    ],
    ["lifeline custom ÷ pg_restore -j 2", t("lifeline restore (custom, -j 2)") / t("pg_restore -j 2"), 1.05],
  ];
  console.log(`\n# Database ${size}\n| ratio | measured | target | |\n| --- | --- | --- | --- |`);
  for (const [label, value, target] of targets) {
    console.log(`| ${label} | ${value.toFixed(2)} | ≤ ${target} | ${value <= target ? "met" : "NOT met"} |`);
  }
} finally {
  await pg.stop();
  rmSync(work, { recursive: true, force: true });
}
