import type { ChildStage } from "../process/child-stage.js";
import type { GpgEncryptor } from "./gpg.js";
import type { GpgDecryptKeyring } from "./gpg-keyring.js";

/** Feeds `input` to a gpg stage and collects what it writes. */
async function through(stage: ChildStage, input: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stage.stdout.on("data", (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    stage.stdout.on("end", resolve);
    stage.stdout.on("error", reject);
  });
  stage.stdin?.on("error", () => {});
  stage.stdin?.end(input);
  await Promise.all([stage.exited, ended]);
  return Buffer.concat(chunks);
}

/**
 * A small text encrypted to the backup's recipient, base64: for what an encrypted backup's manifest
 * (which is not encrypted) must hold without showing it, e.g. database setting values.
 */
export async function sealText(encryptor: GpgEncryptor, text: string): Promise<string> {
  return (await through(encryptor.start(), Buffer.from(text, "utf8"))).toString("base64");
}

/** The text of `sealText`, decrypted with the restore's keyring. */
export async function openSealedText(keyring: GpgDecryptKeyring, sealed: string): Promise<string> {
  return (await through(keyring.startDecrypt(true), Buffer.from(sealed, "base64"))).toString("utf8");
}
