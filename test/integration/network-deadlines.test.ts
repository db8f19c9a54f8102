import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { backupDatabase } from "../../src/backup/backup-db.js";
import { loadBackupDbConfig } from "../../src/config/backup-db-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { LOCK_FILE } from "../../src/fs/dir-lock.js";
import { useBlackHole } from "../support/black-hole.js";
import { capturingLogger, usePostgres, useTempDirs } from "../support/fixtures.js";
import { AZURITE_ACCOUNT, AZURITE_KEY } from "../support/services/azurite.js";

const postgres = usePostgres();
const tempDir = useTempDirs();
const hole = useBlackHole();

beforeAll(() => {
  // The AWS SDK's credential chain reads these: any will do, the endpoint never answers.
  process.env.AWS_ACCESS_KEY_ID = "lifeline-test";
  process.env.AWS_SECRET_ACCESS_KEY = "lifeline-test-secret";
  delete process.env.STORAGE_EMULATOR_HOST;
});

const load = (vars: Record<string, string>) => loadBackupDbConfig(environmentLookup(vars), vars);

/** The backup directory's daily backups and whether the lock is still there. */
async function leftIn(dir: string): Promise<{ daily: string[]; lock: boolean }> {
  const daily = (await readdir(path.join(dir, "daily")).catch(() => [] as string[])).filter((f) =>
    /\.sql\.gz$/.test(f),
  );
  const lock = (await readdir(dir)).includes(LOCK_FILE);
  return { daily, lock };
}

const silentDestinations = (url: string): Record<string, Record<string, string>> => ({
  S3: { BACKUP_S3_BUCKET: "silent-bucket", BACKUP_S3_ENDPOINT: url },
  GCS: { BACKUP_GCS_BUCKET: "silent-bucket", BACKUP_GCS_ENDPOINT: url },
  Azure: {
    BACKUP_AZURE_CONTAINER: "silent-container",
    AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${url}/${AZURITE_ACCOUNT};`,
  },
});

describe("a destination that accepts connections and never answers", () => {
  for (const kind of ["S3", "GCS", "Azure"]) {
    it(`${kind}: is skipped within BACKUP_PREFLIGHT_TIMEOUT_SECONDS, named in the error; the local backup is written, no lock is left`, async () => {
      const dir = await tempDir(`silent-${kind}`);
      const before = hole().connections;
      const { logger, lines } = capturingLogger();
      const started = Date.now();
      const result = await backupDatabase(
        load({
          DATABASE_URL: postgres().url("postgres"),
          BACKUP_DIR: dir,
          BACKUP_PREFLIGHT_TIMEOUT_SECONDS: "2",
          ...silentDestinations(hole().url)[kind],
        }),
        { logger },
      );
      const seconds = (Date.now() - started) / 1000;
      expect(hole().connections).toBeGreaterThan(before); // it really waited on the black hole
      expect(seconds).toBeLessThan(8);
      expect(result.offsite).toHaveLength(1);
      const [report] = result.offsite;
      expect(report).toMatchObject({ kind: kind.toLowerCase(), ok: false, stage: "preflight" });
      expect(report?.error).toContain(`127.0.0.1:${hole().port}`);
      expect(report?.error).toContain("did not answer within 2 s (BACKUP_PREFLIGHT_TIMEOUT_SECONDS)");
      expect(lines.join("\n")).toContain("this destination is skipped; the local backup goes ahead");
      expect(await leftIn(dir)).toEqual({ daily: [path.basename(result.file)], lock: false });
    });
  }
});
