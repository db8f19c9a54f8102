import { access, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import {
  endProcess,
  freePort,
  makeTempDir,
  type RunningService,
  removeDir,
  startDaemon,
  waitForDaemon,
} from "./service.js";

/** Azurite's development account: the well-known name and key every Azure Storage emulator uses. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteServer extends RunningService {
  /** http://127.0.0.1:<port>/devstoreaccount1 */
  readonly blobEndpoint: string;
  /** A connection string with the well-known key and this BlobEndpoint. */
  readonly connectionString: string;
  readonly accountName: string;
  readonly accountKey: string;
  readonly dataDir: string;
  readonly logFile: string;
  serviceClient(): BlobServiceClient;
  createContainer(name: string): Promise<void>;
}

/**
 * Azurite needs Node >= 22; the tests may run on an older node (vitest), so it runs on the
 * node_modules/node24 runtime that npm ci installs when this node is too old.
 */
async function azuriteCommand(): Promise<[string, string]> {
  const require = createRequire(import.meta.url);
  let packageDir: string;
  try {
    packageDir = path.dirname(require.resolve("azurite/package.json"));
  } catch {
    throw new Error("the azurite package is not installed: run scripts/setup.sh (npm ci)");
  }
  const manifest = JSON.parse(await readFile(path.join(packageDir, "package.json"), "utf8")) as {
    bin: Record<string, string>;
  };
  const script = path.join(packageDir, manifest.bin["azurite-blob"] ?? "dist/src/blob/main.js");
  if (Number(process.versions.node.split(".")[0]) >= 22) return [process.execPath, script];
  const node24 = path.join(packageDir, "..", "node24", "bin", "node");
  try {
    await access(node24);
  } catch {
    throw new Error(
      `Azurite needs Node >= 22 and this is ${process.version}, with no ${node24}: run scripts/setup.sh`,
    );
  }
  return [node24, script];
}

/**
 * Azurite's Blob service alone, on a free loopback port, persisting to a temporary directory.
 * --skipApiVersionCheck lets a newer @azure/storage-blob talk to it; --loose ignores headers it
 * does not implement instead of failing the request.
 */
export async function startAzurite(): Promise<AzuriteServer> {
  const [node, script] = await azuriteCommand();
  const root = await makeTempDir("azurite");
  const logFile = path.join(root, "azurite.log");
  const port = await freePort();
  const child = startDaemon(
    node,
    [
      script,
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      String(port),
      "--location",
      root,
      "--skipApiVersionCheck",
      "--disableTelemetry",
      "--loose",
    ],
    { cwd: root, logFile },
  );
  const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  // Any HTTP answer will do: an unsigned request gets a 4xx once the service is listening.
  await waitForDaemon("Azurite", child, logFile, async () => (await fetch(blobEndpoint)).status > 0);

  const connectionString = [
    "DefaultEndpointsProtocol=http",
    `AccountName=${AZURITE_ACCOUNT}`,
    `AccountKey=${AZURITE_KEY}`,
    `BlobEndpoint=${blobEndpoint};`,
  ].join(";");
  let stopped = false;
  const server: AzuriteServer = {
    name: "azurite",
    blobEndpoint,
    connectionString,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    dataDir: root,
    logFile,
    serviceClient: () => BlobServiceClient.fromConnectionString(connectionString),
    async createContainer(name) {
      await server.serviceClient().createContainer(name);
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
