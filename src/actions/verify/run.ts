import * as core from "@actions/core";
import { metricsDestination } from "../../config/metrics-config.js";
import { loadVerifyConfig } from "../../config/verify-config.js";
import { Logger } from "../../log/logger.js";
import { throwIfCancelled } from "../../shared/errors.js";
import { cell } from "../../summary/markdown.js";
import { verifyBackups } from "../../verify/verify-backups.js";
import { verifyBackupsSummary } from "../../verify/verify-summary.js";
import { failAction } from "../shared/failure.js";
import {
  actionLookup,
  actionsLogSink,
  cancellationSignal,
  maskConnectionSecrets,
} from "../shared/runtime.js";

/** The verify action: inputs → engine → outputs, job summary (also on failure), the runbook's exit code. */
export async function runVerify(): Promise<void> {
  const startedAt = new Date();
  const lookup = actionLookup();
  const logger = new Logger(actionsLogSink());
  maskConnectionSecrets(lookup, logger);
  const signal = cancellationSignal();
  // Read before anything else can fail: a run that fails on its settings still records the failure.
  const metrics = metricsDestination(lookup);
  let summary = "";
  try {
    const config = loadVerifyConfig(lookup);
    if (config.gpgPrivateKey) core.setSecret(config.gpgPrivateKey);
    const report = await verifyBackups(config, { logger, signal });
    throwIfCancelled(signal, "The verification was cancelled");
    summary = verifyBackupsSummary(report);
    core.setOutput("verified-count", String(report.checks.filter((c) => c.ok).length));
    core.setOutput("failed-count", String(report.checks.filter((c) => !c.ok).length));
    core.setOutput(
      "newest-age-hours",
      report.newestAgeHours === undefined ? "" : report.newestAgeHours.toFixed(2),
    );
    core.setOutput(
      "test-restore",
      report.testRestore ? (report.testRestore.ok ? "passed" : "failed") : "skipped",
    );
    core.setOutput("exit-code", String(report.exitCode));
    if (report.exitCode !== 0) {
      core.setFailed(report.reasons.join("; "));
      process.exitCode = report.exitCode; // the runbook's codes: 1 failures, 2 too old or missing
    }
  } catch (err) {
    const failed = await failAction(err, {
      command: "verify",
      kind: "verify",
      metrics,
      startedAt,
      signal,
      logger,
    });
    summary =
      failed.cancelledSummary ?? `## ❌ Lifeline verify failed\n\n**Cause:** ${cell(failed.message)}\n`;
  } finally {
    try {
      await core.summary.addRaw(summary).write();
    } catch (err) {
      core.warning(`Could not write the job summary: ${(err as Error).message}`);
    }
  }
}
