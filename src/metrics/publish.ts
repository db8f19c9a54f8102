import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { MetricsSettings } from "../config/backup-db-config.js";
import { redactUrl } from "../config/database-url.js";
import type { Logger } from "../log/logger.js";
import { parseExposition, renderExposition, type Sample, seriesKey } from "./exposition.js";

const PUSH_TIMEOUT_MS = 10_000;
const PUSH_ATTEMPTS = 3;

export interface PublishOutcome {
  readonly pushgateway?: "pushed" | string;
  readonly textfile?: "written" | string;
}

/**
 * Pushes a batch job's samples to the Pushgateway under grouping key job + `group` labels (no instance
 * label, as the Pushgateway docs advise for batch jobs). POST replaces only the metric names sent, so
 * a failed run that sends no success timestamp leaves the last one in place.
 */
export async function pushToGateway(
  url: string,
  job: string,
  group: Record<string, string>,
  samples: readonly Sample[],
): Promise<void> {
  const groupPath = Object.entries(group)
    .map(([k, v]) => `/${encodeURIComponent(k)}/${encodeURIComponent(v)}`)
    .join("");
  const target = `${url}/metrics/job/${encodeURIComponent(job)}${groupPath}`;
  let lastError: unknown;
  for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
    try {
      const response = await fetch(target, {
        method: "POST",
        headers: { "Content-Type": "text/plain; version=0.0.4" },
        body: renderExposition(samples),
        signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
      });
      if (response.ok) return;
      const body = (await response.text()).trim().slice(0, 300);
      lastError = new Error(`HTTP ${response.status}${body ? `: ${body}` : ""}`);
      if (response.status < 500) break; // a 4xx will not improve with retries
    } catch (err) {
      lastError = (err as Error).cause instanceof Error ? (err as Error).cause : err;
    }
    if (attempt < PUSH_ATTEMPTS) await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
  }
  throw new Error(
    `Could not push metrics to ${redactUrl(target)}: ${(lastError as Error)?.message ?? lastError}`,
  );
}

/**
 * Writes samples into a node_exporter textfile atomically (temp file + rename), keeping the series of
 * the file that this run does not replace — e.g. the last success timestamp when this run failed.
 */
export async function writeTextfile(file: string, samples: readonly Sample[]): Promise<void> {
  const previous = parseExposition(await readFile(file, "utf8").catch(() => ""));
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
): Promise<PublishOutcome> {
  const outcome: { pushgateway?: string; textfile?: string } = {};
  if (settings.pushgatewayUrl) {
    try {
      await pushToGateway(settings.pushgatewayUrl, settings.job, group, samples);
      outcome.pushgateway = "pushed";
      logger.info(`Metrics pushed to ${redactUrl(settings.pushgatewayUrl)} (job ${settings.job})`);
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
