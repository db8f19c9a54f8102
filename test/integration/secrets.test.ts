import { execFile } from "node:child_process";
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { usePostgres, useTempDirs } from "../support/fixtures.js";
import { makeGpgKey } from "../support/gpg.js";
import { NODE24, runAction } from "../support/run-action.js";
import { freePort } from "../support/services/service.js";

const execFileAsync = promisify(execFile);
const postgres = usePostgres();
const tempDir = useTempDirs();

const SECRET = "Hunter2-s3cret";

/** Runs the CLI from source with only the given environment. */
async function lifeline(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await execFileAsync(NODE24, ["--import", "tsx", "src/cli/index.ts", ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The lines of an action's stdout other than the `::add-mask::` commands the runner consumes. */
const shownLines = (stdout: string) => stdout.split("\n").filter((l) => !l.startsWith("::add-mask::"));

describe("a DATABASE_URL without '//' never shows its password", () => {
  const url = async () => `postgresql:app:${SECRET}@127.0.0.1:${await freePort()}/transcripts`;

  it("in the CLI's stderr, for every command", async () => {
    const dir = await tempDir("sec");
    for (const args of [
      ["backup-db"],
      ["verify", "--test-restore"],
      ["restore", "--backup-file", "x.sql.gz"],
    ]) {
      const r = await lifeline([...args, "--backup-dir", dir], { DATABASE_URL: await url() });
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toContain("'postgresql:' is not followed by '//'");
      expect(r.stderr).not.toContain(SECRET);
    }
  });

  it.each([
    ["actions/backup-db/action.yml", {}],
    ["actions/verify/action.yml", { "test-restore": "true" }],
    [
      "actions/restore/action.yml",
      { "backup-file": "/nowhere/x_daily_20240101_000000.sql.gz", confirm: "x" },
    ],
  ])("in %s's log, ::error:: and job summary, masked before anything is logged", async (action, inputs) => {
    const dir = await tempDir("secact");
    const run = await runAction(action, { "database-url": await url(), "backup-dir": dir, ...inputs });
    expect(run.code).not.toBe(0);
    expect(run.stdout).toContain(`::add-mask::${SECRET}`);
    const firstMask = run.stdout.indexOf("::add-mask::");
    expect(run.stdout.slice(0, firstMask).trim(), "logged before the mask").toBe("");
    const shown = shownLines(run.stdout).join("\n");
    expect(shown).toMatch(/::error::/);
    expect(shown).not.toContain(SECRET);
    expect(run.stderr).not.toContain(SECRET);
    expect(run.summary).not.toContain(SECRET);
  });
});

describe("--database-url on the command line", () => {
  it("warns that argv is readable by others, suggests DATABASE_URL or a PGPASSFILE, and masks it", async () => {
    const dir = await tempDir("secflag");
    const r = await lifeline(
      [
        "backup-db",
        "--database-url",
        `postgresql://app:${SECRET}@127.0.0.1:${await freePort()}/db`,
        "--backup-dir",
        dir,
      ],
      {},
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /WARN .*--database-url puts a secret on Lifeline's command line, which other users/,
    );
    expect(r.stderr).toMatch(/DATABASE_URL instead, or .*PGPASSFILE/);
    expect(r.stderr).not.toContain(SECRET);
    const quiet = await lifeline(["backup-db", "--backup-dir", dir], {
      DATABASE_URL: `postgresql://app:${SECRET}@127.0.0.1:${await freePort()}/db`,
    });
    expect(quiet.stderr).not.toMatch(/command line/);
  });
});

describe("a secret key given as BACKUP_GPG_PUBLIC_KEY", () => {
  it("is refused before anything is dumped, saying to give the public key, and is never shown", async () => {
    const key = await makeGpgKey("secret-as-public@lifeline.test");
    const { stdout: secretKey } = await execFileAsync("gpg", [
      "--homedir",
      key.home,
      "--batch",
      "--armor",
      "--export-secret-keys",
      key.email,
    ]);
    const body = secretKey.split("\n").filter((l) => l.length > 40 && !l.startsWith("-"));
    const dir = await tempDir("secgpg");
    const run = await runAction("actions/backup-db/action.yml", {
      "database-url": postgres().url("postgres"),
      "backup-dir": dir,
      encrypt: "true",
      "gpg-public-key": secretKey,
    });
    expect(run.code).not.toBe(0);
    const shown = shownLines(run.stdout).join("\n");
    expect(shown).toMatch(/::error::.*holds a SECRET key block.*gpg --armor --export <recipient>/);
    for (const line of body) {
      expect(run.stdout).toContain(`::add-mask::${line}`);
      expect(shown).not.toContain(line);
      expect(run.summary).not.toContain(line);
    }
  });
});

describe("child processes get no secret they do not need", () => {
  it("pg_dump and gpg run without DATABASE_URL, cloud secrets or gpg keys; pg_dump keeps PGPASSWORD", async () => {
    const pg = postgres();
    const key = await makeGpgKey("childenv@lifeline.test");
    const dir = await tempDir("secenv");
    const wrappers = await tempDir("secwrap");
    // Wrappers that record the environment and argv a real child was started with, then run it.
    const realPgDump = (
      await execFileAsync("bash", ["-c", "ls /usr/lib/postgresql/*/bin/pg_dump | sort -V | tail -1"])
    ).stdout.trim();
    for (const [name, real] of [
      ["pg_dump", realPgDump],
      ["gpg", "/usr/bin/gpg"],
    ] as const) {
      const script = path.join(wrappers, name);
      await writeFile(
        script,
        `#!/bin/sh\n{ env; echo "ARGV: $*"; echo ---; } >> "${wrappers}/${name}.env"\nexec ${real} "$@"\n`,
      );
      await chmod(script, 0o755);
    }
    const r = await lifeline(["backup-db"], {
      PATH: `${wrappers}:${process.env.PATH ?? ""}`,
      PG_BIN_DIR: wrappers,
      DATABASE_URL: pg.url("postgres"),
      BACKUP_DIR: dir,
      BACKUP_ENCRYPT: "true",
      BACKUP_GPG_PUBLIC_KEY: key.publicKey,
      AWS_SECRET_ACCESS_KEY: "aws-secret-value",
      AZURE_STORAGE_KEY: "azure-secret-value",
      GOOGLE_APPLICATION_CREDENTIALS: "/secret/gcs.json",
      BACKUP_GPG_PRIVATE_KEY: "not-needed-secret-key",
    });
    expect(r.code, r.stderr).toBe(0);
    const pgDumpEnv = await readFile(path.join(wrappers, "pg_dump.env"), "utf8");
    const gpgEnv = await readFile(path.join(wrappers, "gpg.env"), "utf8");
    for (const [name, env] of [
      ["pg_dump", pgDumpEnv],
      ["gpg", gpgEnv],
    ] as const) {
      for (const secret of [
        "aws-secret-value",
        "azure-secret-value",
        "/secret/gcs.json",
        "not-needed-secret-key",
      ])
        expect(env, `${name} got ${secret}`).not.toContain(secret);
      expect(env, name).not.toMatch(/^DATABASE_URL=/m);
      expect(env, name).not.toContain("BEGIN PGP PUBLIC KEY BLOCK");
    }
    expect(pgDumpEnv).toContain(`PGPASSWORD=${pg.password}`);
    // Every gpg run is kept off the network: no key lookups (WKD, keyservers), no dirmngr.
    const gpgRuns = gpgEnv.split("\n").filter((l) => l.startsWith("ARGV: "));
    expect(gpgRuns.length).toBeGreaterThan(1);
    for (const argv of gpgRuns) expect(argv).toContain("--disable-dirmngr");
    expect(
      gpgRuns.filter((a) => a.includes("--encrypt")).every((a) => a.includes("--no-auto-key-locate")),
    ).toBe(true);
  });
});

describe("gpg never goes to the network for a key", () => {
  it("a recipient whose local key is unusable fails at once, without asking WKD or a keyserver", async () => {
    const { createServer } = await import("node:net");
    const { GpgEncryptor } = await import("../../src/crypto/gpg.js");
    // A keyserver that accepts connections and never answers: a lookup would hang on it.
    let connections = 0;
    const blackHole = createServer((socket) => {
      connections++;
      socket.on("error", () => {});
    });
    await new Promise<void>((r) => blackHole.listen(0, "127.0.0.1", r));
    const port = (blackHole.address() as { port: number }).port;
    const key = await makeGpgKey("expired@lifeline.test", { expired: true });
    await writeFile(
      path.join(key.home, "gpg.conf"),
      `keyserver hkp://127.0.0.1:${port}\nauto-key-locate local,wkd,keyserver\nauto-key-retrieve\n`,
    );
    const saved = process.env.GNUPGHOME;
    process.env.GNUPGHOME = key.home;
    const started = Date.now();
    try {
      const err = await GpgEncryptor.prepare({ recipient: key.email, publicKey: undefined }).catch(
        (e: Error) => e,
      );
      expect((err as Error).message).toMatch(/cannot encrypt/);
    } finally {
      if (saved === undefined) delete process.env.GNUPGHOME;
      else process.env.GNUPGHOME = saved;
      blackHole.close();
    }
    expect(connections).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 20_000);
});
