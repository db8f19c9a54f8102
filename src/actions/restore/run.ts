import * as core from "@actions/core";
import { backupStores, listBackups } from "../../catalog/backup-source.js";
import { metricsDestination } from "../../config/metrics-config.js";
import { isListOnly, loadListConfig, loadRestoreConfig } from "../../config/restore-config.js";
import { Logger } from "../../log/logger.js";
import type { RunKind } from "../../metrics/failed-run.js";
import { NoBackupBeforeTargetError, pitrGuidance } from "../../restore/pitr.js";
import { chooseBackup, RestoreFailedError, restoreDatabase } from "../../restore/restore-db.js";
import { planRestore, restorePlanText } from "../../restore/restore-plan.js";
import {
  backupListSummary,
  listedBackup,
  restorePlanSummary,
  restoreSummary,
} from "../../restore/restore-summary.js";
import { throwIfCancelled, UserError } from "../../shared/errors.js";
import { failAction } from "../shared/failure.js";
import {
  actionLookup,
  actionsLogSink,
  cancellationSignal,
  maskConnectionSecrets,
} from "../shared/runtime.js";

/**
 * The restore action. A workflow has no terminal to type into, so the `confirm` input must name the
 * target database exactly; anything else refuses before a database is touched (`force` is CLI-only).
 * `dry-run` needs no confirmation: it prints the plan and changes nothing.
 */
export async function runRestore(): Promise<void> {
  const startedAt = new Date();
  const lookup = actionLookup();
  const logger = new Logger(actionsLogSink());
  maskConnectionSecrets(lookup, logger);
  const signal = cancellationSignal();
  // Read before anything else can fail: a run that fails on its settings, or is refused, still records it.
  const metrics = metricsDestination(lookup);
  let kind: RunKind | undefined = "restore";
  let summary = "";
  let database = "(unknown)";
  let guidance: string | undefined;
  try {
    const now = new Date();
    if (isListOnly(lookup)) {
      kind = undefined; // listing is not a restore: it records no metrics
      const { backupDir, prefix, destinations } = loadListConfig(lookup);
      const entries = await listBackups(await backupStores(backupDir, destinations, logger), prefix);
      summary = backupListSummary(entries, now, backupDir);
      core.setOutput("backups-json", JSON.stringify(entries.map((e) => listedBackup(e, now))));
      core.info(`${entries.length} backup(s) in ${backupDir}`);
      return;
    }
    const config = loadRestoreConfig(lookup);
    database = config.database;
    if (config.gpgPrivateKey) core.setSecret(config.gpgPrivateKey);
    if (config.dryRun) {
      kind = undefined; // a dry run is not a restore: it records no metrics
      const entry = await chooseBackup(config);
      const plan = await planRestore(config, entry, now);
      const text = restorePlanText(plan);
      core.info(text);
      core.setOutput("source-backup", entry.uri);
      summary = restorePlanSummary(plan.database, text, plan.problems.length === 0);
      if (plan.problems.length)
        core.setFailed(`Dry run: the restore would not go ahead: ${plan.problems.join("; ")}`);
      return;
    }
    if (config.confirm !== config.database) {
      throw new UserError(
        config.confirm === undefined
          ? `Refusing to replace the database '${config.database}': set the input 'confirm' to '${config.database}' to confirm. Nothing was changed`
          : `Input 'confirm' is '${config.confirm}' but the target database is '${config.database}': nothing was changed. Set confirm to the target's exact name`,
      );
    }
    const entry = await chooseBackup(config);
    const result = await restoreDatabase(config, entry, { logger, signal });
    throwIfCancelled(signal, `The run was cancelled after "${config.database}" was restored`);
    if (config.pitrTarget) {
      guidance = pitrGuidance({ target: config.pitrTarget, restored: entry, database: config.database });
      core.info(guidance);
    }
    core.setOutput("restored-database", result.database);
    core.setOutput("source-backup", entry.uri);
    core.setOutput("duration-seconds", result.durationSeconds.toFixed(3));
    core.setOutput("previous-database", result.previousDatabase ?? "");
    summary = restoreSummary({ result }, database, guidance);
  } catch (err) {
    if (err instanceof NoBackupBeforeTargetError) {
      guidance = err.guidance;
      core.info(guidance);
    }
    const failed = await failAction(err, { command: "restore", kind, metrics, startedAt, signal, logger });
    const comparison = err instanceof RestoreFailedError ? err.proof?.comparison : undefined;
    summary =
      failed.cancelledSummary ??
      restoreSummary({ error: new Error(failed.message), comparison }, database, guidance);
  } finally {
    try {
      await core.summary.addRaw(summary).write();
    } catch (err) {
      core.warning(`Could not write the job summary: ${(err as Error).message}`);
    }
  }
}
