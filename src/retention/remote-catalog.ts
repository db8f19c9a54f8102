import { BackupName, type Tier } from "../backup/backup-name.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, parseChecksumLine } from "../backup/manifest.js";
import type { BackupStore, StoredObject } from "../storage/store.js";
import type { StoredBackup } from "./plan.js";

/** A backup found in a bucket, with the object behind it. */
export interface RemoteBackup extends StoredBackup {
  readonly object: StoredObject;
}

/**
 * Lists the backups of one tier under a store's prefix, judged as local ones are: data non-empty and
 * a well-formed sidecar that names it (one small read per backup). Other names are not touched.
 */
export async function listRemoteBackups(
  store: BackupStore,
  tier: Tier,
  prefix: string,
  objects?: readonly StoredObject[],
): Promise<RemoteBackup[]> {
  const all = objects ?? (await store.list());
  const present = new Set(all.map((o) => o.name));
  const backups: RemoteBackup[] = [];
  for (const object of all) {
    const name = BackupName.parse(object.name);
    if (!name || name.tier !== tier || name.prefix !== prefix) continue;
    const companions = [`${object.name}${CHECKSUM_SUFFIX}`, `${object.name}${MANIFEST_SUFFIX}`].filter((c) =>
      present.has(c),
    );
    const problem = await judge(store, object, present);
    backups.push({
      fileName: object.name,
      name,
      object,
      valid: problem === undefined,
      companions,
      ...(problem ? { problem } : {}),
    });
  }
  return backups;
}

async function judge(
  store: BackupStore,
  object: StoredObject,
  present: Set<string>,
): Promise<string | undefined> {
  if (object.sizeBytes === 0) return "empty object";
  const sidecarName = `${object.name}${CHECKSUM_SUFFIX}`;
  if (!present.has(sidecarName)) return `no ${CHECKSUM_SUFFIX} sidecar`;
  const parsed = parseChecksumLine((await store.getText(sidecarName)) ?? "");
  if (!parsed) return `malformed ${CHECKSUM_SUFFIX} sidecar`;
  if (parsed.fileName !== object.name) return `${CHECKSUM_SUFFIX} sidecar names '${parsed.fileName}'`;
  return undefined;
}
