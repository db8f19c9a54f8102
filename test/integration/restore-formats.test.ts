import { describe, expect, it } from "vitest";
import { usePostgres, useTempDirs } from "../support/fixtures.js";
import { makeGpgKey, type TestKey } from "../support/gpg.js";
import { BACKUP_KINDS, restoreFile, takeBackup } from "../support/restore.js";
import { fingerprint, seedTranscripts } from "../support/seed.js";

const postgres = usePostgres();
const tempDir = useTempDirs();

let key: TestKey | undefined;
async function testKey(): Promise<TestKey> {
  key ??= await makeGpgKey("restore@lifeline.test");
  return key;
}

describe("round trip for every format × compression × encryption", () => {
  it.each(BACKUP_KINDS)("%s / %s / encrypted %s", async (format, compression, encrypted) => {
    const pg = postgres();
    const db = `rt_${format}_${compression}_${encrypted ? "gpg" : "clear"}`;
    await pg.createDatabase(db);
    await seedTranscripts(pg, db, 1500);
    const dir = await tempDir("rt");
    const k = encrypted ? await testKey() : undefined;
    const file = await takeBackup(pg, db, dir, {
      BACKUP_FORMAT: format,
      BACKUP_COMPRESSION: compression,
      ...(k ? { BACKUP_ENCRYPT: "true", BACKUP_GPG_PUBLIC_KEY: k.publicKey } : {}),
    });
    const want = await fingerprint(pg, db);
    await pg.query(db, "TRUNCATE segments CASCADE");
    // The secret key is only in the test key's GNUPGHOME; the restore must find it there.
    const previousHome = process.env.GNUPGHOME;
    if (k) process.env.GNUPGHOME = k.home;
    try {
      const { result } = await restoreFile(pg, db, file, { RESTORE_JOBS: "2", RESTORE_DROP_OLD: "true" });
      expect(result.proof.comparison?.ok).toBe(true);
      expect(result.topology).toMatch(format === "custom" ? /pg_restore -j 2/ : /psql --single-transaction/);
      if (encrypted) expect(result.topology).toContain("gpg --decrypt");
    } finally {
      if (previousHome === undefined) delete process.env.GNUPGHOME;
      else process.env.GNUPGHOME = previousHome;
    }
    expect(await fingerprint(pg, db)).toEqual(want);
  });

  it("decrypts with an armoured secret key given as a setting, and fails naming the key when it is the wrong one", async () => {
    const pg = postgres();
    await pg.createDatabase("rt_keyinput");
    await seedTranscripts(pg, "rt_keyinput", 300);
    const dir = await tempDir("rt");
    const k = await testKey();
    const file = await takeBackup(pg, "rt_keyinput", dir, {
      BACKUP_ENCRYPT: "true",
      BACKUP_GPG_PUBLIC_KEY: k.publicKey,
    });
    const { execFileAsync } = await import("../support/services/service.js");
    const { stdout: secret } = await execFileAsync("gpg", [
      "--homedir",
      k.home,
      "--batch",
      "--armor",
      "--export-secret-keys",
      k.email,
    ]);
    const { result } = await restoreFile(pg, "rt_keyinput", file, { BACKUP_GPG_PRIVATE_KEY: secret });
    expect(result.proof.comparison?.ok).toBe(true);
    const other = await makeGpgKey("other@lifeline.test");
    const { stdout: wrong } = await execFileAsync("gpg", [
      "--homedir",
      other.home,
      "--batch",
      "--armor",
      "--export-secret-keys",
      other.email,
    ]);
    const err = await restoreFile(pg, "rt_keyinput", file, { BACKUP_GPG_PRIVATE_KEY: wrong }).catch(
      (e: Error) => e,
    );
    const message = (err as Error).message;
    expect(message, message).toMatch(/gpg --decrypt exited with code 2: .*(No secret key|decryption failed)/);
    expect((err as Error).message).toContain('"rt_keyinput" was not touched');
  });
});
