import type { BackupManifest } from "../../catalog/manifest.js";
import type { Logger } from "../../log/logger.js";
import type { PromotionSchedule } from "../../retention/calendar.js";
import type { RetentionPolicy } from "../../retention/plan.js";
import type { BackupStore } from "../../storage/store.js";
import { makeUpMissing } from "../catch-up.js";
import type { CatchUpLimits } from "../catch-up-plan.js";
import { completeUploads, type OffsiteReport } from "../offsite.js";
import type { RemoteHoldings } from "../remote-holdings.js";
import type { OutgoingBackup } from "./outgoing.js";

/** How the destinations fared, and where today's backup safely arrived. */
export interface OffsiteOutcome {
  readonly reports: OffsiteReport[];
  /** Locations that received today's backup (before catch-up), where remote retention may run. */
  readonly arrived: ReadonlySet<string>;
}

/** What the off-site stage completes and makes up for. */
export interface OffsiteOptions {
  /** Destinations refused before the dump, reported as such. */
  readonly preflightFailures: readonly OffsiteReport[];
  readonly outgoing: OutgoingBackup;
  /** What each uploaded object is completed with (checksum metadata, its manifest). */
  readonly record: { readonly sha256: string; readonly manifest: BackupManifest | undefined };
  readonly holdings: ReadonlyMap<BackupStore, RemoteHoldings | undefined>;
  readonly backupDir: string;
  readonly prefix: string;
  readonly policy: RetentionPolicy;
  readonly schedule: PromotionSchedule;
  /** Read once the uploads are complete, as the time catch-up judges the destinations at. */
  readonly now: () => Date;
  readonly limits: CatchUpLimits;
  readonly encryptTo: string | undefined;
  readonly stallTimeoutMs: number;
  readonly logger: Logger;
  readonly signal: AbortSignal | undefined;
}

/**
 * The off-site stage: waits for the uploads and completes each object (manifest, checksum, sidecar
 * last), then makes up at each destination that received today's backup what it is missing.
 */
export async function completeOffsite(options: OffsiteOptions): Promise<OffsiteOutcome> {
  const { outgoing, logger, signal } = options;
  const uploaded: OffsiteReport[] = [
    ...options.preflightFailures,
    ...outgoing.uploadFailures,
    ...(outgoing.fanOut
      ? await completeUploads(outgoing.started, await outgoing.fanOut.outcomes(), options.record, logger)
      : []),
  ];
  const arrived = new Set(uploaded.filter((o) => o.ok).map((o) => o.location));
  const reports = await makeUpMissing(uploaded, options.holdings, {
    backupDir: options.backupDir,
    prefix: options.prefix,
    policy: options.policy,
    schedule: options.schedule,
    now: options.now(),
    limits: options.limits,
    encryptTo: options.encryptTo,
    stallTimeoutMs: options.stallTimeoutMs,
    logger,
    ...(signal ? { signal } : {}),
  });
  return { reports, arrived };
}
