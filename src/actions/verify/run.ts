import * as core from "@actions/core";
import { isMedia } from "../../config/media-config.js";
import { loadVerifyConfig } from "../../config/verify-config.js";
import { throwIfCancelled } from "../../shared/errors.js";
import { cell } from "../../summary/markdown.js";
import { verifyBackups } from "../../verify/verify-backups.js";
import { verifyBackupsSummary } from "../../verify/verify-summary.js";
import { runAction } from "../shared/run-action.js";
import { verifyMediaBody } from "../shared/verify-media-body.js";

/** The verify action: inputs → engine → outputs, job summary (also on failure), the runbook's exit code. */
export async function runVerify(): Promise<void> {
  await runAction({
    command: "verify",
    kind: "verify",
    body: async (run) => {
      const { lookup, logger, signal } = run;
      if (isMedia(lookup)) {
        run.type = "media";
        return verifyMediaBody(lookup, logger, signal);
      }
      const config = loadVerifyConfig(lookup);
      if (config.gpgPrivateKey) core.setSecret(config.gpgPrivateKey);
      const report = await verifyBackups(config, { logger, signal });
      throwIfCancelled(signal, "The verification was cancelled");
      const summary = verifyBackupsSummary(report);
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
      return summary;
    },
    failureSummary: (message) => `## ❌ Lifeline verify failed\n\n**Cause:** ${cell(message)}\n`,
  });
}
