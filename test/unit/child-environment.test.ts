import { describe, expect, it } from "vitest";
import { childEnvironment, childKindOf } from "../../src/process/child-stage.js";

describe("childEnvironment", () => {
  it("withholds Lifeline's secrets, action inputs, cloud and runner credentials; keeps PG* and the rest", () => {
    const env = childEnvironment(
      {
        PATH: "/usr/bin",
        HOME: "/root",
        LANG: "C.UTF-8",
        GNUPGHOME: "/tmp/g",
        PGPASSWORD: "pw",
        PGHOST: "db",
        PGSSLMODE: "require",
        DATABASE_URL: "postgresql://u:pw@h/db",
        TEST_DATABASE_URL: "postgresql://u:pw@h/db",
        BACKUP_GPG_PRIVATE_KEY: "k",
        BACKUP_GPG_PUBLIC_KEY: "k",
        PUSHGATEWAY_URL: "http://u:p@gw",
        INPUT_DATABASE_URL: "x",
        AWS_SECRET_ACCESS_KEY: "x",
        AWS_SESSION_TOKEN: "x",
        AZURE_STORAGE_CONNECTION_STRING: "x",
        GOOGLE_APPLICATION_CREDENTIALS: "/x.json",
        ACTIONS_RUNTIME_TOKEN: "x",
        ACTIONS_ID_TOKEN_REQUEST_URL: "x",
        GITHUB_TOKEN: "x",
        SLACK_WEBHOOK_SECRET: "x",
        MY_API_TOKEN: "x",
      },
      "libpq",
    );
    expect(Object.keys(env).sort()).toEqual(
      ["GNUPGHOME", "HOME", "LANG", "PATH", "PGHOST", "PGPASSWORD", "PGSSLMODE"].sort(),
    );
  });
});

describe("childEnvironment by kind of program", () => {
  const machine = {
    PATH: "/usr/bin",
    HOME: "/root",
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    TZ: "UTC",
    TMPDIR: "/tmp/x",
    XDG_RUNTIME_DIR: "/run/user/0",
    GNUPGHOME: "/tmp/g",
    PGHOST: "db",
    PGPASSWORD: "pw-secret",
    PGSSLMODE: "require",
    PG_DATABASE_URL: "postgresql://u:pw@h/db",
    PGADMIN_DEFAULT_PASSWORD: "admin-secret",
    PGBOUNCER_AUTH_TOKEN: "bouncer-secret",
    HTTPS_PROXY: "http://proxyuser:proxypass@proxy:3128",
    https_proxy: "http://proxy:3128",
    REDIS_URL: "redis://default:redispass@cache:6379",
    SENTRY_DSN: "https://key:secret@sentry.io/1",
    SOME_SETTING: "x",
  };

  it("libpq programs get libpq's own PG* variables only, never PG-named secrets or URL credentials", () => {
    expect(Object.keys(childEnvironment(machine, "libpq")).sort()).toEqual(
      [
        "GNUPGHOME",
        "HOME",
        "LANG",
        "LC_ALL",
        "PATH",
        "PGHOST",
        "PGPASSWORD",
        "PGSSLMODE",
        "TMPDIR",
        "TZ",
        "XDG_RUNTIME_DIR",
      ].sort(),
    );
  });

  it("gpg and compressors get no PG* variable at all, no proxy", () => {
    expect(Object.keys(childEnvironment(machine, "tool")).sort()).toEqual(
      ["GNUPGHOME", "HOME", "LANG", "LC_ALL", "PATH", "TMPDIR", "TZ", "XDG_RUNTIME_DIR"].sort(),
    );
    expect(childEnvironment(machine)).not.toHaveProperty("PGPASSWORD");
  });

  it("drops an allowed variable whose value holds URL credentials", () => {
    expect(childEnvironment({ PATH: "/usr/bin", PGSERVICEFILE: "http://u:p@x/" }, "libpq")).toEqual({
      PATH: "/usr/bin",
    });
  });

  it("tells the kind by the program's name", () => {
    expect(["/usr/lib/postgresql/15/bin/pg_dump", "psql", "pg_restore"].map(childKindOf)).toEqual([
      "libpq",
      "libpq",
      "libpq",
    ]);
    expect(["gpg", "zstd", "/usr/bin/pigz", "gpg-connect-agent"].map(childKindOf)).toEqual([
      "tool",
      "tool",
      "tool",
      "tool",
    ]);
  });
});
