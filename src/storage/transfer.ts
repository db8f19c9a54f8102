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
  /** A single request that takes longer than this fails (and is retried). */
  readonly requestTimeoutMs: number;
  /** A destination that accepts no bytes for this long is failed, so that it cannot stall the dump. */
  readonly stallTimeoutMs: number;
}

export const MIB = 1024 * 1024;

export const DEFAULT_TRANSFER: TransferSettings = {
  partSizeBytes: 8 * MIB,
  concurrency: 2,
  attempts: 4,
  cleanupAttempts: 6,
  requestTimeoutMs: 120_000,
  stallTimeoutMs: 300_000,
};

/** Peak buffered bytes of one upload, as documented: part size × (parts in flight + the one filling). */
export function uploadMemoryBound(t: TransferSettings): number {
  return t.partSizeBytes * (t.concurrency + 1);
}
