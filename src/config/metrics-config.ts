import { BACKUP_DB_SETTINGS, type MetricsSettings } from "./backup-db-config.js";
import { require, resolve, type SettingLookup } from "./settings.js";

/** Where a run's metrics go and how long a push may take, read with the run's other settings (throws on a malformed one). */
export function metricsSettings(lookup: SettingLookup): MetricsSettings {
  const s = BACKUP_DB_SETTINGS;
  return {
    pushgatewayUrl: resolve(s.pushgatewayUrl, lookup),
    job: require(s.pushgatewayJob, lookup),
    textfile: resolve(s.metricsTextfile, lookup),
    timeoutMs: require(s.networkTimeoutSeconds, lookup) * 1000,
  };
}

/**
 * Where a run's metrics go, read on its own and before every other setting, and never throwing: a run
 * whose other settings fail to load can still record its failure. A destination whose own setting is
 * malformed is left out (the full configuration load then reports that setting).
 */
export function metricsDestination(lookup: SettingLookup): MetricsSettings {
  const s = BACKUP_DB_SETTINGS;
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch {
      return undefined;
    }
  };
  const job = attempt(() => require(s.pushgatewayJob, lookup));
  return {
    pushgatewayUrl: job === undefined ? undefined : attempt(() => resolve(s.pushgatewayUrl, lookup)),
    job: job ?? "lifeline",
    textfile: attempt(() => resolve(s.metricsTextfile, lookup)),
  };
}
