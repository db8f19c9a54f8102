import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { UserError } from "../config/errors.js";
import { type ChildStage, startChildStage } from "../process/child-stage.js";

/**
 * The keyring encrypted backups are decrypted with: GNUPGHOME (or ~/.gnupg), or a temporary one holding
 * a secret key given as ASCII armour (e.g. from a CI secret), removed again by `dispose`.
 */
export class GpgDecryptKeyring {
  private constructor(
    /** GNUPGHOME for gpg, or undefined for the user's default keyring. */
    readonly home: string | undefined,
    private readonly temporary: boolean,
  ) {}

  static async prepare(
    privateKey: string | undefined,
    source = "BACKUP_GPG_PRIVATE_KEY",
  ): Promise<GpgDecryptKeyring> {
    if (privateKey === undefined) return new GpgDecryptKeyring(process.env.GNUPGHOME, false);
    const home = await mkdtemp(path.join(tmpdir(), "lifeline-gnupg-"));
    await chmod(home, 0o700);
    try {
      await new Promise<void>((resolve, reject) => {
        const child = execFile(
          "gpg",
          ["--batch", "--no-tty", "--quiet", "--import"],
          { env: { ...process.env, GNUPGHOME: home } },
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
      await rm(home, { recursive: true, force: true });
      throw err;
    }
    return new GpgDecryptKeyring(home, true);
  }

  /** A gpg process that decrypts stdin to stdout (never prompting: a key with a passphrase fails). */
  startDecrypt(stdin: true | Readable = true): ChildStage {
    return startChildStage(
      "gpg --decrypt",
      "gpg",
      ["--batch", "--no-tty", "--quiet", "--pinentry-mode", "error", "--decrypt"],
      {
        env: this.env(),
        stdin,
      },
    );
  }

  env(): NodeJS.ProcessEnv {
    return this.home ? { ...process.env, GNUPGHOME: this.home } : process.env;
  }

  async dispose(): Promise<void> {
    if (this.temporary && this.home) await rm(this.home, { recursive: true, force: true });
  }
}
