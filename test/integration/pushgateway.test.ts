import { readdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { backupDbSummary } from "../../src/backup/backup-db-summary.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { LOCK_FILE } from "../../src/fs/dir-lock.js";
import { useBlackHole } from "../support/black-hole.js";
import { capturingLogger, usePostgres, useTempDirs } from "../support/fixtures.js";
import { GATEWAY_USER, type Pushgateway, startPushgateway } from "../support/services/pushgateway.js";

const postgres = usePostgres();
const tempDir = useTempDirs();
const hole = useBlackHole();
let gateway: Pushgateway;
beforeAll(async () => {
  gateway = await startPushgateway({ basicAuth: GATEWAY_USER });
});
afterAll(async () => {
  await gateway?.stop();
});

const config = (vars: Record<string, string>) => loadBackupDbConfig(environmentLookup(vars), vars);
const withCredentials = (url: string, user = GATEWAY_USER.user, password = GATEWAY_USER.password) =>
  url.replace("http://", `http://${user}:${encodeURIComponent(password)}@`);

describe("a Pushgateway that requires a user and password", () => {
  it("gets them from PUSHGATEWAY_URL as basic auth; they are in no log line and not in the summary", async () => {
    const dir = await tempDir("gw-auth");
    const { logger, lines } = capturingLogger();
    const result = await backupDatabase(
      config({
        DATABASE_URL: postgres().url("postgres"),
        BACKUP_DIR: dir,
        PUSHGATEWAY_URL: withCredentials(gateway.url),
      }),
      { logger },
    );
    expect(result.metrics.pushgateway).toBe("pushed");
    // The real gateway took it: the pushed series are there under the job.
    const scraped = await gateway.scrape();
    expect(scraped).toMatch(/backup_last_status\{instance="",job="lifeline",type="database"\} 0/);
    expect(scraped).toContain(
      `backup_size_bytes{instance="",job="lifeline",type="database"} ${result.sizeBytes}`,
    );
    const printed = [lines.join("\n"), backupDbSummary({ result })].join("\n");
    expect(printed).toContain(`Metrics pushed to ${gateway.url}`);
    expect(printed).not.toContain(GATEWAY_USER.password);
  });

  it("a wrong password is refused (401) with a hint, and the password is not printed", async () => {
    const dir = await tempDir("gw-wrong");
    const { logger, lines } = capturingLogger();
    const result = await backupDatabase(
      config({
        DATABASE_URL: postgres().url("postgres"),
        BACKUP_DIR: dir,
        PUSHGATEWAY_URL: withCredentials(gateway.url, GATEWAY_USER.user, "not-the-pw-93k"),
      }),
      { logger },
    );
    expect(result.metrics.pushgateway).toContain("HTTP 401");
    expect(result.metrics.pushgateway).toContain("check the user and password in PUSHGATEWAY_URL");
    expect(lines.join("\n")).not.toContain("not-the-pw-93k");
  });

  it("an invalid PUSHGATEWAY_URL is refused without quoting its password", () => {
    expect(() =>
      config({ DATABASE_URL: "postgresql://u@h/d", PUSHGATEWAY_URL: "ftp://lifeline:s3cret-Pw@gw:9091" }),
    ).toThrow("Invalid PUSHGATEWAY_URL 'ftp://lifeline:***@gw:9091'. Expected an http(s) URL");
  });
});

describe("a Pushgateway that accepts connections and never answers", () => {
  it("costs the run at most BACKUP_NETWORK_TIMEOUT_SECONDS; the backup is written and the failure named", async () => {
    const dir = await tempDir("gw-silent");
    const { logger, lines } = capturingLogger();
    const before = hole().connections;
    const started = Date.now();
    const result = await backupDatabase(
      config({
        DATABASE_URL: postgres().url("postgres"),
        BACKUP_DIR: dir,
        PUSHGATEWAY_URL: hole().url,
        BACKUP_NETWORK_TIMEOUT_SECONDS: "2",
      }),
      { logger },
    );
    expect(hole().connections).toBeGreaterThan(before);
    expect((Date.now() - started) / 1000).toBeLessThan(8);
    expect(result.metrics.pushgateway).toBe(
      `Could not push metrics to ${hole().url}/metrics/job/lifeline/type/database: ` +
        `The push to the Pushgateway ${hole().url} got no answer within 2 s (BACKUP_NETWORK_TIMEOUT_SECONDS)`,
    );
    expect(lines.some((l) => l.startsWith("warn: Could not push metrics"))).toBe(true);
    expect((await readdir(`${dir}/daily`)).some((f) => f.endsWith(".sql.gz"))).toBe(true);
    expect(await readdir(dir)).not.toContain(LOCK_FILE);
  });
});
