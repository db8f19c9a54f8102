import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { actionLookup } from "../../src/actions/shared/runtime.js";
import { startCommand } from "../../src/cli/args.js";
import { main } from "../../src/cli/main.js";
import { BACKUP_DB_SETTINGS, loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { loadRestoreConfig, RESTORE_SETTINGS } from "../../src/config/restore-config.js";
import type { SettingLookup } from "../../src/config/settings.js";
import { loadVerifyConfig, VERIFY_SETTINGS } from "../../src/config/verify-config.js";
import { Logger } from "../../src/log/logger.js";
import { ConfigError } from "../../src/shared/errors.js";

const URL = "postgresql://u:p@db:5432/transcripts";
const DATABASE_URL_HELP =
  "(PostgreSQL connection string, e.g. postgresql://user:password@host:5432/transcripts)";
const PREFIX_RULE = "Use letters, digits, '.', '_' and '-' only";

/** The settings the CLI sees for `argv` and `env`, looked up as every command does (flag, then variable). */
function cli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
  settings: typeof BACKUP_DB_SETTINGS | typeof VERIFY_SETTINGS | typeof RESTORE_SETTINGS = BACKUP_DB_SETTINGS,
): SettingLookup {
  const logger = new Logger({ write: () => {} });
  const started = startCommand(
    argv,
    { settings, switches: [], help: "" },
    { logger, out: new PassThrough(), env },
  );
  if (!started) throw new Error("--help answered");
  return started.lookup;
}

/** The settings the action sees for its inputs (as the runner passes them, INPUT_*) and `env`. */
function action(inputs: Record<string, string>, env: NodeJS.ProcessEnv = {}): SettingLookup {
  for (const [name, value] of Object.entries(inputs)) vi.stubEnv(`INPUT_${name.toUpperCase()}`, value);
  return actionLookup(env);
}

/** The message `load` fails with; fails the test when it does not throw a ConfigError. */
function failure(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("a missing required setting names every way this caller can set it", () => {
  it("CLI: the flag, then the environment variable", () => {
    expect(failure(() => loadBackupDbConfig(cli(["--backup-dir", "/tmp/x"]), {}))).toBe(
      `DATABASE_URL is not set: set --database-url or the environment variable DATABASE_URL ${DATABASE_URL_HELP}`,
    );
  });

  it("action: the input, then the environment variable", () => {
    expect(failure(() => loadBackupDbConfig(action({ "backup-dir": "/tmp/x" }), {}))).toBe(
      `DATABASE_URL is not set: set the input 'database-url' or the environment variable DATABASE_URL ${DATABASE_URL_HELP}`,
    );
  });

  it("the reason it is needed names the setting that needs it, the caller's way", () => {
    expect(failure(() => loadVerifyConfig(cli(["--test-restore"], {}, VERIFY_SETTINGS)))).toMatch(
      / — --test-restore needs a server to create the scratch database on$/,
    );
    expect(failure(() => loadVerifyConfig(action({ "test-restore": "true" })))).toMatch(
      /^DATABASE_URL is not set: set the input 'database-url' or the environment variable DATABASE_URL .* — input 'test-restore' needs a server to create the scratch database on$/,
    );
  });

  it("the CLI's own stderr line and exit status say it too (src/cli/main)", async () => {
    vi.stubEnv("DATABASE_URL", "");
    const out = new PassThrough();
    const err = new PassThrough();
    let stderr = "";
    err.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const code = await main(["backup-db", "--backup-dir", "/tmp/never"], { out, err });
    expect(code).toBe(78);
    expect(stderr.trim().split("\n")).toEqual([
      `lifeline backup-db: DATABASE_URL is not set: set --database-url or the environment variable DATABASE_URL ${DATABASE_URL_HELP}`,
    ]);
  });
});

describe("a malformed value is named as the user gave it", () => {
  it("by flag", () => {
    expect(failure(() => loadBackupDbConfig(cli(["--database-url", URL, "--prefix", "../etc"]), {}))).toBe(
      `Invalid --prefix '../etc'. ${PREFIX_RULE}`,
    );
  });

  it("by environment variable, on the command line and in an action", () => {
    const env = { DATABASE_URL: URL, BACKUP_PREFIX: "../etc" };
    expect(failure(() => loadBackupDbConfig(cli([], env), env))).toBe(
      `Invalid BACKUP_PREFIX '../etc'. ${PREFIX_RULE}`,
    );
    expect(failure(() => loadBackupDbConfig(action({}, env), env))).toBe(
      `Invalid BACKUP_PREFIX '../etc'. ${PREFIX_RULE}`,
    );
  });

  it("by input", () => {
    expect(failure(() => loadBackupDbConfig(action({ "database-url": URL, prefix: "../etc" }), {}))).toBe(
      `Invalid input 'prefix' '../etc'. ${PREFIX_RULE}`,
    );
  });

  it("a flag wins over the variable, and is the one named", () => {
    const env = { DATABASE_URL: URL, BACKUP_RETENTION_DAILY: "7" };
    expect(failure(() => loadBackupDbConfig(cli(["--retention-daily", "a week"], env), env))).toBe(
      "Invalid --retention-daily 'a week'. Expected a whole number from 1 to 36500 (days)",
    );
  });
});

describe("the Azure account messages", () => {
  it("a container without a storage account: CLI", () => {
    expect(
      failure(() => loadBackupDbConfig(cli(["--database-url", URL, "--azure-container", "c-1"]), {})),
    ).toBe(
      "--azure-container is set but no storage account is: set AZURE_STORAGE_CONNECTION_STRING, or " +
        "AZURE_STORAGE_ACCOUNT (--azure-account) with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or an Entra ID sign-in",
    );
  });

  it("a container without a storage account: action", () => {
    expect(
      failure(() => loadBackupDbConfig(action({ "database-url": URL, "azure-container": "c-1" }), {})),
    ).toBe(
      "input 'azure-container' is set but no storage account is: set AZURE_STORAGE_CONNECTION_STRING, or " +
        "AZURE_STORAGE_ACCOUNT (input 'azure-account') with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or an Entra ID sign-in",
    );
  });

  it("a shared key without the account's name, each caller's way", () => {
    const env = { DATABASE_URL: URL, BACKUP_AZURE_CONTAINER: "c-1", AZURE_STORAGE_KEY: "a2V5a2V5a2V5" };
    const endpoint = "http://127.0.0.1:10000/devstoreaccount1";
    expect(failure(() => loadBackupDbConfig(cli(["--azure-endpoint", endpoint], env), env))).toBe(
      "AZURE_STORAGE_KEY needs the name of its storage account: set --azure-account or the environment variable AZURE_STORAGE_ACCOUNT",
    );
    expect(failure(() => loadBackupDbConfig(action({ "azure-endpoint": endpoint }, env), env))).toBe(
      "AZURE_STORAGE_KEY needs the name of its storage account: set the input 'azure-account' or the environment variable AZURE_STORAGE_ACCOUNT",
    );
  });
});

describe("settings that go together are named the caller's way", () => {
  it("encryption without a recipient, set by variable in an action", () => {
    const env = { DATABASE_URL: URL, BACKUP_ENCRYPT: "true" };
    expect(failure(() => loadBackupDbConfig(action({}, env), env))).toBe(
      "BACKUP_ENCRYPT is true but no recipient is given: set BACKUP_GPG_RECIPIENT (input 'gpg-recipient') to a key " +
        "in the keyring, or give the public key in BACKUP_GPG_PUBLIC_KEY (input 'gpg-public-key')",
    );
  });

  it("a recipient without encryption", () => {
    expect(
      failure(() =>
        loadBackupDbConfig(cli(["--database-url", URL, "--gpg-recipient", "ops@example.com"]), {}),
      ),
    ).toBe(
      "A GPG recipient or public key is set (--gpg-recipient) but BACKUP_ENCRYPT is not true: add --encrypt to encrypt, or remove --gpg-recipient",
    );
    expect(
      failure(() =>
        loadBackupDbConfig(action({ "database-url": URL, "gpg-recipient": "ops@example.com" }), {}),
      ),
    ).toBe(
      "A GPG recipient or public key is set (input 'gpg-recipient') but BACKUP_ENCRYPT is not true: set the input 'encrypt' to true to encrypt, or remove input 'gpg-recipient'",
    );
  });

  it("a target time without pitr", () => {
    const time = "2024-10-26 01:30:00";
    expect(
      failure(() =>
        loadRestoreConfig(
          cli(
            ["--database-url", URL, "--backup-file", "/b.sql.gz", "--target-time", time],
            {},
            RESTORE_SETTINGS,
          ),
        ),
      ),
    ).toBe("RESTORE_TARGET_TIME (--target-time) is only used with --pitr: add --pitr, or unset it");
    expect(
      failure(() =>
        loadRestoreConfig(action({ "database-url": URL, "backup-file": "/b.sql.gz", "target-time": time })),
      ),
    ).toBe(
      "RESTORE_TARGET_TIME (input 'target-time') is only used with input 'pitr': set the input 'pitr' to true, or unset it",
    );
  });
});

describe("the engine's own errors can name a setting the caller's way", () => {
  it("settingLabel of the backup configuration", () => {
    const env = { DATABASE_URL: URL };
    expect(loadBackupDbConfig(cli([], env), env).settingLabel("prefix")).toBe("BACKUP_PREFIX (--prefix)");
    expect(loadBackupDbConfig(action({}, env), env).settingLabel("gpgPublicKey")).toBe(
      "BACKUP_GPG_PUBLIC_KEY (input 'gpg-public-key')",
    );
  });
});

describe("the engine's advice after loading names settings the caller's way", () => {
  const restoreOf = (lookup: SettingLookup) => loadRestoreConfig(lookup);

  it("pitr's 'no backup before the target' and a missing backup file: flags on the command line, inputs in an action", async () => {
    const { noBackupBeforeTarget } = await import("../../src/restore/pitr.js");
    const advice = (config: ReturnType<typeof restoreOf>) =>
      noBackupBeforeTarget(
        [
          { uri: "/b/daily/app_daily_20241024_020000.sql.gz", takenAt: new Date("2024-10-24T02:00:00Z") },
        ] as never,
        new Date("2024-10-20T00:00:00Z"),
        "/b",
        "app",
        {
          targetTime: config.settingName("targetTime"),
          backupFile: config.settingName("backupFile"),
          listBackups: config.settingEnable("listBackups"),
        },
      ).message;
    const fromCli = restoreOf(
      cli(
        ["--backup-dir", "/b", "--pitr", "--target-time", "2024-10-20 00:00:00"],
        { DATABASE_URL: URL },
        RESTORE_SETTINGS,
      ),
    );
    expect(advice(fromCli)).toContain("Either give a --target-time at or after 2024-10-24 02:00:00 UTC");
    expect(advice(fromCli)).toContain("with --backup-file /b/daily/app_daily_20241024_020000.sql.gz");
    const fromAction = restoreOf(
      action(
        { "backup-dir": "/b", pitr: "true", "target-time": "2024-10-20 00:00:00" },
        { DATABASE_URL: URL },
      ),
    );
    expect(advice(fromAction)).toContain("Either give an input 'target-time' at or after");
    expect(advice(fromAction)).toContain(
      "with input 'backup-file' /b/daily/app_daily_20241024_020000.sql.gz",
    );
    expect(fromAction.settingEnable("listBackups")).toBe("set the input 'list-backups' to true");
    expect(fromCli.settingEnable("listBackups")).toBe("add --list-backups");
  });
});

describe("nothing the user typed by mistake is echoed when it may be a secret", () => {
  async function stderrOf(argv: string[]): Promise<{ code: number; stderr: string }> {
    const out = new PassThrough();
    const err = new PassThrough();
    let stderr = "";
    err.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const code = await main(argv, { out, err });
    return { code, stderr };
  }

  it("a value given to a switch (--test-restore <url>) is named by position, never shown", async () => {
    const secret = "secretpw123456";
    const { code, stderr } = await stderrOf([
      "verify",
      "--backup-dir",
      "/tmp/never",
      "--test-restore",
      `postgresql://u:${secret}@h/db`,
    ]);
    expect(code).toBe(64);
    expect(stderr).not.toContain(secret);
    expect(stderr).toContain("Argument 4 is not a flag");
  });

  it("a BACKUP_FILE URI is quoted without its query string or user info", async () => {
    const { shownUri } = await import("../../src/catalog/backup-source.js");
    expect(shownUri("https://acct.blob.core.windows.net/c/x.sql.gz?sv=2022&sig=SIGSECRETVALUE")).toBe(
      "https://acct.blob.core.windows.net/c/x.sql.gz?… (query not shown)",
    );
    expect(shownUri("s3://key:secret@bucket/x.sql.gz")).toBe("s3://***@bucket/x.sql.gz");
    expect(shownUri("/backups/daily/app_daily_20241024_020000.sql.gz")).toBe(
      "/backups/daily/app_daily_20241024_020000.sql.gz",
    );
    const { stderr } = await stderrOf([
      "restore",
      "--backup-dir",
      "/tmp/never",
      "--backup-file",
      "https://acct.blob.core.windows.net/c/x.txt?sv=2022&sig=SIGSECRETVALUE",
      "--database-url",
      URL,
      "--force",
    ]);
    expect(stderr).toContain("BACKUP_FILE 'https://acct.blob.core.windows.net/c/x.txt?… (query not shown)'");
    expect(stderr).not.toContain("SIGSECRETVALUE");
  });

  it("verify's test restore advises restore's listing the caller's way", () => {
    const env = { DATABASE_URL: URL } as NodeJS.ProcessEnv;
    expect(loadVerifyConfig(cli(["--backup-dir", "/b"], env, VERIFY_SETTINGS)).listAdvice).toBe(
      "run restore and add --list-backups",
    );
    expect(loadVerifyConfig(action({ "backup-dir": "/b" })).listAdvice).toBe(
      "run restore and set the input 'list-backups' to true",
    );
  });
});
