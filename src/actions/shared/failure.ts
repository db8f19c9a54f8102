import * as core from "@actions/core";
import type { MetricsSettings } from "../../config/backup-db-config.js";
import type { Logger } from "../../log/logger.js";
import { type RunKind, recordFailedRun } from "../../metrics/failed-run.js";
import { cancellationOf, exitStatusOf } from "../../process/exit-status.js";
import { cell } from "../../summary/markdown.js";
import { failureMessage } from "./runtime.js";

export interface FailedAction {
  /** The redacted message the step failed with. */
  readonly message: string;
  /** Set when SIGINT/SIGTERM cancelled the run: its summary says "cancelled", not what was cut short. */
  readonly cancelledSummary: string | undefined;
}

/**
 * Ends a run that threw (or was cancelled): fails the step, sets the exit status of the README's table
 * (78 configuration, 130/143 cancelled, else 1), and records the failure in the metrics when `kind` is
 * set, so that every failed run, early or late, fires BackupFailed.
 */
export async function failAction(
  err: unknown,
  run: {
    command: string;
    kind: RunKind | undefined;
    /** The `type` label of its metrics: "database" (default) or "media". */
    type?: string;
    metrics: MetricsSettings;
    startedAt: Date;
    signal: AbortSignal;
    logger: Logger;
  },
): Promise<FailedAction> {
  const status = exitStatusOf(err, run.signal);
  const cancelled = cancellationOf(err, run.signal);
  let message = run.logger.redact(failureMessage(err));
  if (cancelled && !/cancelled/i.test(message)) message = `Cancelled by ${cancelled.signalName}: ${message}`;
  core.setFailed(message);
  process.exitCode = status; // after setFailed, which sets 1
  if (run.kind) {
    await recordFailedRun(
      run.metrics,
      run.kind,
      { startedAt: run.startedAt, exitStatus: status },
      run.logger,
      run.type,
    );
  }
  return {
    message,
    cancelledSummary: cancelled
      ? `## ⏹️ Lifeline ${run.command} cancelled\n\n**Cause:** ${cell(message)} (exit ${status})\n`
      : undefined,
  };
}
