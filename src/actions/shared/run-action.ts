import * as core from "@actions/core";
import { metricsDestination } from "../../config/metrics-config.js";
import type { SettingLookup } from "../../config/settings.js";
import { Logger } from "../../log/logger.js";
import type { RunKind } from "../../metrics/failed-run.js";
import { failAction } from "./failure.js";
import { actionLookup, actionsLogSink, cancellationSignal, maskConnectionSecrets } from "./runtime.js";

/** What an action's body is given: its settings, a logger whose secrets are masked, the cancellation. */
export interface ActionRun {
  readonly lookup: SettingLookup;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** What a failure records in the metrics; the body clears it for a run that is not one (a listing, a dry run). */
  kind: RunKind | undefined;
  /** The `type` label of a failure's metrics: "database" unless the body says "media". */
  type: string;
}

export interface ActionSpec {
  /** The command, as the cancelled summary names it ("backup-db"). */
  readonly command: string;
  /** The metrics a failed run records, unless the body clears `run.kind`. */
  readonly kind: RunKind | undefined;
  /** The `type` label of a failure's metrics (default "database"). */
  readonly type?: string;
  /** Reads the settings, runs the engine, sets the outputs; returns the job summary. */
  readonly body: (run: ActionRun) => Promise<string>;
  /** Called first when the body throws, before the step is failed (e.g. to log guidance the error carries). */
  readonly onError?: (err: unknown) => void;
  /** The job summary of a run that failed (not cancelled), from the redacted message it failed with. */
  readonly failureSummary: (message: string, err: unknown) => string;
}

/**
 * The skeleton every action shares: settings looked up (input, then environment), every secret masked
 * before anything is logged, the failure metrics' destination read before anything else can fail, the
 * body, and on failure a failed step with the README's exit status and a recorded failure. The job
 * summary is written in `finally`, so that a failed run still explains itself on the run page.
 */
export async function runAction(spec: ActionSpec): Promise<void> {
  const startedAt = new Date();
  const lookup = actionLookup();
  const logger = new Logger(actionsLogSink());
  maskConnectionSecrets(lookup, logger);
  const signal = cancellationSignal();
  // Read before anything else can fail: a run that fails on its settings, or is refused, still records it.
  const metrics = metricsDestination(lookup);
  const run: ActionRun = { lookup, logger, signal, kind: spec.kind, type: spec.type ?? "database" };
  let summary = "";
  try {
    summary = await spec.body(run);
    // A run cancelled while its body finished anyway (a listing, a dry run) is still never a success.
    if (signal.aborted) throw signal.reason;
  } catch (err) {
    spec.onError?.(err);
    const failed = await failAction(err, {
      command: spec.command,
      kind: run.kind,
      type: run.type,
      metrics,
      startedAt,
      signal,
      logger,
    });
    summary = failed.cancelledSummary ?? spec.failureSummary(failed.message, err);
  } finally {
    try {
      // Off-site errors and verify's reasons come from servers and files: every secret the run
      // registered is masked in the summary too, as in the log.
      await core.summary.addRaw(logger.redact(summary)).write();
    } catch (err) {
      core.warning(`Could not write the job summary: ${(err as Error).message}`);
    }
  }
}
