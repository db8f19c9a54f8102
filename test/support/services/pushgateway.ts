import { writeFile } from "node:fs/promises";
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
  /** Without credentials, also when the gateway requires them. */
  readonly url: string;
  /** The gateway's own /metrics exposition (with the credentials when it requires them). */
  scrape(): Promise<string>;
}

/** A user and password the gateway requires (HTTP basic auth), with the password's bcrypt hash. */
export interface GatewayUser {
  readonly user: string;
  readonly password: string;
  readonly bcryptHash: string;
}

/** A test user whose hash was made once with libcrypt (bcrypt, cost 4): the gateway only stores hashes. */
export const GATEWAY_USER: GatewayUser = {
  user: "lifeline",
  password: "gateway-pw-7Qx",
  bcryptHash: "$2b$04$jsAH4ercN8mgf0hPAb7.YuqXQuza1wMAj21jMBcp1nMWGPjsgqx4y",
};

/**
 * Debian's prometheus-pushgateway on a free loopback port, in a temporary directory; with `basicAuth`,
 * it requires that user (--web.config.file) for every request.
 */
export async function startPushgateway(options: { basicAuth?: GatewayUser } = {}): Promise<Pushgateway> {
  const dir = await makeTempDir("pushgateway");
  const port = await freePort();
  const args = [
    `--web.listen-address=127.0.0.1:${port}`,
    `--persistence.file=${path.join(dir, "metrics.store")}`,
  ];
  const auth = options.basicAuth;
  if (auth) {
    const webConfig = path.join(dir, "web-config.yml");
    await writeFile(webConfig, `basic_auth_users:\n  ${auth.user}: "${auth.bcryptHash}"\n`);
    args.push(`--web.config.file=${webConfig}`);
  }
  const child = startDaemon("prometheus-pushgateway", args, { cwd: dir });
  const url = `http://127.0.0.1:${port}`;
  const headers: Record<string, string> = auth
    ? { Authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString("base64")}` }
    : {};
  await waitUntil("Pushgateway", async () => (await fetch(`${url}/-/ready`, { headers })).ok);
  let stopped = false;
  return {
    name: "pushgateway",
    url,
    scrape: async () => (await fetch(`${url}/metrics`, { headers })).text(),
    async stop() {
      if (stopped) return;
      stopped = true;
      // It writes its persistence file on the way out: removing the directory before it exited races it.
      await endProcess(child);
      await removeDir(dir);
    },
  };
}
