import type { BackupName, Tier } from "../../catalog/backup-name.js";
import { AtomicFile } from "../../fs/atomic-file.js";
import type { Logger } from "../../log/logger.js";
import type { PromotionSchedule } from "../../retention/calendar.js";
import type { Destination } from "../../storage/destination.js";
import { FanOut } from "../../storage/fan-out.js";
import type { BackupStore } from "../../storage/store.js";
import { DEFAULT_TRANSFER } from "../../storage/transfer.js";
import { type OffsiteReport, type StartedUpload, startUploads } from "../offsite.js";
import { type RemoteHoldings, uploadTargets } from "../remote-holdings.js";

/** How long an upload may take no bytes before it is failed, as the first destination sets it. */
export function stallTimeoutOf(destinations: readonly Destination[]): number {
  return destinations[0]?.settings.transfer.stallTimeoutMs ?? DEFAULT_TRANSFER.stallTimeoutMs;
}

/** Where the backup's bytes go while it is written: a partial file, and one upload per destination and name. */
export interface OutgoingTargets {
  readonly file: string;
  readonly name: BackupName;
  readonly due: readonly Tier[];
  readonly holdings: ReadonlyMap<BackupStore, RemoteHoldings | undefined>;
  readonly schedule: PromotionSchedule;
  readonly encrypted: boolean;
  readonly previousSizeBytes: number | undefined;
  readonly stallTimeoutMs: number;
}

/**
 * A backup on its way out: a partial file that gets its final name only on `publish`, and uploads
 * that store their objects only on `finishUploads`. Until then `abandon` removes the partial file
 * and aborts the uploads with their leftovers (multipart parts, sessions, staged blocks).
 */
export class OutgoingBackup {
  private settled = false;

  private constructor(
    readonly output: AtomicFile,
    readonly started: readonly StartedUpload[],
    /** Destinations whose upload could not start. */
    readonly uploadFailures: readonly OffsiteReport[],
    readonly fanOut: FanOut | undefined,
  ) {}

  /** Creates the partial file and starts the uploads; those that cannot start are reported. */
  static async open(targets: OutgoingTargets, logger: Logger): Promise<OutgoingBackup> {
    const output = await AtomicFile.create(targets.file);
    let uploads: Awaited<ReturnType<typeof startUploads>> | undefined;
    try {
      uploads = await startUploads(
        uploadTargets(targets.holdings, targets.due, targets.name, targets.schedule, logger),
        targets.encrypted ? "application/pgp-encrypted" : "application/octet-stream",
        logger,
        targets.previousSizeBytes,
      );
      const fanOut =
        uploads.started.length > 0
          ? new FanOut(output.stream, uploads.started, {
              stallTimeoutMs: targets.stallTimeoutMs,
              onBranchFailure: (uri, error) =>
                logger.error(`Upload to ${uri} failed: ${error.message}; the local backup continues`),
            })
          : undefined;
      return new OutgoingBackup(output, uploads.started, uploads.failed, fanOut);
    } catch (err) {
      // A partial file is never left behind, nor an upload that was started (before 0f4d910's split,
      // a failure here left the partial for the next run's sweep).
      await output.abort();
      for (const started of uploads?.started ?? []) await started.upload.abort(err as Error).catch(() => {});
      throw err;
    }
  }

  /**
   * Removes the partial file and aborts the uploads, none of which was ended, so no object of this
   * backup exists in any bucket. Once: a backup already abandoned or published is left alone.
   */
  async abandon(err: unknown): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.output.abort();
    if (this.fanOut) {
      this.fanOut.abortUploads(err as Error);
      await this.fanOut.outcomes();
    }
  }

  /** Gives the local file its final name (after its companions: see publishWithCompanions). */
  async publish(): Promise<void> {
    await this.output.publish();
    this.settled = true;
  }

  /** Lets the uploads store their objects under the final names: only once the file is published. */
  finishUploads(): void {
    this.fanOut?.finishUploads();
  }
}
