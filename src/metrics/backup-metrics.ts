import type { Sample } from "./exposition.js";

/** The runbook's metric names, with `type` as its label ("database", later "media"). */
export function backupSamples(
  type: string,
  run: { ok: boolean; finishedAt: Date; durationSeconds: number; sizeBytes?: number },
): Sample[] {
  const labels = { type };
  const at = Math.floor(run.finishedAt.getTime() / 1000);
  const samples: Sample[] = [
    {
      name: "backup_last_status",
      help: "Exit status of last backup (0=success)",
      type: "gauge",
      labels,
      value: run.ok ? 0 : 1,
    },
    {
      name: "backup_last_run_timestamp",
      help: "Unix timestamp of the last backup attempt",
      type: "gauge",
      labels,
      value: at,
    },
    {
      name: "backup_duration_seconds",
      help: "Wall time of the last backup attempt",
      type: "gauge",
      labels,
      value: run.durationSeconds,
    },
  ];
  if (run.ok) {
    samples.push(
      {
        name: "backup_last_success_timestamp",
        help: "Unix timestamp of last successful backup",
        type: "gauge",
        labels,
        value: at,
      },
      {
        name: "backup_size_bytes",
        help: "Size of latest backup in bytes",
        type: "gauge",
        labels,
        value: run.sizeBytes ?? 0,
      },
    );
  }
  return samples;
}
