import type { BackupDbConfig } from "../../config/backup-db-config.js";
import type { GpgEncryptor } from "../../crypto/gpg.js";
import type { Logger } from "../../log/logger.js";
import type { OutgoingBackup } from "./outgoing.js";

/** What every stage of one backup-db run reads: its settings, log, cancellation and clock. */
export interface BackupRun {
  readonly config: BackupDbConfig;
  readonly logger: Logger;
  readonly signal: AbortSignal | undefined;
  readonly startedAt: Date;
  readonly now: () => Date;
}

/**
 * What a run holds until it ends, set by the stage that takes it and released by `takeBackup`'s
 * `finally` (the GPG home) or `catch` (the partial file and its uploads), whichever stage failed.
 */
export interface HeldByRun {
  encryptor?: GpgEncryptor;
  outgoing?: OutgoingBackup;
}
