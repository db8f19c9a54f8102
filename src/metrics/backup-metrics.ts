import { gauge, type Sample, unixSeconds } from "./exposition.js";

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
  const at = unixSeconds(run.finishedAt);
  const samples: Sample[] = [
    gauge("backup_last_status", "Exit status of last backup (0=success)", labels, run.ok ? 0 : 1),
    gauge("backup_last_run_timestamp", "Unix timestamp of the last backup attempt", labels, at),
    gauge("backup_duration_seconds", "Wall time of the last backup attempt", labels, run.durationSeconds),
  ];
  for (const d of destinations) {
    const dl = { type, destination: d.kind, location: d.location };
    samples.push(
      gauge(
        "backup_upload_last_status",
        "Status of the last upload to an off-site destination (0=success)",
        dl,
        d.ok ? 0 : 1,
      ),
      gauge(
        "backup_upload_duration_seconds",
        "Wall time of the last upload to an off-site destination",
        dl,
        d.seconds,
      ),
    );
    if (d.ok) {
      samples.push(
        gauge(
          "backup_upload_last_success_timestamp",
          "Unix timestamp of the last successful upload to an off-site destination",
          dl,
          at,
        ),
        gauge(
          "backup_upload_bytes",
          "Bytes of the last successful upload to an off-site destination",
          dl,
          d.bytes,
        ),
      );
    }
  }
  // The backup exists when its size is known, even if an off-site copy failed and the run exits 1.
  if (run.sizeBytes !== undefined) {
    samples.push(
      gauge("backup_last_success_timestamp", "Unix timestamp of last successful backup", labels, at),
      gauge("backup_size_bytes", "Size of latest backup in bytes", labels, run.sizeBytes ?? 0),
    );
  }
  return samples;
}
