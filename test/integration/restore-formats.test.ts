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

describe("a custom archive is restored from the very file that was hashed", () => {
  it("an archive swapped in under the same name after it was opened is not what pg_restore reads", async () => {
    const { rename } = await import("node:fs/promises");
    const { findBackup } = await import("../../src/catalog/backup-source.js");
    const { streamBackupInto } = await import("../../src/restore/restore-stream.js");
    const { choosePgTool } = await import("../../src/db/pg-tools.js");
    const pg = postgres();
    await pg.createDatabase("swap_genuine");
    await pg.query("swap_genuine", "CREATE TABLE genuine_only (a int); INSERT INTO genuine_only VALUES (1)");
    await pg.createDatabase("swap_evil");
    await pg.query("swap_evil", "CREATE TABLE evil_only (a int)");
    const genuine = await takeBackup(pg, "swap_genuine", await tempDir("swap"), { BACKUP_FORMAT: "custom" });
    const evil = await takeBackup(pg, "swap_evil", await tempDir("swap-evil"), { BACKUP_FORMAT: "custom" });
    const { createHash } = await import("node:crypto");
    const { readFile } = await import("node:fs/promises");
    const genuineSha = createHash("sha256")
      .update(await readFile(genuine))
      .digest("hex");
    const entry = await findBackup(genuine);
    // The store opens the genuine file, then the name is pointed at another archive before pg_restore starts.
    const store = Object.create(entry.store) as typeof entry.store;
    store.get = async (name: string) => {
      const stream = await entry.store.get(name);
      await rename(evil, genuine);
      return stream;
    };
    await pg.createDatabase("swap_target");
    const url = new URL(pg.url("swap_target"));
    const result = await streamBackupInto({
      entry: { ...entry, store },
      env: {
        PATH: process.env.PATH,
        PGHOST: url.hostname,
        PGPORT: url.port,
        PGUSER: decodeURIComponent(url.username),
        PGPASSWORD: decodeURIComponent(url.password),
        PGDATABASE: "swap_target",
      },
      psql: await choosePgTool("psql", 15, pg.binDir),
      pgRestore: await choosePgTool("pg_restore", 15, pg.binDir),
      jobs: 2,
      keyring: undefined,
    });
    expect(result.sha256).toBe(genuineSha);
    expect(
      await pg.query(
        "swap_target",
        "SELECT to_regclass('public.genuine_only') IS NOT NULL AS genuine, to_regclass('public.evil_only') IS NOT NULL AS evil",
      ),
    ).toEqual([{ genuine: true, evil: false }]);
  });
});
