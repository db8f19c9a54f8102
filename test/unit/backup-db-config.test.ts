import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ACTION_SETTINGS } from "../../scripts/gen-action-inputs.js";
import { BACKUP_DB_SETTINGS, loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup, firstOf, type SettingLookup } from "../../src/config/settings.js";
import { ConfigError } from "../../src/shared/errors.js";
import { LIFELINE_VERSION } from "../../src/version.js";

const env = (vars: Record<string, string>): SettingLookup => environmentLookup(vars);
const URL = "postgresql://u:p@h/transcripts";

describe("loadBackupDbConfig", () => {
  it("applies the runbook's defaults", () => {
    const c = loadBackupDbConfig(env({ DATABASE_URL: URL }));
    expect(c.backupDir).toBe("/backups");
    expect(c.compressionLevel).toBe(6);
    expect(c.retention).toEqual({ daily: 7, weekly: 4, monthly: 12 });
    expect(c.prefix).toBeUndefined();
    expect(c.connection.database).toBe("transcripts");
  });

  it("reads the runbook's environment variables", () => {
    const c = loadBackupDbConfig(
      env({
        DATABASE_URL: URL,
        BACKUP_DIR: "/srv/b",
        BACKUP_RETENTION_DAILY: "14",
        BACKUP_RETENTION_WEEKLY: "8",
        BACKUP_RETENTION_MONTHLY: "24",
        BACKUP_PREFIX: "prod-db",
      }),
    );
    expect(c).toMatchObject({
      backupDir: "/srv/b",
      prefix: "prod-db",
      retention: { daily: 14, weekly: 8, monthly: 24 },
    });
  });

  it("lets an earlier source (an input or flag) win over the environment", () => {
    const inputs: SettingLookup = (spec) =>
      spec.input === "backup-dir" ? { value: "/in", source: "input 'backup-dir'" } : undefined;
    expect(
      loadBackupDbConfig(firstOf(inputs, env({ DATABASE_URL: URL, BACKUP_DIR: "/env" }))).backupDir,
    ).toBe("/in");
  });

  it("treats an empty variable as unset", () => {
    expect(loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_DIR: "" })).backupDir).toBe("/backups");
  });

  it("names every way to set a missing DATABASE_URL", () => {
    expect(() => loadBackupDbConfig(env({}))).toThrow(ConfigError);
    expect(() => loadBackupDbConfig(env({}))).toThrow(
      /DATABASE_URL is not set: set --database-url or the environment variable DATABASE_URL/,
    );
  });

  it.each([
    [
      "BACKUP_RETENTION_DAILY",
      "seven",
      /Invalid BACKUP_RETENTION_DAILY 'seven'. Expected a whole number from 1 to 36500 \(days\)/,
    ],
    ["BACKUP_RETENTION_DAILY", "0", /Invalid BACKUP_RETENTION_DAILY '0'/],
    ["BACKUP_RETENTION_WEEKLY", "-1", /Invalid BACKUP_RETENTION_WEEKLY '-1'/],
    ["BACKUP_RETENTION_MONTHLY", "1.5", /Invalid BACKUP_RETENTION_MONTHLY '1.5'/],
    [
      "BACKUP_COMPRESSION_LEVEL",
      "10",
      /Invalid BACKUP_COMPRESSION_LEVEL '10'. Expected a whole number from 1 to 9/,
    ],
    ["BACKUP_ENCRYPT", "maybe", /Invalid BACKUP_ENCRYPT 'maybe'. Expected true or false/],
    ["BACKUP_PREFIX", "../etc", /Invalid BACKUP_PREFIX '..\/etc'/],
    ["BACKUP_COMPRESSION", "lz4", /Invalid BACKUP_COMPRESSION 'lz4'. Expected one of: gzip, zstd, none/],
    ["BACKUP_FORMAT", "tar", /Invalid BACKUP_FORMAT 'tar'. Expected one of: plain, custom/],
    ["BACKUP_ROW_COUNTS", "some", /Invalid BACKUP_ROW_COUNTS 'some'. Expected one of: exact, estimated, off/],
    ["BACKUP_WEEKLY_DAY", "funday", /Invalid BACKUP_WEEKLY_DAY 'funday'. Expected a day name/],
    ["BACKUP_MONTHLY_DAY", "31", /Invalid BACKUP_MONTHLY_DAY '31'. Expected a whole number from 1 to 28/],
    [
      "PUSHGATEWAY_URL",
      "pushgateway:9091",
      /Invalid PUSHGATEWAY_URL 'pushgateway:9091'. Expected an http\(s\) URL/,
    ],
    ["PUSHGATEWAY_JOB", "my job", /Invalid PUSHGATEWAY_JOB 'my job'/],
    ["BACKUP_MAX_AGE_HOURS", "0", /Invalid BACKUP_MAX_AGE_HOURS '0'/],
  ])("rejects %s=%s", (name, value, message) => {
    expect(() => loadBackupDbConfig(env({ DATABASE_URL: URL, [name]: value }))).toThrow(message);
  });

  it("configures no cloud destination unless a bucket or container is named", () => {
    expect(loadBackupDbConfig(env({ DATABASE_URL: URL })).destinations).toEqual([]);
  });
});

describe("compression, format and encryption settings", () => {
  it("defaults the level by compression and checks it against that compression's range", () => {
    expect(loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_COMPRESSION: "zstd" })).compressionLevel).toBe(
      3,
    );
    expect(
      loadBackupDbConfig(
        env({ DATABASE_URL: URL, BACKUP_COMPRESSION: "zstd", BACKUP_COMPRESSION_LEVEL: "19" }),
      ).compressionLevel,
    ).toBe(19);
    expect(() => loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_COMPRESSION_LEVEL: "12" }))).toThrow(
      "Invalid BACKUP_COMPRESSION_LEVEL '12'. Expected a whole number from 1 to 9 for gzip",
    );
    expect(() => loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_COMPRESSION_LEVEL: "abc" }))).toThrow(
      "Invalid BACKUP_COMPRESSION_LEVEL 'abc'",
    );
    expect(() =>
      loadBackupDbConfig(
        env({ DATABASE_URL: URL, BACKUP_COMPRESSION: "none", BACKUP_COMPRESSION_LEVEL: "3" }),
      ),
    ).toThrow(/compression is none, so no level applies/);
  });

  it("refuses custom format with zstd, which pg_dump 15 cannot write", () => {
    expect(() =>
      loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_FORMAT: "custom", BACKUP_COMPRESSION: "zstd" })),
    ).toThrow(/custom-format dumps are compressed by pg_dump itself/);
  });

  it("needs a recipient or a public key to encrypt, and refuses a recipient without encryption", () => {
    expect(() => loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_ENCRYPT: "true" }))).toThrow(
      /BACKUP_ENCRYPT is true but no recipient is given: set BACKUP_GPG_RECIPIENT/,
    );
    expect(() =>
      loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_GPG_RECIPIENT: "ops@example.com" })),
    ).toThrow(/BACKUP_ENCRYPT is not true/);
    expect(
      loadBackupDbConfig(
        env({ DATABASE_URL: URL, BACKUP_ENCRYPT: "yes", BACKUP_GPG_RECIPIENT: "ops@example.com" }),
      ).encryption,
    ).toEqual({
      recipient: "ops@example.com",
      publicKey: undefined,
    });
  });

  it("reads weekday names and numbers", () => {
    expect(loadBackupDbConfig(env({ DATABASE_URL: URL })).schedule).toEqual({ weeklyDay: 0, monthlyDay: 1 });
    expect(loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_WEEKLY_DAY: "Sat" })).schedule.weeklyDay).toBe(
      6,
    );
    expect(loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_WEEKLY_DAY: "3" })).schedule.weeklyDay).toBe(3);
  });
});

describe("catch-up bounds", () => {
  it("default to 10 backups and 10 GiB per destination and run, and are validated", () => {
    expect(loadBackupDbConfig(env({ DATABASE_URL: URL })).catchUp).toEqual({
      maxFiles: 10,
      maxBytes: 10240 * 1024 * 1024,
    });
    expect(
      loadBackupDbConfig(
        env({ DATABASE_URL: URL, BACKUP_CATCHUP_MAX_FILES: "0", BACKUP_CATCHUP_MAX_MB: "512" }),
      ).catchUp,
    ).toEqual({ maxFiles: 0, maxBytes: 512 * 1024 * 1024 });
    expect(() => loadBackupDbConfig(env({ DATABASE_URL: URL, BACKUP_CATCHUP_MAX_MB: "-1" }))).toThrow(
      /Invalid BACKUP_CATCHUP_MAX_MB '-1'\. Expected a whole number from 0 to \d+ \(MiB\)/,
    );
  });
});

describe("action metadata", () => {
  const inputsOf = (file: string) => Object.keys(parse(readFileSync(file, "utf8")).inputs as object);
  const expected = Object.values(BACKUP_DB_SETTINGS).map((s) => s.input);

  it("actions/backup-db/action.yml declares exactly the settings, without defaults that would hide env vars", () => {
    const meta = parse(readFileSync("actions/backup-db/action.yml", "utf8"));
    expect(inputsOf("actions/backup-db/action.yml").sort()).toEqual([...expected].sort());
    for (const input of Object.values(meta.inputs as Record<string, { default?: string }>)) {
      expect(input.default).toBeUndefined();
    }
    expect(meta.runs).toEqual({ using: "node24", main: "../../dist/backup-db/index.js" });
  });

  it("the root action.yml takes command plus every setting of every command, once each", () => {
    const all = ACTION_SETTINGS["action.yml"]!.map((s) => s.input);
    expect(inputsOf("action.yml").sort()).toEqual(["command", ...all].sort());
    for (const input of expected) expect(all).toContain(input);
  });

  it("keeps src/version.ts equal to package.json", () => {
    expect(LIFELINE_VERSION).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
  });
});
