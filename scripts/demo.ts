// The README's first command: a throwaway PostgreSQL with a small transcripts schema, backed up by
// the committed CLI bundle under Node 24, checked (sha256sum -c, gzip -t) and restored with stock
// tools into a second database whose rows are compared with the source.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { restoreWithStockTools } from "../test/support/fixtures.js";
import { NODE24 } from "../test/support/run-action.js";
import { fingerprint, seedTranscripts } from "../test/support/seed.js";
import { startPostgres } from "../test/support/services/postgres.js";

const backupDir = path.resolve(".tmp/demo/backups");
const step = (text: string) => console.log(`\n\x1b[1m== ${text}\x1b[0m`);

rmSync(backupDir, { recursive: true, force: true });
mkdirSync(backupDir, { recursive: true });

step("Starting a throwaway PostgreSQL 15 (private cluster, scram-sha-256 password auth)");
const pg = await startPostgres();
let ok = false;
try {
  await pg.createDatabase("transcripts");
  await seedTranscripts(pg, "transcripts", 5000);
  const source = await fingerprint(pg, "transcripts");
  console.log(
    `listening on ${pg.host}:${pg.port}; tables: ${Object.entries(source)
      .map(([t, f]) => `${t}=${f.split(":")[0]} rows`)
      .join(", ")}`,
  );

  step("lifeline backup-db (dist/cli/index.js under Node 24), DATABASE_URL in the runbook's SQLAlchemy form");
  const url = pg.url("transcripts").replace("postgresql://", "postgresql+psycopg://");
  const out = execFileSync(NODE24, ["dist/cli/index.js", "backup-db", "--json"], {
    env: { PATH: process.env.PATH, DATABASE_URL: url, BACKUP_DIR: backupDir },
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });
  const result = JSON.parse(out) as { file: string; sidecarFile: string; manifestFile: string };

  step("Backup directory");
  console.log(execFileSync("ls", ["-lR", backupDir], { encoding: "utf8" }));

  step("Checksum sidecar, checked by stock sha256sum -c and gzip -t");
  console.log(readFileSync(result.sidecarFile, "utf8").trim());
  console.log(
    execFileSync("sha256sum", ["-c", path.basename(result.sidecarFile)], {
      cwd: path.dirname(result.file),
      encoding: "utf8",
    }).trim(),
  );
  execFileSync("gzip", ["-t", result.file]);
  console.log(`gzip -t ${path.basename(result.file)}: OK`);

  step("Manifest");
  console.log(readFileSync(result.manifestFile, "utf8").trim());

  step("Restore with stock tools (gunzip -c | psql) into transcripts_restored, then compare every table");
  await pg.createDatabase("transcripts_restored");
  await restoreWithStockTools(pg, result.file, "transcripts_restored");
  const restored = await fingerprint(pg, "transcripts_restored");
  for (const [table, print] of Object.entries(source)) {
    const same = restored[table] === print;
    console.log(
      `${same ? "OK  " : "DIFF"} ${table}: ${print.split(":")[0]} rows, content md5 ${print.split(":")[1]}`,
    );
  }
  ok = JSON.stringify(restored) === JSON.stringify(source);
  console.log(
    ok
      ? "\nDemo passed: backed up, verified and restored; the restored data equals the source."
      : "\nDemo FAILED: data differs",
  );
  console.log(`Backups kept in ${backupDir}; the throwaway cluster is removed.`);
} finally {
  await pg.stop();
}
process.exit(ok ? 0 : 1);
