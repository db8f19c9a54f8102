import * as core from "@actions/core";
import { type BackupDbResult, backupDatabase } from "../../backup/backup-db.js";
import { loadBackupDbConfig } from "../../config/backup-db-config.js";
import { Logger } from "../../log/logger.js";
import { backupDbSummary } from "../../summary/backup-db-summary.js";
import {
  actionLookup,
  actionsLogSink,
  cancellationSignal,
  failureMessage,
  maskConnectionSecrets,
} from "../shared/runtime.js";

/** The backup-db action: inputs → engine → outputs, job summary (also on failure), exit status. */
export async function runBackupDb(): Promise<void> {
  const lookup = actionLookup();
  maskConnectionSecrets(lookup);
  const logger = new Logger(actionsLogSink());
  let outcome: { result: BackupDbResult } | { error: Error };
  try {
    const config = loadBackupDbConfig(lookup);
    const result = await backupDatabase(config, { logger, signal: cancellationSignal() });
    core.setOutput("backup-file", result.file);
    core.setOutput("sha256", result.sha256);
    core.setOutput("size-bytes", String(result.sizeBytes));
    core.setOutput("duration-seconds", result.durationSeconds.toFixed(3));
    core.setOutput("manifest-file", result.manifestFile);
    outcome = { result };
  } catch (err) {
    outcome = { error: new Error(logger.redact(failureMessage(err))) };
    core.setFailed(outcome.error.message);
  } finally {
    // Written in finally so that a failed run still explains itself on the run page.
    try {
      await core.summary.addRaw(backupDbSummary(outcome!)).write();
    } catch (err) {
      core.warning(`Could not write the job summary: ${(err as Error).message}`);
    }
  }
}
