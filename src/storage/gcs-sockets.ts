import http from "node:http";
import https from "node:https";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
// teeny-request is @google-cloud/storage's HTTP client; its agent pool is the only handle on the
// sockets of the SDK's JSON-API requests (bucket listing, small objects, deletes).
import { pool as teenyAgents } from "teeny-request/build/src/agents.js";

/** Sets an idle timeout on every socket an agent opens: silence for `idleMs` cuts it. */
function idleCutting<A extends typeof http.Agent | typeof https.Agent>(Base: A, idleMs: number) {
  return class extends (Base as typeof http.Agent) {
    override createConnection(
      options: http.ClientRequestArgs,
      callback?: (err: Error | null, stream: Duplex) => void,
    ): Duplex | null | undefined {
      const stream = super.createConnection(options, callback);
      if (stream instanceof Socket) {
        stream.setTimeout(idleMs, () =>
          stream.destroy(Object.assign(new Error(`no answer for ${idleMs} ms`), { code: "ETIMEDOUT" })),
        );
      }
      return stream;
    }
  };
}

let installedIdleMs: number | undefined;

/**
 * The GCS SDK's JSON-API requests go through teeny-request, whose Node path (node-fetch 3) ignores
 * its `timeout` option and takes no AbortSignal: a server that accepts the connection and never
 * answers would hold the socket — and the process — forever, long after Lifeline stopped waiting.
 * Its keep-alive agents (the "forever" pool the SDK asks for) are replaced by ones that cut a socket
 * silent for `idleMs` (the network timeout); the SDK then fails or retries the request as for any
 * network error. Process-wide, like the pool itself; the smallest bound asked for wins.
 */
export function boundGcsSockets(idleMs: number): void {
  if (installedIdleMs !== undefined && installedIdleMs <= idleMs) return;
  installedIdleMs = idleMs;
  const options = { keepAlive: true, maxSockets: Number.POSITIVE_INFINITY };
  teenyAgents.set("http:forever", new (idleCutting(http.Agent, idleMs))(options));
  teenyAgents.set("https:forever", new (idleCutting(https.Agent, idleMs))(options) as http.Agent);
}
