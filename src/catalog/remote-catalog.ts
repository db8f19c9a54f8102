import type { BackupStore, StoredObject } from "../storage/store.js";
import { BackupName, TIERS, type Tier } from "./backup-name.js";
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, parseChecksumLine } from "./manifest.js";
import type { StoredBackup } from "./stored-backup.js";

/** A backup found in a bucket, with the object behind it. */
export interface RemoteBackup extends StoredBackup {
  readonly object: StoredObject;
}

export interface RemoteCatalogOptions {
  /** The store's listing, when the caller has it already (one listing for every tier). */
  readonly objects?: readonly StoredObject[];
  /** Which backups to judge (one sidecar read each); the others are left out. By default, all. */
  readonly include?: (name: BackupName) => boolean;
  /** Stops reading sidecars (the promise rejects with its reason). */
  readonly signal?: AbortSignal;
}

/** Sidecars read at once: a bucket with hundreds of backups is judged in a few round trips, not one each. */
const SIDECAR_READS = 4;

/**
 * Lists the backups of the given tiers under a store's prefix, judged as local ones are: data non-empty
 * and a well-formed sidecar that names it (one small read per backup, a few at a time). One listing
 * serves every tier. Other names are not touched.
 */
export async function listRemoteTiers(
  store: BackupStore,
  prefix: string,
  tiers: readonly Tier[],
  options: RemoteCatalogOptions = {},
): Promise<Record<Tier, RemoteBackup[]>> {
  const all = options.objects ?? (await store.list());
  const present = new Set(all.map((o) => o.name));
  const found = all.flatMap((object) => {
    const name = BackupName.parse(object.name);
    if (!name || !tiers.includes(name.tier) || name.prefix !== prefix) return [];
    return options.include && !options.include(name) ? [] : [{ object, name }];
  });
  const judged: RemoteBackup[] = new Array(found.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < found.length; i = next++) {
      options.signal?.throwIfAborted();
      const { object, name } = found[i]!;
      const companions = [`${object.name}${CHECKSUM_SUFFIX}`, `${object.name}${MANIFEST_SUFFIX}`].filter(
        (c) => present.has(c),
      );
      const problem = await judge(store, object, present);
      judged[i] = {
        fileName: object.name,
        name,
        object,
        valid: problem === undefined,
        companions,
        ...(problem ? { problem } : {}),
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(SIDECAR_READS, found.length) }, worker));
  const byTier = Object.fromEntries(TIERS.map((t) => [t, [] as RemoteBackup[]])) as Record<
    Tier,
    RemoteBackup[]
  >;
  for (const backup of judged) byTier[backup.name.tier].push(backup);
  return byTier;
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
