#!/usr/bin/env node
// Runs the whole vitest suite (unit and integration against real servers) and ends with one plain
// line, "tests: N passed, N failed, N skipped", that CI reads. Extra arguments go to vitest.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const report = path.join(root, ".tmp", "vitest-report.json");
mkdirSync(path.dirname(report), { recursive: true });
rmSync(report, { force: true });

const started = Date.now();
const run = spawnSync(
  process.execPath,
  [
    path.join(root, "node_modules/vitest/vitest.mjs"),
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: "inherit" },
);

let counts;
try {
  const r = JSON.parse(readFileSync(report, "utf8"));
  counts = {
    passed: r.numPassedTests,
    failed: r.numFailedTests,
    skipped: r.numPendingTests + r.numTodoTests,
    total: r.numTotalTests,
  };
} catch {
  console.error("tests: vitest wrote no report; see its output above");
  process.exit(run.status || 1);
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(
  `\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (${seconds} s, node ${process.version})`,
);
if (counts.total === 0) {
  console.error("tests: no test ran");
  process.exit(1);
}
process.exit(run.status ?? 1);
