import type { Sample } from "./exposition.js";

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
    {
      name: "backup_verify_last_status",
      help: "Exit code of the last backup verification (0 ok, 1 failures, 2 too old or missing)",
      type: "gauge",
      labels,
      value: run.exitCode,
    },
    {
      name: "backup_verify_duration_seconds",
      help: "Wall time of the last backup verification",
      type: "gauge",
      labels,
      value: run.durationSeconds,
    },
  ];
  if (run.newestAgeHours !== undefined) {
    samples.push({
      name: "backup_verify_newest_age_seconds",
      help: "Age of the newest good daily backup when last verified",
      type: "gauge",
      labels,
      value: Math.round(run.newestAgeHours * 3600),
    });
  }
  if (run.ok) {
    samples.push({
      name: "backup_verify_last_success_timestamp",
      help: "Unix timestamp of the last verification that passed",
      type: "gauge",
      labels,
      value: Math.floor(run.finishedAt.getTime() / 1000),
    });
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
    {
      name: "backup_restore_last_status",
      help: "Exit status of the last restore (0=success)",
      type: "gauge",
      labels,
      value: run.ok ? 0 : 1,
    },
    {
      name: "backup_restore_duration_seconds",
      help: "Wall time of the last restore",
      type: "gauge",
      labels,
      value: run.durationSeconds,
    },
  ];
  if (run.ok) {
    samples.push({
      name: "backup_restore_last_success_timestamp",
      help: "Unix timestamp of the last successful restore",
      type: "gauge",
      labels,
      value: Math.floor(run.finishedAt.getTime() / 1000),
    });
  }
  return samples;
}
