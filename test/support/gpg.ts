import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { afterAll } from "vitest";
import { execFileAsync, makeTempDir, removeDir } from "./services/service.js";

/** Every GNUPGHOME made here: their gpg-agents are killed and the homes removed after the test file. */
const homes = new Set<string>();

/** Kills the gpg-agent (and any dirmngr) gpg started for `home`, then removes it. */
export async function disposeGpgHome(home: string): Promise<void> {
  await execFileAsync("gpgconf", ["--homedir", home, "--kill", "all"]).catch(() => {});
  await removeDir(home);
  homes.delete(home);
}

afterAll(async () => {
  for (const home of [...homes]) await disposeGpgHome(home);
});
// A test file that ends without its afterAll hooks must not leave agents holding secret keys either.
process.once("exit", () => {
  for (const home of homes) {
    try {
      execFileSync("gpgconf", ["--homedir", home, "--kill", "all"], { stdio: "ignore", timeout: 5_000 });
    } catch {
      // exiting anyway
    }
    rmSync(home, { recursive: true, force: true });
  }
});

/** An empty GNUPGHOME, disposed of (agent killed, removed) after the test file. */
export async function makeGpgHome(label = "gnupg"): Promise<string> {
  const home = await makeTempDir(label);
  homes.add(home);
  await chmod(home, 0o700);
  return home;
}

export interface TestKey {
  /** GNUPGHOME holding the secret key. */
  readonly home: string;
  readonly email: string;
  readonly fingerprint: string;
  /** ASCII-armoured public key, as a user would paste it into a secret. */
  readonly publicKey: string;
}

/**
 * Generates a passphrase-less ed25519/cv25519 key in a fresh GNUPGHOME (optionally already expired),
 * killed and removed after the test file.
 */
export async function makeGpgKey(email: string, options: { expired?: boolean } = {}): Promise<TestKey> {
  const home = await makeGpgHome();
  const gpg = (args: string[]) => execFileAsync("gpg", ["--homedir", home, "--batch", "--no-tty", ...args]);
  await gpg([
    "--passphrase",
    "",
    "--pinentry-mode",
    "loopback",
    ...(options.expired ? ["--faked-system-time", "20200101T000000"] : []),
    "--quick-gen-key",
    `Lifeline Test <${email}>`,
    "future-default",
    "default",
    options.expired ? "1d" : "never",
  ]);
  const { stdout } = await gpg(["--with-colons", "--list-keys", email]);
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(stdout)?.[1];
  if (!fingerprint) throw new Error(`no fingerprint for ${email}: ${stdout}`);
  const { stdout: publicKey } = await gpg(["--armor", "--export", email]);
  return { home, email, fingerprint, publicKey };
}
