import { describe, expect, it } from "vitest";
import {
  describeTarget,
  libpqEnvironment,
  parseDatabaseUrl,
  passwordsIn,
  redactUrl,
} from "../../src/db/database-url.js";
import { ConfigError } from "../../src/shared/errors.js";

describe("parseDatabaseUrl", () => {
  it("parses the runbook's SQLAlchemy form", () => {
    const s = parseDatabaseUrl("postgresql+psycopg://postgres:postgres@localhost:5432/transcripts");
    expect(s).toEqual({
      host: "localhost",
      port: 5432,
      user: "postgres",
      password: "postgres",
      database: "transcripts",
      params: {},
    });
  });

  it.each([
    "postgres://u:p@h/db",
    "postgresql://u:p@h/db",
    "postgresql+psycopg2://u:p@h/db",
    "postgresql+asyncpg://u:p@h/db",
  ])("accepts %s", (url) => {
    expect(parseDatabaseUrl(url)).toMatchObject({ host: "h", user: "u", password: "p", database: "db" });
  });

  it("decodes percent-encoded user, password and database", () => {
    const s = parseDatabaseUrl("postgresql://us%40er:p%40ss%2Fw%3Ard%25@db.example.com/my%20db");
    expect(s).toMatchObject({ user: "us@er", password: "p@ss/w:rd%", database: "my db" });
  });

  it("keeps libpq query parameters and maps them to PG* variables", () => {
    const s = parseDatabaseUrl(
      "postgresql://u@h:6543/db?sslmode=require&connect_timeout=5&application_name=lifeline",
    );
    expect(s.params).toEqual({ sslmode: "require", connect_timeout: "5", application_name: "lifeline" });
    const env = libpqEnvironment(s, {});
    expect(env).toEqual({
      PGHOST: "h",
      PGPORT: "6543",
      PGUSER: "u",
      PGDATABASE: "db",
      PGSSLMODE: "require",
      PGCONNECT_TIMEOUT: "5",
      PGAPPNAME: "lifeline",
    });
  });

  it("accepts a unix socket directory as an encoded host or a host parameter", () => {
    expect(parseDatabaseUrl("postgresql://u@%2Fvar%2Frun%2Fpostgresql/db").host).toBe("/var/run/postgresql");
    expect(parseDatabaseUrl("postgresql:///db?host=/tmp/sock").host).toBe("/tmp/sock");
  });

  it("accepts IPv6 literals", () => {
    expect(parseDatabaseUrl("postgresql://u:p@[::1]:5433/db")).toMatchObject({ host: "::1", port: 5433 });
  });

  it("leaves absent parts to the PG* environment", () => {
    const s = parseDatabaseUrl("postgresql:///transcripts");
    expect(s).toEqual({ database: "transcripts", params: {} });
    const env = libpqEnvironment(s, { PGHOST: "db", PGUSER: "backup", PGPASSWORD: "fromenv" });
    expect(env).toMatchObject({
      PGHOST: "db",
      PGUSER: "backup",
      PGPASSWORD: "fromenv",
      PGDATABASE: "transcripts",
    });
    expect(describeTarget(s, { PGHOST: "db", PGPORT: "6000" })).toBe('db:6000, database "transcripts"');
  });

  it.each([
    ["mysql://u:p@h/db", /unsupported scheme 'mysql:'/],
    ["localhost:5432/db", /does not start with postgresql:\/\//],
    ["postgresql://u:p@h:99999/db", /not a port number from 1 to 65535/],
    ["postgresql://u:p@h/db?sslmod=require", /unknown query parameter 'sslmod'/],
    ["postgresql://u:p@h/a/b", /database name must not contain/],
    ["postgresql://u:p@h1:5432,h2:5432/db", /several hosts/],
  ])("rejects %s with a message naming the problem", (url, why) => {
    expect(() => parseDatabaseUrl(url)).toThrow(ConfigError);
    expect(() => parseDatabaseUrl(url)).toThrow(why);
    expect(() => parseDatabaseUrl(url)).toThrow(/DATABASE_URL is not a valid PostgreSQL URL/);
  });

  it("never puts the password in its error messages", () => {
    const secret = "hunter2-very-secret";
    for (const url of [
      `postgresql://u:${secret}@h:notaport/db`,
      `postgresql://u:${secret}@h/db?bogus=1`,
      `mysql://u:${secret}@h/db`,
    ]) {
      let message = "";
      try {
        parseDatabaseUrl(url);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/not a valid PostgreSQL URL/);
      expect(message).not.toContain(secret);
      expect(message).toContain("***");
    }
  });
});

describe("redactUrl and passwordsIn", () => {
  it("redact only the password", () => {
    expect(redactUrl("postgresql://bob:pw@h/db")).toBe("postgresql://bob:***@h/db");
    expect(redactUrl("postgresql://bob@h/db")).toBe("postgresql://bob@h/db");
  });
  it("find raw and decoded forms of the password", () => {
    expect(passwordsIn("postgresql://bob:p%40ss@h/db")).toEqual(expect.arrayContaining(["p%40ss", "p@ss"]));
    expect(passwordsIn("postgresql://bob:p%40ss@h/db")).not.toContain("bob");
    expect(passwordsIn("postgresql://bob@h/db")).toEqual([]);
  });
});

describe("passwords with characters that break URL parsing never reach a message", () => {
  it.each([
    "postgresql://user:pa/ss@host:5432/db",
    "postgresql://user:pa?ss@host/db",
    "postgresql://user:pa#ss@host/db",
    "postgresql://user:p@ss@host/db?bogus=1",
    "postgresql://user@host/db?password=pa/ss&bogus=1",
  ])("%s", (url) => {
    const secret = url.includes("password=") ? "pa/ss" : /:([^:]*)@host/.exec(url)![1]!;
    let message = "";
    try {
      parseDatabaseUrl(url);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/DATABASE_URL is not a valid PostgreSQL URL/);
    expect(message).not.toContain(secret);
    expect(message).not.toMatch(/port 'pa'/);
    expect(passwordsIn(url)).toContain(secret);
  });

  it("accepts the password as a query parameter, as libpq does", () => {
    expect(parseDatabaseUrl("postgresql://u@h/db?password=s3cr%2Ft").password).toBe("s3cr/t");
    expect(redactUrl("http://ops:tok@gw:9091/x")).toBe("http://ops:***@gw:9091/x");
  });
});

describe("credentialsIn", () => {
  it("finds the passwords of DATABASE_URL, PUSHGATEWAY_URL and PGPASSWORD before any parsing", async () => {
    const { credentialsIn } = await import("../../src/config/backup-db-config.js");
    const { environmentLookup } = await import("../../src/config/settings.js");
    const env = {
      DATABASE_URL: "postgresql://u:pa/ss@h/db",
      PUSHGATEWAY_URL: "http://ops:tok@gw:9091",
      PGPASSWORD: "pgpw",
    };
    expect(credentialsIn(environmentLookup(env), env)).toEqual(
      expect.arrayContaining(["pa/ss", "tok", "pgpw"]),
    );
  });
});

describe("a DATABASE_URL that does not parse never shows its password", () => {
  const secret = "Hunter2-pw";
  it.each([
    `postgresql:user:${secret}@host:5432/db`,
    `postgresql:/user:${secret}@host:5432/db`,
    `postgresql//user:${secret}@host:5432/db`,
    `postgres:${secret}@host/db`,
    `mysql://user:${secret}@host/db`,
    `host=db.internal user=app password=${secret} dbname=app`,
    `host=db.internal password='${secret}' dbname=app`,
    `postgresql://user:${secret}@host:port/db`,
  ])("%s", async (url) => {
    const { credentialsIn } = await import("../../src/config/backup-db-config.js");
    const { environmentLookup } = await import("../../src/config/settings.js");
    let message = "";
    try {
      parseDatabaseUrl(url);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/DATABASE_URL is not a valid PostgreSQL URL/);
    expect(message).not.toContain(secret);
    expect(redactUrl(url)).not.toContain(secret);
    // What adapters mask before anything is logged holds the password itself.
    expect(credentialsIn(environmentLookup({ DATABASE_URL: url }), {})).toContain(secret);
  });

  it("says what is wrong with the form when '//' is missing", () => {
    expect(() => parseDatabaseUrl("postgresql:user:pw@host:5432/db")).toThrow(
      "'postgresql:' is not followed by '//'; write postgresql://user:password@host:5432/dbname",
    );
  });

  it("masks a value with nothing credential-shaped whole, since it could be anything", async () => {
    const { credentialsIn } = await import("../../src/config/backup-db-config.js");
    const { environmentLookup } = await import("../../src/config/settings.js");
    expect(credentialsIn(environmentLookup({ DATABASE_URL: "N0tAUrl" }), {})).toEqual(["N0tAUrl"]);
    expect(credentialsIn(environmentLookup({ DATABASE_URL: "postgresql://u@h/db" }), {})).toEqual([]);
  });
});

describe("a URL without '@' (or with '#' typed for '@') never shows its password", () => {
  it.each([
    "postgresql://admin:hunter2secret/db",
    "postgresql://admin:hunter2secret#db.example.com:5432/app",
    "postgresql://admin:hunter2secret",
  ])("%s", async (url) => {
    const { credentialsIn } = await import("../../src/config/backup-db-config.js");
    const { environmentLookup } = await import("../../src/config/settings.js");
    const { Logger } = await import("../../src/log/logger.js");
    const lines: string[] = [];
    const logger = new Logger({ write: (_l, m) => lines.push(m) });
    for (const s of credentialsIn(environmentLookup({ DATABASE_URL: url }), {})) logger.addSecret(s);
    let message = "";
    try {
      parseDatabaseUrl(url);
    } catch (err) {
      message = (err as Error).message;
    }
    logger.error(message);
    expect(message).toMatch(/DATABASE_URL is not a valid PostgreSQL URL/);
    expect(message).not.toContain("hunter2");
    expect(lines.join("\n")).not.toContain("hunter2");
    expect(redactUrl(url)).toContain("admin:***");
  });

  it("still keeps a port of a URL without a user in sight", () => {
    expect(passwordsIn("postgresql://db.example.com:5432/app")).toEqual([]);
    expect(passwordsIn("postgresql://[::1]:5432/app")).toEqual([]);
  });
});

describe("passwordsIn registers the whole password, never a fragment of it", () => {
  it.each([
    ["postgresql://app:S3cret:2024@db:5432/app", "S3cret:2024", ["2024", "S3cret"]],
    ["postgresql://app:p@ssw0rd@db:5432/app", "p@ssw0rd", ["p", "ssw0rd"]],
    ["postgresql://app:a@db:5432/app", "a", []],
    ["postgresql://app@db:5432/app?application_name=x@y", undefined, ["x", "5432/app?application_name=x"]],
    ["postgresql://app:pa/ss@x@db:5432/app", "pa/ss@x", ["pa/ss", "ss@x"]],
  ])("%s", (url, password, notFragments) => {
    const found = passwordsIn(url);
    if (password) expect(found).toContain(password);
    else expect(found).toEqual([]);
    for (const fragment of notFragments) expect(found).not.toContain(fragment);
    for (const secret of found)
      expect(password?.includes(secret) || encodeURIComponent(password ?? "").includes(secret)).toBe(true);
  });
});
