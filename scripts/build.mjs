#!/usr/bin/env node
// Bundles every action entry with ncc into dist/<name>/ (ESM chunks plus a package.json that marks
// them as modules). With --check, builds into a temporary directory and fails if dist/ differs.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// @azure/identity imports the `open` package (and ncc then ships its 32 KB xdg-open script) only for
// interactive browser sign-in, which DefaultAzureCredential never uses: left out of the bundles.
const EXTERNALS = ["open"];
const ENTRIES = {
  "backup-db": "src/actions/backup-db/index.ts",
  "backup-media": "src/actions/backup-media/index.ts",
  verify: "src/actions/verify/index.ts",
  restore: "src/actions/restore/index.ts",
  lifeline: "src/actions/lifeline/index.ts",
  cli: "src/cli/index.ts",
};

function build(outRoot) {
  const ncc = path.join(root, "node_modules/@vercel/ncc/dist/ncc/cli.js");
  for (const [name, entry] of Object.entries(ENTRIES)) {
    const out = path.join(outRoot, name);
    rmSync(out, { recursive: true, force: true });
    execFileSync(
      process.execPath,
      [
        ncc,
        "build",
        path.join(root, entry),
        "-o",
        out,
        "--quiet",
        "--target",
        "es2023",
        ...EXTERNALS.flatMap((m) => ["-e", m]),
      ],
      {
        cwd: root,
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
    writeFileSync(path.join(out, "package.json"), `${JSON.stringify({ type: "module" }, null, 2)}\n`);
  }
}

function listFiles(dir, prefix = "") {
  const files = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) files.push(...listFiles(full, path.join(prefix, name)));
    else files.push(path.join(prefix, name));
  }
  return files;
}

const dist = path.join(root, "dist");
if (process.argv.includes("--check")) {
  const tmp = mkdtempSync(path.join(tmpdir(), "lifeline-dist-"));
  try {
    build(tmp);
    const fresh = listFiles(tmp);
    const committed = listFiles(dist).filter((f) => Object.keys(ENTRIES).includes(f.split(path.sep)[0]));
    const differ = [...new Set([...fresh, ...committed])].filter((f) => {
      try {
        return !readFileSync(path.join(tmp, f)).equals(readFileSync(path.join(dist, f)));
      } catch {
        return true;
      }
    });
    if (differ.length) {
      console.error(`dist/ is out of date; these files differ from a fresh build:\n  ${differ.join("\n  ")}`);
      console.error("Run 'npm run build' and commit dist/.");
      process.exit(1);
    }
    console.log(`check-dist: dist/ matches a fresh build (${fresh.length} files)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  mkdirSync(dist, { recursive: true });
  build(dist);
  console.log(
    `built: ${Object.keys(ENTRIES)
      .map((n) => `dist/${n}`)
      .join(", ")}`,
  );
}
