import { formatTimestamp } from "../catalog/backup-name.js";

/** Every snapshot directory is `media_YYYYMMDD_HHMMSS` (its UTC start time), like the database backups. */
export const SNAPSHOT_PREFIX = "media_";
/** The link that names the newest complete snapshot (runbook: `ls -ld /backups/media/current`). */
export const CURRENT_LINK = "current";
/** Inside a snapshot: the tree (restore with `cp -a`), its manifest and the manifest's checksum. */
export const TREE_DIR = "tree";
export const MANIFEST_FILE = "manifest.ndjson";
export const MANIFEST_SUM_FILE = "manifest.ndjson.sha256";

const NAME = /^media_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})$/;
const PARTIAL = /^\.media_\d{8}_\d{6}\.partial$/;
const DELETING = /^\.media_\d{8}_\d{6}\.deleting$/;

/** The snapshot name of a run started at `at`. */
export function snapshotName(at: Date): string {
  return `${SNAPSHOT_PREFIX}${formatTimestamp(at)}`;
}

/** The time a snapshot name says, or undefined when the name is not a snapshot's (or no real time). */
export function snapshotTime(name: string): Date | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC reads years 0-99 as 1900-1999: such a name is no time a snapshot was taken.
  if (
    at.getUTCFullYear() !== y ||
    at.getUTCMonth() !== mo - 1 ||
    at.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59
  )
    return undefined;
  return at;
}

/** Where a run builds its snapshot before it is complete. */
export const partialName = (name: string): string => `.${name}.partial`;
/** What retention renames a snapshot to before removing it, so it leaves the listing at once. */
export const deletingName = (name: string): string => `.${name}.deleting`;

/** Whether a name in MEDIA_BACKUP_DIR is a dead run's partial snapshot or an interrupted deletion. */
export function isLeftover(name: string): boolean {
  return PARTIAL.test(name) || DELETING.test(name);
}
