import * as core from "@actions/core";
import { type BackupDbResult, backupDatabase } from "../../backup/backup-db.js";
import { backupDbSummary } from "../../backup/backup-db-summary.js";
import { isVerifyOnly, loadBackupDbConfig, loadVerifyOnlyConfig } from "../../config/backup-db-config.js";
import { metricsSettings } from "../../config/restore-config.js";
import { throwIfCancelled } from "../../shared/errors.js";
import { verifyLocalBackups } from "../../verify/verify-backups.js";
import { verifyBackupsSummary } from "../../verify/verify-summary.js";
import { runAction } from "../shared/run-action.js";

/** The backup-db action: inputs → engine → outputs, job summary (also on failure), exit status. */
export async function runBackupDb(): Promise<void> {
  await runAction({
    command: "backup-db",
    kind: "backup",
    body: async (run) => {
      const { lookup, logger, signal } = run;
      if (isVerifyOnly(lookup)) {
        run.kind = "verify"; // verify-only is verify scoped to BACKUP_DIR: verify's metrics, failed or not
        const config = loadVerifyOnlyConfig(lookup);
        const metrics = metricsSettings(lookup);
        const report = await verifyLocalBackups(config.backupDir, { ...config, metrics, logger, signal });
        throwIfCancelled(signal, "The verification was cancelled");
        const summary = verifyBackupsSummary(report);
        core.setOutput("verified-count", String(report.checks.filter((c) => c.ok).length));
        core.setOutput("failed-count", String(report.checks.filter((c) => !c.ok).length));
        core.setOutput(
          "newest-age-hours",
          report.newestAgeHours === undefined ? "" : report.newestAgeHours.toFixed(2),
        );
        core.setOutput("exit-code", String(report.exitCode));
        if (report.exitCode !== 0) {
          core.setFailed(report.reasons.join("; "));
          process.exitCode = report.exitCode; // the runbook's codes: 1 failures, 2 too old or missing
        }
        return summary;
      }
      const config = loadBackupDbConfig(lookup);
      const result: BackupDbResult = await backupDatabase(config, { logger, signal });
      throwIfCancelled(signal, "The backup was cancelled after it was written; it is kept");
      core.setOutput("backup-file", result.file);
      core.setOutput("sha256", result.sha256);
      core.setOutput("size-bytes", String(result.sizeBytes));
      core.setOutput("duration-seconds", result.durationSeconds.toFixed(3));
      core.setOutput("manifest-file", result.manifestFile);
      core.setOutput("tiers", result.tiers.map((t) => t.tier).join(","));
      core.setOutput(
        "offsite",
        result.offsite.map((o) => `${o.location}=${o.ok ? "ok" : "failed"}`).join(","),
      );
      const summary = backupDbSummary({ result });
      const failed = result.offsite.filter((o) => !o.ok);
      if (failed.length > 0) {
        core.setFailed(
          `The backup was written locally (${result.file}) but ${failed.length} off-site cop${failed.length === 1 ? "y" : "ies"} failed: ` +
            failed.map((o) => logger.redact(o.error ?? o.location)).join("; "),
        );
      }
      return summary;
    },
    failureSummary: (message) => backupDbSummary({ error: new Error(message) }),
  });
}
