import path from "node:path";
import { BackupName, TIERS } from "../catalog/backup-name.js";
import { listBackups } from "../catalog/backup-source.js";
import type { Logger } from "../log/logger.js";
import { throwIfCancelled } from "../shared/errors.js";
import { LocalStore } from "../storage/local-store.js";
import type { BackupStore } from "../storage/store.js";
import { type FileCheck, type VerifyFileOptions, verifyBackupFile } from "./verify-file.js";

/** The runbook's verify_backup.sh exit codes. */
export const VERIFY_EXIT = { ok: 0, failures: 1, tooOldOrMissing: 2 } as const;

export interface VerifyReport {
  readonly checks: readonly FileCheck[];
  /** Age in hours of the newest good daily backup, if any. */
  readonly newestAgeHours: number | undefined;
  readonly maxAgeHours: number;
  readonly exitCode: 0 | 1 | 2;
  /** One line per reason for a non-zero exit code. */
  readonly reasons: readonly string[];
}

/** Checks one backup and logs the result the way every verify run does. */
export async function verifyAndLog(
  store: BackupStore,
  name: BackupName,
  label: string,
  logger: Logger,
  options: VerifyFileOptions = {},
): Promise<FileCheck> {
  throwIfCancelled(options.signal, "The verification was cancelled");
  const check = await verifyBackupFile(store, name, options);
  // A check cut short by the cancellation says nothing about the file: the run stops instead.
  throwIfCancelled(options.signal, "The verification was cancelled");
  const notes = check.notes.length ? ` (${check.notes.join("; ")})` : "";
  if (check.ok) logger.info(`verify ${label}: OK [${check.passed.join(", ")}]${notes}`);
  else logger.error(`verify ${label}: FAILED: ${check.problem}`);
  return check;
}

/** Checks every backup in BACKUP_DIR's tier directories (of one prefix, if given), newest first per tier. */
export async function verifyLocalTiers(
  backupDir: string,
  prefix: string | undefined,
  logger: Logger,
  options: VerifyFileOptions = {},
): Promise<FileCheck[]> {
  const checks: FileCheck[] = [];
  for (const tier of TIERS) {
    const store = new LocalStore(path.join(backupDir, tier));
    const names = (await listBackups([store], prefix)).filter((e) => e.tier === tier).map((e) => e.name!);
    // Entries named like a backup that are not regular files (FIFOs, directories, links) fail by name.
    for (const other of await store.listOthers()) {
      const name = BackupName.parse(other.name);
      if (name?.tier === tier && (prefix === undefined || name.prefix === prefix)) names.push(name);
    }
    names.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
    for (const name of names) {
      checks.push(await verifyAndLog(store, name, `${tier}/${name.toString()}`, logger, options));
    }
  }
  return checks;
}

/**
 * Verifies every backup under the tier directories of `backupDir` (optionally one prefix only), newest
 * first, and judges the newest good daily backup's age. Exit code 1 when any file fails; else 2 when
 * the newest good daily backup is older than `maxAgeHours` or there is none; else 0.
 */
export async function verifyLocalBackups(
  backupDir: string,
  options: {
    prefix?: string | undefined;
    maxAgeHours: number;
    now: Date;
    logger: Logger;
    signal?: AbortSignal | undefined;
  },
): Promise<VerifyReport> {
  const checks = await verifyLocalTiers(backupDir, options.prefix, options.logger, {
    signal: options.signal,
  });
  const newestDaily = checks.find((c) => c.ok && c.name.tier === "daily");
  const newestAgeHours = newestDaily
    ? (options.now.getTime() - newestDaily.name.takenAt.getTime()) / 3_600_000
    : undefined;
  const reasons: string[] = [];
  const failed = checks.filter((c) => !c.ok);
  if (failed.length) reasons.push(`${failed.length} of ${checks.length} backup(s) failed verification`);
  if (newestAgeHours === undefined) reasons.push(`no good daily backup in ${path.join(backupDir, "daily")}`);
  else if (newestAgeHours > options.maxAgeHours) {
    reasons.push(
      `the newest good daily backup is ${newestAgeHours.toFixed(1)} h old, over the ${options.maxAgeHours} h limit`,
    );
  }
  const exitCode = failed.length
    ? VERIFY_EXIT.failures
    : reasons.length
      ? VERIFY_EXIT.tooOldOrMissing
      : VERIFY_EXIT.ok;
  return { checks, newestAgeHours, maxAgeHours: options.maxAgeHours, exitCode, reasons };
}
