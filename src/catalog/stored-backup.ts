import type { BackupName } from "./backup-name.js";

/** A backup as found in a tier's directory or bucket prefix, with the files that belong to it. */
export interface StoredBackup {
  /** File or object name of the backup data. */
  readonly fileName: string;
  readonly name: BackupName;
  /** Whether it counts as a backup: data present and non-empty, and a well-formed sidecar naming it. */
  readonly valid: boolean;
  /** Why it does not count, when not valid. */
  readonly problem?: string;
  /** The sidecar and manifest names that go with it (deleted together). */
  readonly companions: readonly string[];
}
