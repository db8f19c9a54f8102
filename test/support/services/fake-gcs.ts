import path from "node:path";
import { Storage } from "@google-cloud/storage";
import {
  endProcess,
  freePort,
  locateBinary,
  makeTempDir,
  type RunningService,
  removeDir,
  startDaemon,
  waitForDaemon,
} from "./service.js";

export interface FakeGcsServer extends RunningService {
  /** http://127.0.0.1:<port>, the apiEndpoint for @google-cloud/storage. */
  readonly endpoint: string;
  readonly projectId: string;
  /** Where the filesystem backend keeps buckets and objects (resumable sessions live in memory). */
  readonly dataDir: string;
  readonly logFile: string;
  /** A GCS client for this server: JSON API, simple and resumable uploads, no credentials. */
  storage(): Storage;
  createBucket(name: string): Promise<void>;
}

/** The fake-gcs-server binary: $LIFELINE_FAKE_GCS_BIN, PATH, or $(go env GOPATH)/bin. */
export async function fakeGcsBinary(): Promise<string> {
  return locateBinary("fake-gcs-server", "LIFELINE_FAKE_GCS_BIN");
}

/**
 * fake-gcs-server over plain HTTP on a free loopback port, filesystem backend in a temporary
 * directory. Every flag that has a FAKE_GCS_* environment default is given explicitly.
 *
 * The Node client builds its resumable-upload URLs from apiEndpoint, and the server answers the
 * session with a Location built from the request's Host, so both point back here. -public-host is
 * the Host the server treats as "storage.googleapis.com" (its XML API and signed-URL routes) and
 * -external-url the base of selfLink/mediaLink; both are set to this address as well.
 *
 * STORAGE_EMULATOR_HOST, if set in the test's environment, would override the JSON API base URL
 * of every Storage (it becomes the baseUrl verbatim, without /storage/v1), so storage() refuses
 * to build a client while it is set.
 */
export async function startFakeGcs(): Promise<FakeGcsServer> {
  const binary = await fakeGcsBinary();
  const root = await makeTempDir("fake-gcs");
  const dataDir = path.join(root, "storage");
  const logFile = path.join(root, "fake-gcs-server.log");
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const endpoint = `http://${host}`;
  const projectId = "test";
  const child = startDaemon(
    binary,
    [
      "-scheme",
      "http",
      "-host",
      "127.0.0.1",
      "-port",
      String(port),
      "-public-host",
      host,
      "-external-url",
      endpoint,
      "-backend",
      "filesystem",
      "-filesystem-root",
      dataDir,
      "-location",
      "US-CENTRAL1",
      "-log-level",
      "warn",
    ],
    { cwd: root, logFile },
  );
  await waitForDaemon(
    "fake-gcs-server",
    child,
    logFile,
    async () => (await fetch(`${endpoint}/_internal/healthcheck`)).ok,
  );

  let stopped = false;
  const server: FakeGcsServer = {
    name: "fake-gcs-server",
    endpoint,
    projectId,
    dataDir,
    logFile,
    storage() {
      const emulatorHost = process.env.STORAGE_EMULATOR_HOST;
      if (emulatorHost !== undefined) {
        throw new Error(
          `STORAGE_EMULATOR_HOST=${emulatorHost} would send the GCS client's JSON API calls there ` +
            `instead of ${endpoint}: unset it for the tests`,
        );
      }
      return new Storage({ apiEndpoint: endpoint, projectId });
    },
    async createBucket(name) {
      await server.storage().createBucket(name);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await endProcess(child);
      await removeDir(root);
    },
  };
  return server;
}
