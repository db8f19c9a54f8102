import { gauge, type Sample, unixSeconds } from "./exposition.js";

/** Samples of a verify run, per backup type, so that alerts can tell "not verified lately" apart. */
export function verifySamples(
  type: string,
  run: {
    ok: boolean;
    exitCode: number;
    finishedAt: Date;
    durationSeconds: number;
    newestAgeHours?: number | undefined;
  },
): Sample[] {
  const labels = { type };
  const samples: Sample[] = [
    gauge(
      "backup_verify_last_status",
      "Exit code of the last backup verification (0 ok, 1 failures, 2 too old or missing)",
      labels,
      run.exitCode,
    ),
    gauge(
      "backup_verify_duration_seconds",
      "Wall time of the last backup verification",
      labels,
      run.durationSeconds,
    ),
  ];
  if (run.newestAgeHours !== undefined) {
    samples.push(
      gauge(
        "backup_verify_newest_age_seconds",
        "Age of the newest good daily backup when last verified",
        labels,
        Math.round(run.newestAgeHours * 3600),
      ),
    );
  }
  if (run.ok) {
    samples.push(
      gauge(
        "backup_verify_last_success_timestamp",
        "Unix timestamp of the last verification that passed",
        labels,
        unixSeconds(run.finishedAt),
      ),
    );
  }
  return samples;
}

/** Samples of a restore run. */
export function restoreSamples(
  type: string,
  run: { ok: boolean; finishedAt: Date; durationSeconds: number },
): Sample[] {
  const labels = { type };
  const samples: Sample[] = [
    gauge(
      "backup_restore_last_status",
      "Exit status of the last restore (0=success)",
      labels,
      run.ok ? 0 : 1,
    ),
    gauge("backup_restore_duration_seconds", "Wall time of the last restore", labels, run.durationSeconds),
  ];
  if (run.ok) {
    samples.push(
      gauge(
        "backup_restore_last_success_timestamp",
        "Unix timestamp of the last successful restore",
        labels,
        unixSeconds(run.finishedAt),
      ),
    );
  }
  return samples;
}
