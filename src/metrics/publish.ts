import { rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { MetricsSettings } from "../config/backup-db-config.js";
import { redactUrl } from "../db/database-url.js";
import { readRegularFile } from "../fs/regular-file.js";
import type { Logger } from "../log/logger.js";
import { withDeadline } from "../net/deadline.js";
import { parseExposition, renderExposition, type Sample, seriesKey } from "./exposition.js";

/** Each attempt's bound (the whole push is bounded by the network timeout too). */
const PUSH_ATTEMPT_TIMEOUT_MS = 10_000;
const PUSH_ATTEMPTS = 3;
/** The whole push's bound when none is configured (BACKUP_NETWORK_TIMEOUT_SECONDS sets it). */
const DEFAULT_PUSH_TIMEOUT_MS = 120_000;

/**
 * A Pushgateway URL split into the address fetch may use and its credentials: fetch refuses URLs with
 * `user:password@`, so they travel as an `Authorization: Basic` header; `shown` is safe to print.
 */
export function gatewayAddress(raw: string): { url: string; shown: string; authorization?: string } {
  const parsed = new URL(raw);
  if (parsed.username === "" && parsed.password === "") return { url: raw, shown: redactUrl(raw) };
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const credentials = `${decode(parsed.username)}:${decode(parsed.password)}`;
  parsed.username = "";
  parsed.password = "";
  const url = parsed.toString().replace(/\/+$/, "");
  return { url, shown: url, authorization: `Basic ${Buffer.from(credentials, "utf8").toString("base64")}` };
}

export interface PublishOutcome {
  readonly pushgateway?: "pushed" | string;
  readonly textfile?: "written" | string;
}

export interface PushOptions {
  /** Bound of the whole push, retries included (each attempt: at most 10 s). */
  readonly timeoutMs?: number | undefined;
  /** Ends the push early (the run's SIGINT/SIGTERM). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Pushes a batch job's samples to the Pushgateway under grouping key job + `group` labels (no instance
 * label, as the Pushgateway docs advise for batch jobs). POST replaces only the metric names sent, so
 * a failed run that sends no success timestamp leaves the last one in place. Credentials in the URL
 * are sent as basic auth and never printed.
 */
export async function pushToGateway(
  url: string,
  job: string,
  group: Record<string, string>,
  samples: readonly Sample[],
  options: PushOptions = {},
): Promise<void> {
  const gateway = gatewayAddress(url);
  const groupPath = Object.entries(group)
    .map(([k, v]) => `/${encodeURIComponent(k)}/${encodeURIComponent(v)}`)
    .join("");
  const groupingPath = `/metrics/job/${encodeURIComponent(job)}${groupPath}`;
  const target = `${gateway.url}${groupingPath}`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS;
  let lastError: unknown;
  try {
    await withDeadline(
      `The push to the Pushgateway ${gateway.shown}`,
      timeoutMs,
      async (signal) => {
        for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
          try {
            const response = await fetch(target, {
              method: "POST",
              headers: {
                "Content-Type": "text/plain; version=0.0.4",
                ...(gateway.authorization ? { Authorization: gateway.authorization } : {}),
              },
              body: renderExposition(samples),
              signal: AbortSignal.any([
                signal,
                AbortSignal.timeout(Math.min(PUSH_ATTEMPT_TIMEOUT_MS, timeoutMs)),
              ]),
            });
            if (response.ok) return;
            const body = (await response.text()).trim().slice(0, 300);
            lastError = new Error(
              `HTTP ${response.status}${body ? `: ${body}` : ""}${response.status === 401 ? " (check the user and password in PUSHGATEWAY_URL)" : ""}`,
            );
            if (response.status < 500) break; // a 4xx will not improve with retries
          } catch (err) {
            if (signal.aborted) throw err;
            lastError = (err as Error).cause instanceof Error ? (err as Error).cause : err;
          }
          if (attempt < PUSH_ATTEMPTS) await sleep(250 * 2 ** attempt, undefined, { signal });
        }
        throw lastError;
      },
      { signal: options.signal, setting: "BACKUP_NETWORK_TIMEOUT_SECONDS" },
    );
  } catch (err) {
    throw new Error(
      `Could not push metrics to ${redactUrl(`${gateway.shown}${groupingPath}`)}: ${(err as Error)?.message ?? err}`,
      { cause: err },
    );
  }
}

/**
 * Writes samples into a node_exporter textfile atomically (temp file + rename), keeping the series of
 * the file that this run does not replace — e.g. the last success timestamp when this run failed.
 */
export async function writeTextfile(file: string, samples: readonly Sample[]): Promise<void> {
  // Only a regular file is read (a FIFO put there would block the run forever); anything else is replaced.
  const previous = parseExposition(await readRegularFile(file, { followSymlinks: true }).catch(() => ""));
  const merged = new Map(previous.map((s) => [seriesKey(s.name, s.labels), s]));
  for (const s of samples) merged.set(seriesKey(s.name, s.labels), s);
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(temp, renderExposition([...merged.values()]), { mode: 0o644 });
  await rename(temp, file);
}

/**
 * Publishes a run's samples wherever configured. Never throws: a metrics failure is a warning and must
 * not fail a good backup; the outcome says what happened, for the summary.
 */
export async function publishMetrics(
  settings: MetricsSettings,
  group: Record<string, string>,
  samples: readonly Sample[],
  logger: Logger,
  signal?: AbortSignal,
): Promise<PublishOutcome> {
  const outcome: { pushgateway?: string; textfile?: string } = {};
  if (settings.pushgatewayUrl) {
    try {
      await pushToGateway(settings.pushgatewayUrl, settings.job, group, samples, {
        timeoutMs: settings.timeoutMs,
        // The push is the run's report: a cancelled run still makes it (bounded); a signal that
        // arrives while pushing ends it.
        signal: signal?.aborted ? undefined : signal,
      });
      outcome.pushgateway = "pushed";
      logger.info(`Metrics pushed to ${gatewayAddress(settings.pushgatewayUrl).shown} (job ${settings.job})`);
    } catch (err) {
      outcome.pushgateway = (err as Error).message;
      logger.warn(`${(err as Error).message}; the backup itself is not affected`);
    }
  }
  if (settings.textfile) {
    try {
      await writeTextfile(settings.textfile, samples);
      outcome.textfile = "written";
    } catch (err) {
      outcome.textfile = `Could not write ${settings.textfile}: ${(err as Error).message}`;
      logger.warn(`${outcome.textfile}; the backup itself is not affected`);
    }
  }
  return outcome;
}
