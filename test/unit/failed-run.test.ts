import { describe, expect, it } from "vitest";
import { metricsDestination } from "../../src/config/metrics-config.js";
import { environmentLookup } from "../../src/config/settings.js";
import { failedRunSamples } from "../../src/metrics/failed-run.js";
import { EXIT, exitStatusOf } from "../../src/process/exit-status.js";
import { CancelledError, ConfigError, UsageError, UserError } from "../../src/shared/errors.js";

describe("metricsDestination", () => {
  it("reads the metrics settings on their own, leaving out only a malformed one", () => {
    const env = {
      PUSHGATEWAY_URL: "http://gw:9091/",
      BACKUP_METRICS_TEXTFILE: "/m/l.prom",
      DATABASE_URL: "x",
    };
    expect(metricsDestination(environmentLookup(env))).toEqual({
      pushgatewayUrl: "http://gw:9091",
      job: "lifeline",
      textfile: "/m/l.prom",
    });
    expect(metricsDestination(environmentLookup({ ...env, PUSHGATEWAY_URL: "gw:9091" }))).toEqual({
      pushgatewayUrl: undefined,
      job: "lifeline",
      textfile: "/m/l.prom",
    });
    expect(
      metricsDestination(environmentLookup({ ...env, PUSHGATEWAY_JOB: "a b" })).pushgatewayUrl,
    ).toBeUndefined();
  });
});

describe("failedRunSamples", () => {
  const run = { finishedAt: new Date(1_700_000_000_000), durationSeconds: 2, exitStatus: 78 };
  it.each([
    ["backup", "backup_last_status", "backup_last_success_timestamp"],
    ["verify", "backup_verify_last_status", "backup_verify_last_success_timestamp"],
    ["restore", "backup_restore_last_status", "backup_restore_last_success_timestamp"],
  ] as const)("%s: status is the exit status, and no success series is sent", (kind, status, success) => {
    const samples = failedRunSamples(kind, "database", run);
    expect(samples.find((s) => s.name === status)?.value).toBe(78);
    expect(samples.some((s) => s.name === success)).toBe(false);
    expect(samples.some((s) => s.name === "backup_size_bytes")).toBe(false);
    expect(
      failedRunSamples(kind, "database", { ...run, exitStatus: 0 }).find((s) => s.name === status)?.value,
    ).toBe(1);
  });
});

describe("exitStatusOf", () => {
  it("maps each class of error to its documented status", () => {
    expect(exitStatusOf(new ConfigError("x"))).toBe(EXIT.config);
    expect(exitStatusOf(new UsageError("x"))).toBe(EXIT.usage);
    expect(exitStatusOf(new UserError("x"))).toBe(EXIT.failed);
    expect(exitStatusOf(new Error("x"))).toBe(EXIT.failed);
    expect(exitStatusOf(new CancelledError("SIGINT"))).toBe(130);
    expect(exitStatusOf(new CancelledError("SIGTERM"))).toBe(143);
  });

  it("a run whose signal was raised is cancelled, whatever it threw on the way out", () => {
    const controller = new AbortController();
    controller.abort(new CancelledError("SIGINT"));
    expect(exitStatusOf(new ConfigError("x"), controller.signal)).toBe(130);
    expect(exitStatusOf(new Error("pg_dump was killed by SIGTERM"), controller.signal)).toBe(130);
  });
});
