import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { readFile, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DirectoryLock, LOCK_FILE } from "../../src/fs/dir-lock.js";
import { ownIdentity } from "../../src/process/process-identity.js";
import { capturingLogger, useTempDirs } from "../support/fixtures.js";
import { NODE24 } from "../support/run-action.js";

const tempDir = useTempDirs();

/** A pid with no process here (nor at the next few pids), at least `from`. */
function freePidFrom(from: number): number {
  const taken = new Set(
    readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .map(Number),
  );
  for (let p = from; ; p++) if (![0, 1, 2, 3].some((d) => taken.has(p + d))) return p;
}

const lockOf = (dir: string) => readFile(path.join(dir, LOCK_FILE), "utf8").then((t) => JSON.parse(t));

describe("the lock on a backup directory", () => {
  it("is never taken over from a live holder in another PID namespace with the same hostname", async () => {
    const dir = await tempDir("lockns");
    // In its namespace the holder gets a pid no process here has: by pid alone it looks dead.
    const target = freePidFrom(300);
    const child = spawn(
      "unshare",
      [
        "-pf",
        "--mount-proc",
        "sh",
        "-c",
        `i=0; while [ $i -lt ${target - 2} ]; do /bin/true; i=$((i+1)); done; "${NODE24}" --import tsx test/support/lock-holder.ts "${dir}"`,
      ],
      { env: { PATH: process.env.PATH ?? "" }, stdio: ["pipe", "pipe", "inherit"] },
    );
    try {
      const ready = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.setEncoding("utf8").on("data", (t: string) => {
          out += t;
          if (out.includes("\n")) resolve(out);
        });
        child.once("exit", (code) => reject(new Error(`holder exited ${code}: ${out}`)));
      });
      expect(ready.trim()).toBe(`LOCKED ${target}`);
      const held = await lockOf(dir);
      const { logger } = capturingLogger();
      await expect(DirectoryLock.acquire(dir, "backup-db", logger)).rejects.toThrow(
        new RegExp(
          `locked by pid ${target} on ${hostname()} .*in another PID namespace.*then remove ${dir}/\\.lifeline\\.lock`,
        ),
      );
      expect(await lockOf(dir)).toEqual(held);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.stdin.end();
      await exited;
    }
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  }, 60_000);

  it("takes over a lock of this host written before it rebooted, even if its pid now runs", async () => {
    const dir = await tempDir("lockboot");
    await writeFile(
      path.join(dir, LOCK_FILE),
      JSON.stringify({
        ...ownIdentity(),
        pid: process.ppid,
        bootId: "00000000-0000-0000-0000-000000000000",
        host: hostname(),
        startedAt: "2024-11-03T02:00:00.000Z",
        command: "backup-db",
        token: "old",
      }),
    );
    const { logger, lines } = capturingLogger();
    const lock = await DirectoryLock.acquire(dir, "backup-db", logger);
    expect(
      lines.some((l) => /^warn: Taking over a stale lock .* ran before this host rebooted/.test(l)),
    ).toBe(true);
    expect((await lockOf(dir)).pid).toBe(process.pid);
    await lock.release();
  });

  it("refuses a lock of this host that does not record its PID namespace (older versions), naming how to remove it", async () => {
    const dir = await tempDir("lockold");
    await writeFile(
      path.join(dir, LOCK_FILE),
      JSON.stringify({
        pid: freePidFrom(20_000),
        host: hostname(),
        startedAt: "2024-11-03T02:00:00.000Z",
        command: "backup-db",
        token: "old",
      }),
    );
    await expect(DirectoryLock.acquire(dir, "backup-db", capturingLogger().logger)).rejects.toThrow(
      /older Lifeline version .* then remove .*\.lifeline\.lock/,
    );
    expect((await lockOf(dir)).token).toBe("old");
  });

  it("leaves another host's staged lock partial alone, and sweeps a dead run's partial once holding the lock", async () => {
    const dir = await tempDir("lockpartial");
    await writeFile(
      path.join(dir, LOCK_FILE),
      JSON.stringify({ pid: 12345, host: "other-host", startedAt: "x", command: "backup-db", token: "t" }),
    );
    const staged = path.join(dir, `.${LOCK_FILE}.partial-${freePidFrom(20_000)}-abcd1234`);
    await writeFile(staged, "{}");
    await expect(DirectoryLock.acquire(dir, "backup-db", capturingLogger().logger)).rejects.toThrow(
      /other-host/,
    );
    expect(existsSync(staged)).toBe(true);

    await writeFile(path.join(dir, LOCK_FILE), "");
    const old = new Date(Date.now() - 120_000);
    await utimes(staged, old, old);
    const fresh = path.join(dir, `.${LOCK_FILE}.partial-${freePidFrom(21_000)}-abcd5678`);
    await writeFile(fresh, "{}");
    const lock = await DirectoryLock.acquire(dir, "backup-db", capturingLogger().logger);
    expect(existsSync(staged)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    await lock.release();
  });
});
