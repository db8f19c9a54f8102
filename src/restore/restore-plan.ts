import { type BackupEntry, expectedSha256, readManifest } from "../catalog/backup-source.js";
import type { RestoreConfig } from "../config/restore-config.js";
import { formatBytes } from "../summary/markdown.js";
import {
  connectMaintenance,
  describeDatabase,
  previousDatabaseName,
  restoreDatabaseName,
} from "./databases.js";
import { pitrGuidance } from "./pitr.js";
import { requireRestrictablePsql } from "./psql-guard.js";
import { chooseRestoreTools } from "./restore-and-prove.js";

/** What a restore would do, found out by reading only (a dry run). */
export interface RestorePlan {
  readonly entry: BackupEntry;
  readonly database: string;
  /** Whether the target database exists now; undefined when the server could not be asked. */
  readonly liveExists: boolean | undefined;
  /** The new database the backup would be restored into first. */
  readonly fresh: string;
  /** Where the replaced database would be kept (undefined when it would be dropped or none exists). */
  readonly keptAs: string | undefined;
  readonly dropOld: boolean;
  /** How the data would go in, e.g. "psql 15.18 (restricted)". */
  readonly tool: string | undefined;
  readonly manifest: boolean;
  /** Everything found that would make the restore refuse or fail; empty when it would go ahead. */
  readonly problems: readonly string[];
  /** With --pitr: the WAL guidance for the target. */
  readonly guidance: string | undefined;
}

/**
 * The dry run: reads the sidecar and manifest, asks the server whether the target exists and which
 * client programs fit, and creates, renames and writes nothing (no database, no keyring, no metrics).
 */
export async function planRestore(
  config: RestoreConfig,
  entry: BackupEntry,
  now: Date,
): Promise<RestorePlan> {
  const problems: string[] = [];
  await expectedSha256(entry).catch((err: Error) => problems.push(err.message));
  const manifest = await readManifest(entry).catch((err: Error) => {
    problems.push(err.message);
    return undefined;
  });
  let liveExists: boolean | undefined;
  let tool: string | undefined;
  const admin = await connectMaintenance(config.connection, config.database).catch((err: Error) => {
    problems.push(`the server could not be reached: ${err.message}`);
    return undefined;
  });
  if (admin) {
    try {
      liveExists = (await describeDatabase(admin, config.database)) !== undefined;
      const tools = await chooseRestoreTools(admin, config.pgBinDir);
      if (entry.format === "plain") {
        requireRestrictablePsql(tools.psql, entry.uri);
        tool = `psql ${tools.psql.version} at ${tools.psql.path} (restricted, single transaction)`;
      } else {
        tool = `pg_restore ${tools.pgRestore.version} at ${tools.pgRestore.path} -j ${config.jobs}`;
      }
    } catch (err) {
      problems.push((err as Error).message);
    } finally {
      await admin.end().catch(() => {});
    }
  }
  return {
    entry,
    database: config.database,
    liveExists,
    fresh: restoreDatabaseName(config.database, now),
    keptAs: liveExists !== false && !config.dropOld ? previousDatabaseName(config.database, now) : undefined,
    dropOld: config.dropOld,
    tool,
    manifest: manifest !== undefined,
    problems,
    guidance: config.pitrTarget
      ? pitrGuidance({ target: config.pitrTarget, restored: entry, database: config.database, dryRun: true })
      : undefined,
  };
}

/** The plan as an operator reads it, on a terminal or in the job summary. */
export function restorePlanText(plan: RestorePlan): string {
  const e = plan.entry;
  const kept = plan.keptAs ?? `${plan.database}_pre_restore_<time>`;
  const swap =
    plan.liveExists === false
      ? `"${plan.database}" does not exist: "${plan.fresh}" would be renamed to "${plan.database}"`
      : `"${plan.database}" would stop accepting connections, its sessions would be ended, and in one transaction ` +
        `it would be renamed to "${kept}" and "${plan.fresh}" to "${plan.database}"; ` +
        (plan.dropOld
          ? "the replaced database would then be DROPPED (drop-old)"
          : `the replaced database would be KEPT as "${kept}" until you drop it`);
  const lines = [
    `Dry run: restore of "${plan.database}" — nothing was changed`,
    `  Backup:    ${e.uri}`,
    `             taken ${e.takenAt.toISOString()}, ${formatBytes(e.sizeBytes)}, ${e.format} format, ` +
      `${e.compression === "none" ? "uncompressed" : e.compression}, ${e.encrypted ? `gpg-encrypted (key: BACKUP_GPG_PRIVATE_KEY or GNUPGHOME)` : "not encrypted"}`,
    `  Proof:     sha256 sidecar${plan.manifest ? " and manifest (schemas, tables and row counts, sequences, extensions)" : " only (no manifest: nothing to compare the restored catalog with)"}`,
    `  Target:    "${plan.database}"${plan.liveExists === undefined ? " (existence unknown)" : plan.liveExists ? " (exists; replaced only after the restore is proven)" : " (does not exist yet)"}`,
    `  Plan:      1. create the new database "${plan.fresh}" (named for the time of the real run) and restore into it` +
      `${plan.tool ? ` with ${plan.tool}` : ""}`,
    `             2. prove it: sha256 against the sidecar${plan.manifest ? ", catalog against the manifest" : ""}; any failure drops it and changes nothing else`,
    `             3. swap: ${swap}`,
    plan.problems.length
      ? `  Problems:  the restore would not go ahead as it is:\n${plan.problems.map((p) => `             - ${p}`).join("\n")}`
      : "  Problems:  none found",
  ];
  return `${lines.join("\n")}\n${plan.guidance ? `\n${plan.guidance}` : ""}`;
}
