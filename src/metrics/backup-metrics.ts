import type { Sample } from "./exposition.js";

/** How one cloud destination fared, as far as metrics care. */
export interface DestinationRun {
  readonly kind: string;
  readonly location: string;
  readonly ok: boolean;
  readonly bytes: number;
  readonly seconds: number;
}

/**
 * The runbook's metric names, with `type` as its label ("database", later "media"). A run whose local
 * backup landed but whose off-site copy failed reports status 1 (it exits 1, and BackupFailed fires)
 * while its success timestamp and size still advance: the backup exists. Each destination gets its own
 * `backup_upload_*` series.
 */
export function backupSamples(
  type: string,
  run: { ok: boolean; finishedAt: Date; durationSeconds: number; sizeBytes?: number },
  destinations: readonly DestinationRun[] = [],
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
  for (const d of destinations) {
    const dl = { type, destination: d.kind, location: d.location };
    samples.push(
      {
        name: "backup_upload_last_status",
        help: "Status of the last upload to an off-site destination (0=success)",
        type: "gauge",
        labels: dl,
        value: d.ok ? 0 : 1,
      },
      {
        name: "backup_upload_duration_seconds",
        help: "Wall time of the last upload to an off-site destination",
        type: "gauge",
        labels: dl,
        value: d.seconds,
      },
    );
    if (d.ok) {
      samples.push(
        {
          name: "backup_upload_last_success_timestamp",
          help: "Unix timestamp of the last successful upload to an off-site destination",
          type: "gauge",
          labels: dl,
          value: at,
        },
        {
          name: "backup_upload_bytes",
          help: "Bytes of the last successful upload to an off-site destination",
          type: "gauge",
          labels: dl,
          value: d.bytes,
        },
      );
    }
  }
  // The backup exists when its size is known, even if an off-site copy failed and the run exits 1.
  if (run.sizeBytes !== undefined) {
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
