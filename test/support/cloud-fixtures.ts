import { afterAll, beforeAll } from "vitest";
import { type AzuriteServer, startAzurite } from "./services/azurite.js";
import { type FakeGcsServer, startFakeGcs } from "./services/fake-gcs.js";
import { type MinioServer, startMinio } from "./services/minio.js";
import type { RunningService } from "./services/service.js";

/** Starts a service for the test file (beforeAll) and stops it after (afterAll); the getter is for tests. */
export function useService<T extends RunningService>(label: string, start: () => Promise<T>): () => T {
  let server: T | undefined;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error(`${label} is not started yet: use the getter inside a test`);
    return server;
  };
}

/** A private MinIO (S3) for the test file. */
export function useMinio(): () => MinioServer {
  return useService("MinIO", startMinio);
}

/** A private fake-gcs-server (GCS JSON API) for the test file. */
export function useFakeGcs(): () => FakeGcsServer {
  return useService("fake-gcs-server", startFakeGcs);
}

/** A private Azurite Blob service for the test file. */
export function useAzurite(): () => AzuriteServer {
  return useService("Azurite", startAzurite);
}
