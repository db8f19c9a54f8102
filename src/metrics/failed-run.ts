import type { MetricsSettings } from "../config/backup-db-config.js";
import type { Logger } from "../log/logger.js";
import { backupSamples } from "./backup-metrics.js";
import type { Sample } from "./exposition.js";
import { type PublishOutcome, publishMetrics } from "./publish.js";
import { restoreSamples, verifySamples } from "./restore-metrics.js";

/** Which command's metrics a run records: backup_*, backup_verify_* or backup_restore_*. */
export type RunKind = "backup" | "verify" | "restore";

const STATUS: Record<RunKind, string> = {
  backup: "backup_last_status",
  verify: "backup_verify_last_status",
  restore: "backup_restore_last_status",
};

/**
 * The samples of a run that ended in failure (thrown, refused or cancelled): its status is its exit
 * status (never 0), its duration and attempt time are recorded, and no success series is sent, so the
 * last success timestamp and size stay as the last good run left them (Pushgateway POST replaces only
 * the metric names sent; the textfile keeps the series not written).
 */
export function failedRunSamples(
  kind: RunKind,
  type: string,
  run: { finishedAt: Date; durationSeconds: number; exitStatus: number },
): Sample[] {
  const status = run.exitStatus === 0 ? 1 : run.exitStatus;
  const base = { ok: false, finishedAt: run.finishedAt, durationSeconds: run.durationSeconds };
  const samples =
    kind === "backup"
      ? backupSamples(type, base)
      : kind === "verify"
        ? verifySamples(type, { ...base, exitCode: status })
        : restoreSamples(type, base);
  return samples.map((s) => (s.name === STATUS[kind] ? { ...s, value: status } : s));
}

/** Publishes a failed run's samples (`type` "database" or "media") wherever configured; never throws. */
export async function recordFailedRun(
  settings: MetricsSettings,
  kind: RunKind,
  run: { startedAt: Date; exitStatus: number },
  logger: Logger,
  type = "database",
): Promise<PublishOutcome> {
  if (!settings.pushgatewayUrl && !settings.textfile) return {};
  const finishedAt = new Date();
  const samples = failedRunSamples(kind, type, {
    finishedAt,
    durationSeconds: (finishedAt.getTime() - run.startedAt.getTime()) / 1000,
    exitStatus: run.exitStatus,
  });
  return publishMetrics(settings, { type }, samples, logger);
}
