import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type ChildStage, childEnvironment, startChildStage } from "../process/child-stage.js";
import { UserError } from "../shared/errors.js";
import { TemporaryGpgHome } from "./gpg-home.js";
import { GPG_BASE_ARGS } from "./gpg-keyring.js";

const execFileAsync = promisify(execFile);

/** Runs gpg non-interactively with a given home; resolves stdout, rejects with gpg's own words. */
async function gpg(home: string | undefined, args: string[], input?: string): Promise<string> {
  const env = childEnvironment(home ? { ...process.env, GNUPGHOME: home } : process.env);
  return new Promise((resolve, reject) => {
    const child = execFileAsync("gpg", [...GPG_BASE_ARGS, ...args], { env, maxBuffer: 4 << 20 });
    // gpg may exit before reading its input (bad key, nothing to read): that is reported by its exit code.
    child.child.stdin?.on("error", () => {});
    child.child.stdin?.end(input ?? "");
    child.then(
      ({ stdout }) => resolve(stdout),
      (err: NodeJS.ErrnoException & { stderr?: string }) => {
        if (err.code === "ENOENT")
          reject(
            new UserError("gpg is not installed: install GnuPG (apt-get install gnupg) to encrypt backups"),
          );
        else reject(new Error((err.stderr ?? err.message).trim().split("\n").slice(-3).join(" | ")));
      },
    );
  });
}

/**
 * The keyring backups are encrypted with: the user's own (GNUPGHOME or ~/.gnupg), or a temporary one
 * holding a public key given as ASCII armour. `prepare` proves the recipient usable before any dump.
 */
export class GpgEncryptor {
  private constructor(
    /** Fingerprint or name of the recipient, as gpg will be given it. */
    readonly recipient: string,
    /** Fingerprint of the recipient's primary key, for the manifest. */
    readonly fingerprint: string,
    private readonly home: string | undefined,
    private readonly temporary: TemporaryGpgHome | undefined,
  ) {}

  static async prepare(options: {
    recipient: string | undefined;
    publicKey: string | undefined;
    /** How the caller names the settings in errors, e.g. "BACKUP_GPG_PUBLIC_KEY (--gpg-public-key)". */
    names?: { publicKey: string; recipient: string };
  }): Promise<GpgEncryptor> {
    const names = options.names ?? { publicKey: "BACKUP_GPG_PUBLIC_KEY", recipient: "BACKUP_GPG_RECIPIENT" };
    let home: string | undefined = process.env.GNUPGHOME;
    let temporary: TemporaryGpgHome | undefined;
    let recipient = options.recipient;
    try {
      if (options.publicKey !== undefined) {
        if (holdsSecretKey(options.publicKey)) throw new UserError(secretKeyAsPublicKey(names.publicKey));
        temporary = await TemporaryGpgHome.create();
        home = temporary.path;
        await gpg(home, ["--import"], options.publicKey).catch((err: Error) => {
          if (err instanceof UserError) throw err;
          throw new UserError(
            `The GPG public key in ${names.publicKey} could not be imported: ${err.message}. ` +
              "Give the key as exported by 'gpg --armor --export <recipient>'",
          );
        });
        if (holdsSecretKey(await gpg(home, ["--with-colons", "--list-secret-keys"]).catch(() => "")))
          throw new UserError(secretKeyAsPublicKey(names.publicKey));
      }
      if (recipient === undefined) {
        const imported = parseFingerprints(await gpg(home, ["--with-colons", "--list-keys"]));
        if (imported.length !== 1) {
          throw new UserError(
            `${names.publicKey} holds ${imported.length} keys: set ${names.recipient} to the one to encrypt to`,
          );
        }
        recipient = imported[0]!;
      }
      const listed = await gpg(home, ["--with-colons", "--list-keys", "--", recipient]).catch(() => "");
      const fingerprint = parseFingerprints(listed)[0];
      if (!fingerprint) {
        throw new UserError(
          `No GPG public key for recipient '${recipient}' (${names.recipient}) in ${home ?? "the default keyring (~/.gnupg)"}: ` +
            `import it (gpg --import key.asc) or give it in ${names.publicKey}`,
        );
      }
      // A trial encryption catches expired, revoked and sign-only keys before any dump starts.
      await gpg(home, encryptOptions(recipient), "lifeline key check").catch((err: Error) => {
        throw new UserError(
          `The GPG key for '${recipient}' cannot encrypt (${err.message}): it may be expired, revoked or lack an ` +
            "encryption subkey; renew it or use another recipient",
        );
      });
      return new GpgEncryptor(recipient, fingerprint, home, temporary);
    } catch (err) {
      await temporary?.dispose();
      throw err;
    }
  }

  /** A gpg process that encrypts stdin to stdout. */
  start(): ChildStage {
    const env = this.home ? { ...process.env, GNUPGHOME: this.home } : process.env;
    return startChildStage("gpg", "gpg", encryptArgs(this.recipient), {
      env,
      stdin: true,
    });
  }

  async dispose(): Promise<void> {
    await this.temporary?.dispose();
  }
}

const secretKeyAsPublicKey = (setting: string): string =>
  `${setting} holds a SECRET key: it was not used and is not shown. ` +
  "Give the public key only (gpg --armor --export <recipient>) and keep the secret key off the backup host";

/** True for an armoured secret key block, or `--with-colons` output listing a secret key. */
export function holdsSecretKey(text: string): boolean {
  return /-----BEGIN PGP (PRIVATE|SECRET) KEY BLOCK-----/.test(text) || /^sec:/m.test(text);
}

/**
 * The argv of an encrypting gpg. Keys come from the local keyring only: no WKD, keyserver or DNS
 * lookup for an e-mail recipient (--no-auto-key-locate, and no dirmngr at all). Data is compressed
 * before encryption; gpg compressing again would only cost time.
 */
export function encryptArgs(recipient: string): string[] {
  return [...GPG_BASE_ARGS, ...encryptOptions(recipient)];
}

function encryptOptions(recipient: string): string[] {
  return [
    "--no-auto-key-locate",
    "--quiet",
    "--trust-model",
    "always",
    "--compress-algo",
    "none",
    "--encrypt",
    "--output",
    "-",
    "--recipient",
    recipient,
  ];
}

/** Primary-key fingerprints from `gpg --with-colons` output. */
function parseFingerprints(colons: string): string[] {
  const out: string[] = [];
  let expectFpr = false;
  for (const line of colons.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === "pub") expectFpr = true;
    else if (fields[0] === "fpr" && expectFpr) {
      out.push(fields[9]!);
      expectFpr = false;
    }
  }
  return out;
}
