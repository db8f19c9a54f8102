/** How uploads move bytes: the same for every cloud destination. */
export interface TransferSettings {
  /** Bytes per multipart part / resumable chunk / staged block. */
  readonly partSizeBytes: number;
  /** Parts in flight per upload. Peak memory per upload ≈ partSizeBytes × (concurrency + 1). */
  readonly concurrency: number;
  /** Attempts per request, the first included (the SDKs back off exponentially between them). */
  readonly attempts: number;
  /** Attempts at removing an upload's leftovers after it failed (backoff 1 s, 2 s, 4 s, ...). */
  readonly cleanupAttempts: number;
  /**
   * A request that gets no answer for this long fails (and is retried); a whole small operation
   * (a listing page, a sidecar, a delete, opening a download) with its retries is bounded by it too.
   */
  readonly requestTimeoutMs: number;
  /** A destination whose check before the dump takes longer is skipped, so that the dump can start. */
  readonly preflightTimeoutMs: number;
  /** A destination that accepts no bytes for this long is failed, so that it cannot stall the dump. */
  readonly stallTimeoutMs: number;
}

export const MIB = 1024 * 1024;

/** The settings behind the bounds, named in the errors a deadline raises. */
export const NETWORK_TIMEOUT_SETTING = "BACKUP_NETWORK_TIMEOUT_SECONDS";
export const PREFLIGHT_TIMEOUT_SETTING = "BACKUP_PREFLIGHT_TIMEOUT_SECONDS";

export const DEFAULT_TRANSFER: TransferSettings = {
  partSizeBytes: 8 * MIB,
  concurrency: 2,
  attempts: 4,
  cleanupAttempts: 6,
  requestTimeoutMs: 120_000,
  preflightTimeoutMs: 30_000,
  stallTimeoutMs: 300_000,
};

/** Peak buffered bytes of one upload, as documented: part size × (parts in flight + the one filling). */
export function uploadMemoryBound(t: TransferSettings): number {
  return t.partSizeBytes * (t.concurrency + 1);
}
