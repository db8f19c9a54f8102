import type { MetricsSettings } from "../../config/backup-db-config.js";
import type { Logger } from "../../log/logger.js";
import { backupSamples, type DestinationRun } from "../../metrics/backup-metrics.js";
import { type PublishOutcome, publishMetrics } from "../../metrics/publish.js";

/** A finished run, as its metrics report it. */
export interface RunToReport {
  readonly finishedAt: Date;
  readonly durationSeconds: number;
  readonly sizeBytes: number;
  readonly destinations: readonly DestinationRun[];
}

/**
 * The last stage of a run that kept its backup: its metrics (status, time, size, one series per
 * destination) pushed or written as configured. A run fails (status 1) when a destination failed.
 * A failed run's metrics are the adapter's (metrics/failed-run.ts), which also sees its exit status.
 */
export async function report(
  type: string,
  settings: MetricsSettings,
  run: RunToReport,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<PublishOutcome> {
  return publishMetrics(
    settings,
    { type },
    backupSamples(
      type,
      {
        ok: run.destinations.every((o) => o.ok),
        finishedAt: run.finishedAt,
        durationSeconds: run.durationSeconds,
        sizeBytes: run.sizeBytes,
      },
      run.destinations,
    ),
    logger,
    signal,
  );
}
