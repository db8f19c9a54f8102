import type { Logger } from "../log/logger.js";
import type { Destination } from "./destination.js";
import type { BackupStore } from "./store.js";

/**
 * The store behind one configured destination. Each SDK is loaded only when its destination is
 * configured: a local-only run does not pay for parsing three cloud SDKs at start-up. Every request
 * of the store ends when `signal` (the run's: SIGINT/SIGTERM) fires.
 */
export async function openStore(
  destination: Destination,
  logger?: Logger,
  signal?: AbortSignal,
): Promise<BackupStore> {
  switch (destination.kind) {
    case "s3": {
      const { S3Store } = await import("./s3-store.js");
      return new S3Store(destination.settings, logger, signal);
    }
    case "gcs": {
      const { GcsStore } = await import("./gcs-store.js");
      return new GcsStore(destination.settings, logger, signal);
    }
    case "azure": {
      const { AzureStore } = await import("./azure-store.js");
      return new AzureStore(destination.settings, logger, signal);
    }
  }
}
