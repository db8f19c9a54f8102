import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ACTION_SETTINGS } from "../../scripts/gen-action-inputs.js";
import type { BackupEntry } from "../../src/catalog/backup-source.js";
import { kindOfFileName } from "../../src/catalog/backup-source.js";
import { confirmRestore } from "../../src/cli/restore-command.js";
import { loadRestoreConfig, parseTargetTime, RESTORE_SETTINGS } from "../../src/config/restore-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { loadVerifyConfig, VERIFY_SETTINGS } from "../../src/config/verify-config.js";
import type { SnapshotCatalog } from "../../src/db/snapshot.js";
import { compareCatalogs } from "../../src/restore/catalog-compare.js";
import { derivedName, previousDatabaseName, restoreDatabaseName } from "../../src/restore/databases.js";
import { newestBefore, pitrGuidance } from "../../src/restore/pitr.js";

const URL = "postgresql://u:p@db:5432/transcripts";
const env = (vars: Record<string, string>) => environmentLookup(vars);

describe("restore settings", () => {
  it("needs a backup file or --pitr with a target time, and refuses contradictory combinations", () => {
    expect(() => loadRestoreConfig(env({ DATABASE_URL: URL }))).toThrow(
      /Nothing to restore: give BACKUP_FILE/,
    );
    expect(() => loadRestoreConfig(env({ DATABASE_URL: URL, RESTORE_PITR: "true" }))).toThrow(
      /needs the time to recover to/,
    );
    expect(() =>
      loadRestoreConfig(
        env({ DATABASE_URL: URL, BACKUP_FILE: "/x.sql.gz", RESTORE_TARGET_TIME: "2024-10-26 01:30:00" }),
      ),
    ).toThrow(/only used with --pitr/);
    const c = loadRestoreConfig(
      env({ DATABASE_URL: URL, RESTORE_PITR: "true", RESTORE_TARGET_TIME: "2024-10-26 01:30:00" }),
    );
    expect(c.database).toBe("transcripts");
    expect(c.pitrTarget?.toISOString()).toBe("2024-10-26T01:30:00.000Z");
    expect(c.dropOld).toBe(false);
  });

  it("parses target times as UTC unless an offset is given", () => {
    expect(parseTargetTime("2024-10-26 03:30:00+02:00", "x").toISOString()).toBe("2024-10-26T01:30:00.000Z");
    expect(parseTargetTime("2024-10-26T01:30", "x").toISOString()).toBe("2024-10-26T01:30:00.000Z");
    expect(() => parseTargetTime("yesterday", "--target-time")).toThrow(
      /Invalid --target-time 'yesterday'. Expected a time such as/,
    );
  });

  it("verify: --backup-file and --check-sql only with --test-restore, which needs DATABASE_URL", () => {
    expect(() => loadVerifyConfig(env({ BACKUP_CHECK_SQL: "c.sql" }))).toThrow(
      /only applies with --test-restore/,
    );
    expect(() => loadVerifyConfig(env({ BACKUP_TEST_RESTORE: "true" }))).toThrow(
      /DATABASE_URL is not set.*scratch database/,
    );
    expect(loadVerifyConfig(env({})).maxAgeHours).toBe(26);
  });
});

describe("confirmation (runbook: restore_db.sh asks; --force skips)", () => {
  const entry = { fileName: "t_daily_20241026_020000.sql.gz", takenAt: new Date() } as BackupEntry;
  const config = (vars: Record<string, string>) =>
    loadRestoreConfig(env({ DATABASE_URL: URL, BACKUP_FILE: "/b/x.sql.gz", ...vars }));
  it("refuses without a terminal and without --force or --confirm", async () => {
    await expect(confirmRestore(config({}), entry, false)).rejects.toThrow(
      /no terminal to ask on: add --confirm transcripts/,
    );
  });
  it("accepts --force, a matching --confirm, or the name typed on a terminal", async () => {
    await confirmRestore(config({ RESTORE_FORCE: "true" }), entry, false);
    await confirmRestore(config({ RESTORE_CONFIRM: "transcripts" }), entry, false);
    await confirmRestore(config({}), entry, true, async () => true);
    await expect(confirmRestore(config({}), entry, true, async () => false)).rejects.toThrow(
      /did not match 'transcripts'/,
    );
    await expect(confirmRestore(config({ RESTORE_CONFIRM: "other" }), entry, false)).rejects.toThrow(
      /is 'other' but the target database is 'transcripts'/,
    );
  });
});

describe("action metadata", () => {
  it.each(["actions/verify/action.yml", "actions/restore/action.yml"])(
    "%s declares exactly its settings, node24, no defaults",
    (file) => {
      const meta = parse(readFileSync(file, "utf8"));
      expect(Object.keys(meta.inputs).sort()).toEqual(ACTION_SETTINGS[file]!.map((s) => s.input).sort());
      for (const input of Object.values(meta.inputs as Record<string, { default?: string }>))
        expect(input.default).toBeUndefined();
      expect(meta.runs).toEqual({ using: "node24", main: `../../dist/${file.split("/")[1]}/index.js` });
    },
  );
  it("the restore action has confirm but not the CLI-only force", () => {
    const inputs = ACTION_SETTINGS["actions/restore/action.yml"]!.map((s) => s.input);
    expect(inputs).toContain("confirm");
    expect(inputs).not.toContain("force");
    expect(Object.values(RESTORE_SETTINGS).map((s) => s.input)).toContain("force");
    expect(Object.values(VERIFY_SETTINGS).map((s) => s.input)).toEqual(
      expect.arrayContaining(["test-restore", "max-age-hours", "check-sql"]),
    );
  });
});

describe("restore pieces", () => {
  const catalog = (over: Partial<SnapshotCatalog> = {}): SnapshotCatalog => ({
    snapshot: "s",
    schemas: ["audit", "public"],
    tables: [
      { name: "public.videos", rows: 20 },
      { name: "audit.events", rows: 5 },
    ],
    sequences: ["public.videos_id_seq"],
    extensions: [{ name: "plpgsql", version: "1.0" }],
    rowCounts: "exact",
    rowCountSource: "dump stream",
    ...over,
  });
  it("compares catalogs exactly and names each mismatch", () => {
    expect(compareCatalogs(catalog(), catalog()).ok).toBe(true);
    const c = compareCatalogs(
      catalog(),
      catalog({
        tables: [{ name: "public.videos", rows: 19 }],
        sequences: [],
        extensions: [{ name: "plpgsql", version: "1.1" }],
      }),
    );
    expect(c.mismatches).toEqual([
      "table audit.events: present in the manifest, absent in the restore",
      "table public.videos: 20 rows in the manifest, 19 restored",
      "sequence public.videos_id_seq: present in the manifest, absent in the restore",
    ]);
    expect(c.notes).toContain("extension plpgsql: 1.0 in the dump, 1.1 restored");
    expect(
      compareCatalogs(
        catalog({ rowCounts: "estimated" }),
        catalog({ tables: catalog().tables.map((t) => ({ ...t, rows: 1 })) }),
      ).ok,
    ).toBe(true);
  });
  it("derives database names that fit PostgreSQL's 63 bytes", () => {
    const at = new Date(Date.UTC(2024, 9, 26, 2, 0, 0));
    expect(restoreDatabaseName("transcripts", at)).toBe("transcripts_lifeline_restore_20241026_020000");
    expect(previousDatabaseName("transcripts", at)).toBe("transcripts_pre_restore_20241026_020000");
    expect(
      Buffer.byteLength(derivedName("é".repeat(60), "_pre_restore_20241026_020000")),
    ).toBeLessThanOrEqual(63);
  });
  it("knows backup kinds by name and picks the newest backup before a PITR target", () => {
    expect(kindOfFileName("a.dump.gpg")).toEqual({ format: "custom", compression: "none", encrypted: true });
    expect(kindOfFileName("a.sql.zst")).toEqual({ format: "plain", compression: "zstd", encrypted: false });
    expect(kindOfFileName("a.tar")).toBeUndefined();
    const e = (iso: string) => ({ takenAt: new Date(iso), fileName: iso }) as BackupEntry;
    const all = [e("2024-10-25T02:00:00Z"), e("2024-10-26T02:00:00Z"), e("2024-10-24T02:00:00Z")];
    const target = new Date("2024-10-26T01:30:00Z");
    expect(newestBefore(all, target)?.fileName).toBe("2024-10-25T02:00:00Z");
    const text = pitrGuidance({ target, restored: newestBefore(all, target), database: "transcripts" });
    expect(text).toContain("recovery_target_time = '2024-10-26 01:30:00 UTC'");
    expect(text).toContain("restore_command");
    expect(text).toContain("archive_command");
    expect(text).toMatch(/Changes between the backup and .* \(23\.5 h\) are NOT in the restored database/);
  });
});
