import * as core from "@actions/core";
import { backupStores, listBackups } from "../../catalog/backup-source.js";
import { isMedia, loadRestoreMediaConfig } from "../../config/media-config.js";
import { isListOnly, loadListConfig, loadRestoreConfig } from "../../config/restore-config.js";
import { periodicLog } from "../../log/progress.js";
import { describeRestoreProgress } from "../../media/media-progress.js";
import { restoreMedia } from "../../media/restore-media.js";
import { restoreMediaSummary } from "../../media/restore-media-summary.js";
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
import { runAction } from "../shared/run-action.js";

/**
 * The restore action. A workflow has no terminal to type into, so the `confirm` input must name the
 * target database exactly; anything else refuses before a database is touched (`force` is CLI-only).
 * `dry-run` needs no confirmation: it prints the plan and changes nothing.
 */
export async function runRestore(): Promise<void> {
  let database = "(unknown)";
  let guidance: string | undefined;
  let media = false;
  await runAction({
    command: "restore",
    kind: "restore",
    body: async (run) => {
      const { lookup, logger, signal } = run;
      const now = new Date();
      if (isMedia(lookup)) {
        media = true;
        run.type = "media";
        const progress = periodicLog(logger);
        const result = await restoreMedia(loadRestoreMediaConfig(lookup), {
          logger,
          signal,
          onProgress: (p) => progress.update(describeRestoreProgress(p)),
        });
        throwIfCancelled(
          signal,
          `The run was cancelled after the snapshot was restored into ${result.targetDir}`,
        );
        core.setOutput("snapshot", result.snapshot);
        core.setOutput("target-dir", result.targetDir);
        core.setOutput("files", String(result.files));
        core.setOutput("duration-seconds", result.durationSeconds.toFixed(3));
        if (result.exitCode !== 0) {
          core.setFailed(
            `${result.failed.length} file(s) did not match the manifest's SHA-256 and were not restored: ${result.failed.join(", ")}`,
          );
        }
        return restoreMediaSummary({ result });
      }
      if (isListOnly(lookup)) {
        run.kind = undefined; // listing is not a restore: it records no metrics
        const { backupDir, prefix, destinations } = loadListConfig(lookup);
        const entries = await listBackups(await backupStores(backupDir, destinations, logger), prefix);
        const summary = backupListSummary(entries, now, backupDir);
        core.setOutput("backups-json", JSON.stringify(entries.map((e) => listedBackup(e, now))));
        core.info(`${entries.length} backup(s) in ${backupDir}`);
        return summary;
      }
      const config = loadRestoreConfig(lookup);
      database = config.database;
      if (config.gpgPrivateKey) core.setSecret(config.gpgPrivateKey);
      if (config.dryRun) {
        run.kind = undefined; // a dry run is not a restore: it records no metrics
        const entry = await chooseBackup(config);
        const plan = await planRestore(config, entry, now);
        const text = restorePlanText(plan);
        core.info(text);
        core.setOutput("source-backup", entry.uri);
        const summary = restorePlanSummary(plan.database, text, plan.problems.length === 0);
        if (plan.problems.length)
          core.setFailed(`Dry run: the restore would not go ahead: ${plan.problems.join("; ")}`);
        return summary;
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
      return restoreSummary({ result }, database, guidance);
    },
    onError: (err) => {
      if (err instanceof NoBackupBeforeTargetError) {
        guidance = err.guidance;
        core.info(guidance);
      }
    },
    failureSummary: (message, err) => {
      if (media) return restoreMediaSummary({ error: new Error(message) });
      const comparison = err instanceof RestoreFailedError ? err.proof?.comparison : undefined;
      return restoreSummary({ error: new Error(message), comparison }, database, guidance);
    },
  });
}
