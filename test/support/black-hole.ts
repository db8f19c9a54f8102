import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll } from "vitest";
import type { RunningService } from "./services/service.js";

/** A server that accepts TCP connections and never answers: a silent endpoint. */
export interface BlackHole extends RunningService {
  readonly host: string;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Connections accepted so far: proof that the client really waited on it. */
  readonly connections: number;
  /** Resolves once at least `n` connections were accepted. */
  connected(n?: number): Promise<void>;
}

/** Starts a black hole on a free loopback port. */
export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    // Reads and drops whatever the client sends; never writes a byte back.
    socket.resume();
    for (const w of waiters.splice(0)) {
      if (connections >= w.n) w.resolve();
      else waiters.push(w);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("the black hole has no port");
  let stopped = false;
  return {
    name: "black hole",
    host: "127.0.0.1",
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    get connections() {
      return connections;
    },
    connected: (n = 1) =>
      connections >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A black hole for the test file: started before its tests, stopped after. */
export function useBlackHole(): () => BlackHole {
  let hole: BlackHole | undefined;
  beforeAll(async () => {
    hole = await startBlackHole();
  });
  afterAll(async () => {
    await hole?.stop();
  });
  return () => {
    if (!hole) throw new Error("the black hole is not started yet: use the getter inside a test");
    return hole;
  };
}
