import { describe, expect, it } from "vitest";
import { childEnvironment } from "../../src/process/child-stage.js";

describe("childEnvironment", () => {
  it("withholds Lifeline's secrets, action inputs, cloud and runner credentials; keeps PG* and the rest", () => {
    const env = childEnvironment({
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
    });
    expect(Object.keys(env).sort()).toEqual(
      ["GNUPGHOME", "HOME", "LANG", "PATH", "PGHOST", "PGPASSWORD", "PGSSLMODE"].sort(),
    );
  });
});
