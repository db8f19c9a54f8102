import { execFile } from "node:child_process";
import type { Readable } from "node:stream";
import { type ChildStage, childEnvironment, startChildStage } from "../process/child-stage.js";
import { UserError } from "../shared/errors.js";
import { TemporaryGpgHome } from "./gpg-home.js";

/** Options every gpg run of Lifeline gets: never prompt, never go to the network for keys. */
export const GPG_BASE_ARGS = ["--batch", "--no-tty", "--disable-dirmngr", "--no-auto-key-retrieve"];

/**
 * The keyring encrypted backups are decrypted with: GNUPGHOME (or ~/.gnupg), or a temporary one holding
 * a secret key given as ASCII armour (e.g. from a CI secret), removed again with its gpg-agent by
 * `dispose`. The caller prepares it inside the try whose finally disposes it.
 */
export class GpgDecryptKeyring {
  private readonly children = new Set<ChildStage>();

  private constructor(
    /** GNUPGHOME for gpg, or undefined for the user's default keyring. */
    readonly home: string | undefined,
    private readonly temporary: TemporaryGpgHome | undefined,
  ) {}

  static async prepare(
    privateKey: string | undefined,
    source = "BACKUP_GPG_PRIVATE_KEY",
  ): Promise<GpgDecryptKeyring> {
    if (privateKey === undefined) return new GpgDecryptKeyring(process.env.GNUPGHOME, undefined);
    const temporary = await TemporaryGpgHome.create();
    const home = temporary.path;
    try {
      await new Promise<void>((resolve, reject) => {
        const child = execFile(
          "gpg",
          [...GPG_BASE_ARGS, "--quiet", "--import"],
          { env: childEnvironment({ ...process.env, GNUPGHOME: home }) },
          (err, _stdout, stderr) => {
            if (!err) return resolve();
            if ((err as NodeJS.ErrnoException).code === "ENOENT")
              return reject(
                new UserError(
                  "gpg is not installed: install GnuPG (apt-get install gnupg) to decrypt backups",
                ),
              );
            reject(
              new UserError(
                `The GPG secret key in ${source} could not be imported (${String(stderr).trim().split("\n").pop()}): ` +
                  "give it as exported by 'gpg --armor --export-secret-keys <key>', without a passphrase",
              ),
            );
          },
        );
        child.stdin?.on("error", () => {});
        child.stdin?.end(privateKey);
      });
    } catch (err) {
      await temporary.dispose();
      throw err;
    }
    return new GpgDecryptKeyring(home, temporary);
  }

  /** A gpg process that decrypts stdin to stdout (never prompting: a key with a passphrase fails). */
  startDecrypt(stdin: true | Readable = true): ChildStage {
    const child = startChildStage(
      "gpg --decrypt",
      "gpg",
      [...GPG_BASE_ARGS, "--quiet", "--pinentry-mode", "error", "--decrypt"],
      { env: this.env(), stdin },
    );
    this.children.add(child);
    child.exited.then(
      () => this.children.delete(child),
      () => this.children.delete(child),
    );
    return child;
  }

  env(): NodeJS.ProcessEnv {
    return this.home ? { ...process.env, GNUPGHOME: this.home } : process.env;
  }

  /** Stops its gpg processes, then (temporary keyring) kills the home's gpg-agent and removes it. */
  async dispose(): Promise<void> {
    const running = [...this.children];
    for (const child of running) child.kill();
    await Promise.allSettled(running.map((c) => c.exited));
    await this.temporary?.dispose();
  }
}
