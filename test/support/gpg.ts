import { chmod } from "node:fs/promises";
import { execFileAsync, makeTempDir } from "./services/service.js";

export interface TestKey {
  /** GNUPGHOME holding the secret key. */
  readonly home: string;
  readonly email: string;
  readonly fingerprint: string;
  /** ASCII-armoured public key, as a user would paste it into a secret. */
  readonly publicKey: string;
}

/** Generates a passphrase-less ed25519/cv25519 key in a fresh GNUPGHOME (optionally already expired). */
export async function makeGpgKey(email: string, options: { expired?: boolean } = {}): Promise<TestKey> {
  const home = await makeTempDir("gnupg");
  await chmod(home, 0o700);
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
