import { readdir } from "node:fs/promises";
import path from "node:path";
import { BackupName, TIERS } from "../backup/backup-name.js";
import type { Logger } from "../log/logger.js";
import { LocalStore } from "../storage/local-store.js";
import { type FileCheck, verifyBackupFile } from "./verify-file.js";

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

/**
 * Verifies every backup under the tier directories of `backupDir` (optionally one prefix only), newest
 * first, and judges the newest good daily backup's age. Exit code 1 when any file fails; else 2 when
 * the newest good daily backup is older than `maxAgeHours` or there is none; else 0.
 */
export async function verifyLocalBackups(
  backupDir: string,
  options: { prefix?: string | undefined; maxAgeHours: number; now: Date; logger: Logger },
): Promise<VerifyReport> {
  const checks: FileCheck[] = [];
  for (const tier of TIERS) {
    const dir = path.join(backupDir, tier);
    const names = (await readdir(dir).catch(() => [] as string[]))
      .map((f) => BackupName.parse(f))
      .filter(
        (n): n is BackupName =>
          !!n && n.tier === tier && (options.prefix === undefined || n.prefix === options.prefix),
      )
      .sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
    for (const name of names) {
      const check = await verifyBackupFile(new LocalStore(dir), name);
      checks.push(check);
      const notes = check.notes.length ? ` (${check.notes.join("; ")})` : "";
      if (check.ok) options.logger.info(`verify ${tier}/${name}: OK [${check.passed.join(", ")}]${notes}`);
      else options.logger.error(`verify ${tier}/${name}: FAILED: ${check.problem}`);
    }
  }
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
