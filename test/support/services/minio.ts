import type { ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
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

export interface MinioServer extends RunningService {
  /** http://127.0.0.1:<port>, for an S3 client with forcePathStyle. */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** The drive MinIO keeps its buckets in; it survives kill() and restart(). */
  readonly dataDir: string;
  /** MinIO's stdout and stderr, across restarts. */
  readonly logFile: string;
  /** A new S3 client for this server (path-style, the server's credentials); destroy() it when done. */
  client(): S3Client;
  createBucket(name: string): Promise<void>;
  /** SIGKILLs the server, as a crash would: no clean shutdown, the data directory stays. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data directory, and waits until it serves. */
  restart(): Promise<void>;
}

/** The MinIO binary: $LIFELINE_MINIO_BIN, PATH, or $(go env GOPATH)/bin (scripts/setup.sh builds it). */
export async function minioBinary(): Promise<string> {
  return locateBinary("minio", "LIFELINE_MINIO_BIN");
}

/**
 * A single-drive MinIO on free loopback ports (S3 API and its console, which MinIO always binds),
 * with its data, certs directory and log in a temporary directory.
 */
export async function startMinio(
  options: {
    accessKey?: string;
    secretKey?: string;
    /** Extra environment for the server, e.g. MINIO_PROMETHEUS_AUTH_TYPE=public for the benchmarks. */
    env?: Readonly<Record<string, string>>;
  } = {},
): Promise<MinioServer> {
  const binary = await minioBinary();
  const accessKey = options.accessKey ?? "lifeline-test";
  const secretKey = options.secretKey ?? "lifeline-test-secret";
  const region = "us-east-1";
  const root = await makeTempDir("minio");
  const dataDir = path.join(root, "data");
  const certsDir = path.join(root, "certs");
  const logFile = path.join(root, "minio.log");
  await mkdir(dataDir);
  const port = await freePort();
  const consolePort = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;

  const launch = async (): Promise<ChildProcess> => {
    const child = startDaemon(
      binary,
      [
        "server",
        dataDir,
        "--address",
        `127.0.0.1:${port}`,
        "--console-address",
        `127.0.0.1:${consolePort}`,
        "--certs-dir",
        certsDir,
      ],
      {
        cwd: root,
        logFile,
        env: {
          ...process.env,
          MINIO_ROOT_USER: accessKey,
          MINIO_ROOT_PASSWORD: secretKey,
          MINIO_REGION: region,
          MINIO_BROWSER: "off",
          MINIO_UPDATE: "off",
          // Relaxes production checks that do not apply to a throwaway drive (e.g. on the root disk).
          MINIO_CI_CD: "1",
          ...options.env,
        },
      },
    );
    await waitForDaemon("MinIO", child, logFile, async () => {
      // /live answers as soon as HTTP is up; until the object layer is, it says so in a header.
      const response = await fetch(`${endpoint}/minio/health/live`);
      return response.ok && response.headers.get("x-minio-server-status") !== "offline";
    });
    return child;
  };

  let child: ChildProcess | undefined = await launch();
  let stopped = false;
  const server: MinioServer = {
    name: "minio",
    endpoint,
    accessKey,
    secretKey,
    region,
    dataDir,
    logFile,
    client: () =>
      new S3Client({
        endpoint,
        region,
        forcePathStyle: true,
        credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
      }),
    async createBucket(name) {
      const client = server.client();
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
    async kill() {
      if (child) await endProcess(child, "SIGKILL");
      child = undefined;
    },
    async restart() {
      if (stopped) throw new Error("MinIO was stopped (its directory is gone): start a new one");
      await server.kill();
      child = await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child) await endProcess(child);
      child = undefined;
      await removeDir(root);
    },
  };
  return server;
}
