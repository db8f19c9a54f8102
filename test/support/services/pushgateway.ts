import path from "node:path";
import {
  endProcess,
  freePort,
  makeTempDir,
  type RunningService,
  removeDir,
  startDaemon,
  waitUntil,
} from "./service.js";

export interface Pushgateway extends RunningService {
  readonly url: string;
  /** The gateway's own /metrics exposition. */
  scrape(): Promise<string>;
}

/** Debian's prometheus-pushgateway on a free loopback port, in a temporary directory. */
export async function startPushgateway(): Promise<Pushgateway> {
  const dir = await makeTempDir("pushgateway");
  const port = await freePort();
  const child = startDaemon(
    "prometheus-pushgateway",
    [`--web.listen-address=127.0.0.1:${port}`, `--persistence.file=${path.join(dir, "metrics.store")}`],
    { cwd: dir },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntil("Pushgateway", async () => (await fetch(`${url}/-/ready`)).ok);
  let stopped = false;
  return {
    name: "pushgateway",
    url,
    scrape: async () => (await fetch(`${url}/metrics`)).text(),
    async stop() {
      if (stopped) return;
      stopped = true;
      // It writes its persistence file on the way out: removing the directory before it exited races it.
      await endProcess(child);
      await removeDir(dir);
    },
  };
}
