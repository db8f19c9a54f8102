// Benchmark: lifeline backup-media against the tools people use for media snapshots today (cp -a,
// rsync -a and rsync --link-dest, restic), on one media-like tree, side by side in one run with
// alternating repeats.
//
//   npx tsx bench/backup-media.ts [--files 20000] [--bytes 2.5G] [--large-files 8] [--repeats 3]
//                                 [--million] [--dist] [--lifeline-dir .]
//
// Everything lives under one temporary directory on one filesystem, removed at the end, also on
// failure and on SIGINT/SIGTERM. Page cache cannot be dropped here: every run sees a warm cache, and
// the variants' order alternates between repeats. Without --dist lifeline runs from src/ through the
// tsx loader (in-process, so its RSS includes the loader's compiled modules); --dist runs the bundle.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { buildMediaTree, changeFraction } from "../test/support/media-tree.js";
import { NODE24 } from "../test/support/run-action.js";
import { execFileAsync, makeTempDir } from "../test/support/services/service.js";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "20000" },
    bytes: { type: "string", default: "2.5G" },
    "large-files": { type: "string", default: "8" },
    repeats: { type: "string", default: "3" },
    seed: { type: "string", default: "1" },
    million: { type: "boolean", default: false },
    dist: { type: "boolean", default: false },
    "lifeline-dir": { type: "string", default: "." },
  },
});

/** "2.5G", "200M", "64k" or a plain number of bytes. */
function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)i?b?$/i.exec(text.trim());
  if (!m) throw new TypeError(`--bytes ${text}: expected a size such as 2.5G, 200M or 1000000`);
  const unit = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as "" | "k"];
  return Math.round(Number(m[1]) * unit);
}
const files = Number(values.files);
const totalBytes = parseBytes(values.bytes);
const largeFiles = Number(values["large-files"]);
const repeats = Number(values.repeats);
const seed = Number(values.seed);
const lifelineDir = path.resolve(values["lifeline-dir"]);
const lifelineArgv = values.dist
  ? [path.join(lifelineDir, "dist/cli/index.js")]
  : ["--import", "tsx", path.join(lifelineDir, "src/cli/index.ts")];

interface Sample {
  seconds: number;
  peakRssKb?: number;
}

let running: ChildProcess | undefined;

/** Runs a command, returning wall time and (when asked) the process's peak RSS, from /proc VmHWM. */
function timed(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  trackRss = false,
): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, cwd: lifelineDir, stdio: ["ignore", "ignore", "pipe"] });
    running = child;
    let stderr = "";
    child.stderr.on("data", (d) => {
      if (stderr.length < 4000) stderr += d;
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
    child.on("error", reject);
    child.on("close", (code) => {
      running = undefined;
      if (poll) clearInterval(poll);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0)
        reject(
          new Error(
            `${command} ${args.join(" ")} exited ${code}: ${stderr.trim().split("\n").slice(0, 4).join(" / ").slice(0, 600)}`,
          ),
        );
      else resolve({ seconds, ...(trackRss ? { peakRssKb: peak } : {}) });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rm = (dir: string) => rmSync(dir, { recursive: true, force: true });
const mb = (kb: number | undefined) => (kb ? `${(kb / 1024).toFixed(0)} MB` : "—");

const work = await makeTempDir("bench-media");
const cleanUp = (signal: NodeJS.Signals) => {
  running?.kill("SIGKILL");
  rm(work);
  console.error(`\n# ${signal}: removed ${work}`);
  process.exit(130);
};
process.once("SIGINT", cleanUp);
process.once("SIGTERM", cleanUp);

const baseEnv = { PATH: process.env.PATH, HOME: process.env.HOME, TZ: "UTC" };
const resticEnv = {
  ...baseEnv,
  RESTIC_REPOSITORY: path.join(work, "restic-repo"),
  RESTIC_PASSWORD: "bench-only-password",
  RESTIC_CACHE_DIR: path.join(work, "restic-cache"),
};
// Snapshot names carry the UTC second: two runs in one second would collide.
let lastLifeline = 0;
async function lifeline(args: string[], env: Record<string, string>): Promise<Sample> {
  await sleep(Math.max(0, lastLifeline + 1100 - Date.now()));
  lastLifeline = Date.now();
  return timed(NODE24, [...lifelineArgv, ...args], { ...baseEnv, ...env }, true);
}

/** Runs each variant `times` times, the order reversed on every other repeat; prints each sample. */
async function alternate(
  section: string,
  variants: Record<string, () => Promise<Sample>>,
  times = repeats,
  before?: (repeat: number) => void | Promise<void>,
): Promise<Record<string, Sample[]>> {
  console.log(`\n## ${section}`);
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < times; r++) {
    await before?.(r);
    const names = Object.keys(variants);
    for (const name of r % 2 === 0 ? names : names.reverse()) {
      const s = await variants[name]!().catch((error: Error) => {
        console.log(`  repeat ${r + 1}: ${name.padEnd(36)} FAILED: ${error.message.split("\n")[0]}`);
        return undefined;
      });
      if (!s) continue;
      samples[name]!.push(s);
      console.log(
        `  repeat ${r + 1}: ${name.padEnd(36)} ${s.seconds.toFixed(2)} s${s.peakRssKb ? `, peak RSS ${mb(s.peakRssKb)}` : ""}`,
      );
    }
  }
  return samples;
}

interface Row {
  variant: string;
  seconds?: number;
  peer?: string;
  peerSeconds?: number;
  rssKb?: number;
}
const rows: Row[] = [];
function addRows(samples: Record<string, Sample[]>, peers: Record<string, string>) {
  const t = (n: string) => (samples[n]?.length ? median(samples[n]!.map((s) => s.seconds)) : undefined);
  for (const name of Object.keys(samples)) {
    const rss = Math.max(0, ...samples[name]!.map((s) => s.peakRssKb ?? 0));
    const peer = peers[name];
    rows.push({
      variant: name,
      seconds: t(name),
      ...(peer ? { peer, peerSeconds: t(peer) } : {}),
      ...(rss ? { rssKb: rss } : {}),
    });
  }
}
const seconds = (variant: string) => rows.find((r) => r.variant === variant)?.seconds;

try {
  const src = path.join(work, "src");
  const tree = await buildMediaTree(src, { files, totalBytes, largeFiles, seed });
  console.log(
    `# Tree: ${tree.files} files (${largeFiles} large), ${(tree.bytes / 1e9).toFixed(2)} GB, ${tree.dirs} directories, built in ${tree.seconds.toFixed(1)} s`,
  );
  console.log(
    `# lifeline: ${NODE24} ${lifelineArgv.join(" ")}; ${repeats} alternating repeats; warm page cache`,
  );

  // Start-up alone (module loading, and the tsx loader without --dist): part of every lifeline figure.
  addRows(
    await alternate("lifeline start-up (--help)", { "lifeline --help": () => lifeline(["--help"], {}) }, 1),
    {},
  );

  // First backup: every variant writes a fresh copy.
  const first = path.join(work, "first");
  const fresh = (name: string) => {
    rm(path.join(first, name));
    mkdirSync(first, { recursive: true });
    return path.join(first, name);
  };
  const media = (backupDir: string, ...flags: string[]) =>
    lifeline(["backup-media", ...flags], { MEDIA_SOURCE_DIR: src, MEDIA_BACKUP_DIR: backupDir });
  addRows(
    await alternate("First backup", {
      "lifeline backup-media (first)": () => media(fresh("lifeline")),
      "cp -a": () => timed("cp", ["-a", src, fresh("cp")], baseEnv),
      "rsync -a": () => timed("rsync", ["-a", `${src}/`, `${fresh("rsync")}/`], baseEnv),
    }),
    { "lifeline backup-media (first)": "cp -a" },
  );
  rm(first);

  // Incremental: each repeat changes 1 % of the files, then every tool takes its next snapshot.
  const inc = path.join(work, "inc");
  const ll = path.join(inc, "lifeline");
  const rs = (n: number) => path.join(inc, "rsync", String(n));
  mkdirSync(path.join(inc, "rsync"), { recursive: true });
  console.log("\n# Incremental baselines (untimed): lifeline, rsync -a, restic init + backup");
  const lifelineBase = await media(ll).catch((error: Error) =>
    console.log(`  lifeline baseline FAILED: ${error.message}`),
  );
  await timed("rsync", ["-a", `${src}/`, `${rs(0)}/`], baseEnv);
  await timed("restic", ["init"], resticEnv);
  await timed("restic", ["backup", "--quiet", "--host", "bench", src], resticEnv);
  let rsyncSnapshot = 0;
  const changed: number[] = [];
  addRows(
    await alternate(
      "Incremental, 1 % of files changed",
      {
        "lifeline backup-media (incremental)": () =>
          lifelineBase ? media(ll) : Promise.reject(new Error("no baseline")),
        "rsync -a --link-dest": () =>
          timed(
            "rsync",
            ["-a", `--link-dest=${rs(rsyncSnapshot)}`, `${src}/`, `${rs(rsyncSnapshot + 1)}/`],
            baseEnv,
          ),
        "restic backup": () => timed("restic", ["backup", "--quiet", "--host", "bench", src], resticEnv),
      },
      repeats,
      (r) => {
        if (r > 0) rsyncSnapshot++;
        const c = changeFraction(src, 0.01, seed + 100 + r);
        changed.push(c.changed + c.deleted + c.added);
        console.log(`  repeat ${r + 1}: ${c.changed} changed, ${c.deleted} deleted, ${c.added} added`);
      },
    ),
    {
      "lifeline backup-media (incremental)": "rsync -a --link-dest",
      "restic backup": "rsync -a --link-dest",
    },
  );

  addRows(
    await alternate("Verify (reads every byte)", {
      "lifeline verify --media": () =>
        lifelineBase
          ? lifeline(["verify", "--media"], { MEDIA_BACKUP_DIR: ll })
          : Promise.reject(new Error("no baseline")),
      "restic check --read-data": () => timed("restic", ["check", "--read-data"], resticEnv),
    }),
    { "lifeline verify --media": "restic check --read-data" },
  );

  // Retention: deleting one snapshot of N files (rsnapshot's known pain). Once each: it destroys.
  const oldestLifeline = (existsSync(ll) ? readdirSync(ll, { withFileTypes: true }) : [])
    .filter((e) => e.isDirectory() && /^media_\d{8}_\d{6}$/.test(e.name))
    .map((e) => e.name)
    .sort()[0];
  const [{ short_id: oldestRestic }] = JSON.parse(
    (await execFileAsync("restic", ["snapshots", "--json"], { env: resticEnv, maxBuffer: 1 << 24 })).stdout,
  ) as [{ short_id: string }];
  addRows(
    await alternate(
      `Retention: delete the oldest snapshot (${files} files)`,
      {
        "rm -rf lifeline snapshot": () =>
          oldestLifeline
            ? timed("rm", ["-rf", path.join(ll, oldestLifeline)], baseEnv)
            : Promise.reject(new Error("none")),
        "rm -rf rsync --link-dest snapshot": () => timed("rm", ["-rf", rs(0)], baseEnv),
        "restic forget --prune": () => timed("restic", ["forget", "--prune", oldestRestic], resticEnv),
      },
      1,
    ),
    { "rm -rf lifeline snapshot": "rm -rf rsync --link-dest snapshot" },
  );
  rm(inc);
  rm(path.join(work, "restic-repo"));

  if (values.million) await millionRun();

  console.log("\n| variant | median s | ratio vs peer | peak RSS |\n| --- | --- | --- | --- |");
  for (const r of rows) {
    const ratio = r.seconds && r.peerSeconds ? `${(r.seconds / r.peerSeconds).toFixed(2)}× ${r.peer}` : "—";
    console.log(`| ${r.variant} | ${r.seconds?.toFixed(2) ?? "failed"} | ${ratio} | ${mb(r.rssKb)} |`);
  }
  const ratio = (a: string, b: string) => {
    const x = seconds(a);
    const y = seconds(b);
    return x && y ? x / y : undefined;
  };
  const rss = (prefix: string) =>
    Math.max(0, ...rows.filter((r) => r.variant.startsWith(prefix)).map((r) => r.rssKb ?? 0)) / 1024 ||
    undefined;
  const targets: [string, number | undefined, number][] = [
    ["first backup ÷ cp -a", ratio("lifeline backup-media (first)", "cp -a"), 1.1],
    [
      "incremental ÷ rsync --link-dest",
      ratio("lifeline backup-media (incremental)", "rsync -a --link-dest"),
      0.5,
    ],
    [`peak RSS at ${files} files (MB)`, rss("lifeline backup-media ("), 100],
    ...(values.million
      ? [
          ["peak RSS at 1,000,000 files (MB)", rss("1M: lifeline"), 100] as [
            string,
            number | undefined,
            number,
          ],
        ]
      : []),
  ];
  console.log(`\n# Targets (issue 11)\n| measure | measured | target | |\n| --- | --- | --- | --- |`);
  for (const [label, value, target] of targets) {
    const verdict = value === undefined ? "not measured" : value <= target ? "met" : "NOT met";
    console.log(`| ${label} | ${value?.toFixed(2) ?? "—"} | ≤ ${target} | ${verdict} |`);
  }
} finally {
  rm(work);
}

/** 1,000,000 small files: lifeline's memory must not grow with the file count. Once each. */
async function millionRun() {
  const src = path.join(work, "million-src");
  const out = path.join(work, "million");
  const t = await buildMediaTree(src, {
    files: 1_000_000,
    totalBytes: 200_000_000,
    largeFiles: 0,
    seed: seed + 7,
  });
  console.log(`\n# 1,000,000 files, ${(t.bytes / 1e6).toFixed(0)} MB, built in ${t.seconds.toFixed(0)} s`);
  const ll = path.join(out, "lifeline");
  const env = { MEDIA_SOURCE_DIR: src, MEDIA_BACKUP_DIR: ll };
  const firstRun = await alternate(
    "1M: first backup",
    {
      "1M: lifeline backup-media (first)": () => lifeline(["backup-media"], env),
      "1M: cp -a": () => timed("cp", ["-a", src, path.join(out, "cp")], baseEnv),
      "1M: rsync -a": () => timed("rsync", ["-a", `${src}/`, `${path.join(out, "rsync-0")}/`], baseEnv),
    },
    1,
    () => {
      mkdirSync(out, { recursive: true });
    },
  );
  addRows(firstRun, { "1M: lifeline backup-media (first)": "1M: cp -a" });
  rm(path.join(out, "cp"));
  addRows(
    await alternate(
      "1M: incremental, 1 % changed",
      {
        "1M: lifeline backup-media (incremental)": () => lifeline(["backup-media"], env),
        "1M: rsync -a --link-dest": () =>
          timed(
            "rsync",
            ["-a", `--link-dest=${path.join(out, "rsync-0")}`, `${src}/`, `${path.join(out, "rsync-1")}/`],
            baseEnv,
          ),
      },
      1,
      () => void changeFraction(src, 0.01, seed + 200),
    ),
    { "1M: lifeline backup-media (incremental)": "1M: rsync -a --link-dest" },
  );
  const oldest = (existsSync(ll) ? readdirSync(ll) : [])
    .filter((n) => /^media_\d{8}_\d{6}$/.test(n))
    .sort()[0];
  addRows(
    await alternate(
      "1M: retention, delete the oldest snapshot",
      {
        "1M: rm -rf lifeline snapshot": () =>
          oldest ? timed("rm", ["-rf", path.join(ll, oldest)], baseEnv) : Promise.reject(new Error("none")),
        "1M: rm -rf rsync --link-dest snapshot": () =>
          timed("rm", ["-rf", path.join(out, "rsync-0")], baseEnv),
      },
      1,
    ),
    { "1M: rm -rf lifeline snapshot": "1M: rm -rf rsync --link-dest snapshot" },
  );
  rm(out);
  rm(src);
}
