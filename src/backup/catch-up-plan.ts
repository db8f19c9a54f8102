import { TIERS, type Tier } from "../catalog/backup-name.js";
import { listCatalog, readManifestText, tierStore } from "../catalog/catalog.js";
import { type BackupManifest, CHECKSUM_SUFFIX, MANIFEST_SUFFIX } from "../catalog/manifest.js";
import { monthPeriodStart, type PromotionSchedule, weekPeriodStart } from "../retention/calendar.js";
import { type RetentionPolicy, type StoredBackup, withinRetention } from "../retention/plan.js";
import type { BackupStore } from "../storage/store.js";
import type { RemoteHoldings } from "./remote-holdings.js";
import type { PromotedTier } from "./tiers.js";

/** How much one run may make up for, per destination. */
export interface CatchUpLimits {
  /** Missing backups uploaded per destination and run; 0 turns catch-up off. */
  readonly maxFiles: number;
  /** Bytes uploaded per destination and run; undefined for no byte bound. */
  readonly maxBytes: number | undefined;
}

/** A valid backup in BACKUP_DIR that a destination may lack. */
export interface LocalBackupFile {
  readonly tier: Tier;
  readonly backup: StoredBackup;
  /** Full path of the data file. */
  readonly file: string;
  readonly sizeBytes: number;
  /**
   * Its `.manifest.json`, when it has one that could be read (a backup made by hand per the runbook
   * has only its sidecar, and is a backup all the same: verify and restore accept it).
   */
  readonly manifest: BackupManifest | undefined;
  /** Why its manifest is unusable (not JSON, not an object…): the backup is not uploaded then. */
  readonly manifestProblem?: string;
}

/** The valid backups of every tier in BACKUP_DIR with this prefix, with their sizes and manifests. */
export async function listLocalBackupFiles(backupDir: string, prefix: string): Promise<LocalBackupFile[]> {
  const out: LocalBackupFile[] = [];
  for (const tier of TIERS) {
    const store = tierStore(backupDir, tier);
    for (const backup of await listCatalog(store, { prefix, tiers: [tier] })) {
      if (!backup.valid) continue;
      const file = store.uri(backup.fileName);
      const manifest = await readManifestOf(store, backup.fileName);
      out.push({ tier, backup, file, sizeBytes: backup.sizeBytes, ...manifest });
    }
  }
  return out;
}

/**
 * A backup's manifest, parsed defensively: none (no file) is fine; one that is not a regular file, too
 * large, or not a JSON object with a SHA-256 and size is a problem named for the operator, never a TypeError.
 */
export async function readManifestOf(
  store: BackupStore,
  fileName: string,
): Promise<{ manifest: BackupManifest | undefined; manifestProblem?: string }> {
  const manifestFile = store.uri(`${fileName}${MANIFEST_SUFFIX}`);
  let text: string | undefined;
  try {
    text = await readManifestText(store, fileName);
  } catch (err) {
    return {
      manifest: undefined,
      manifestProblem: `${manifestFile} cannot be read: ${(err as Error).message}`,
    };
  }
  if (text === undefined) return { manifest: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { manifest: undefined, manifestProblem: `${manifestFile} is not valid JSON` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { manifest: undefined, manifestProblem: `${manifestFile} is not a JSON object` };
  }
  const record = parsed as Record<string, unknown>;
  if (typeof record.sha256 !== "string" || typeof record.sizeBytes !== "number") {
    return { manifest: undefined, manifestProblem: `${manifestFile} records no sha256 and sizeBytes` };
  }
  return { manifest: parsed as BackupManifest };
}

const periodOf = (tier: PromotedTier, at: Date, schedule: PromotionSchedule): number =>
  (tier === "weekly"
    ? weekPeriodStart(at, schedule.weeklyDay)
    : monthPeriodStart(at, schedule.monthlyDay)
  ).getTime();

const TIER_RANK: Record<Tier, number> = { monthly: 0, weekly: 1, daily: 2 };

/** Newest first; at the same moment the longer-kept tier first (monthly, weekly, daily). */
export const newestFirst = (a: LocalBackupFile, b: LocalBackupFile): number =>
  b.backup.name.takenAt.getTime() - a.backup.name.takenAt.getTime() || TIER_RANK[a.tier] - TIER_RANK[b.tier];

/** A backup a destination lacks that is not tried, and why. */
export interface SkippedBackup {
  readonly file: LocalBackupFile;
  /**
   * The object of its name (data, sidecar or manifest) the destination already has without a complete
   * backup: uploads never overwrite, so it blocks the backup until someone deletes it. Absent: the
   * backup is not encrypted to the run's current key.
   */
  readonly leftover?: string;
}

/**
 * What a destination lacks of BACKUP_DIR, newest first: dailies that retention still keeps, and the
 * weekly/monthly backups of periods (within retention) for which it holds no valid one. When the run
 * encrypts (`encryptTo`, the current key's fingerprint), only backups encrypted to that key may go off
 * site; the others, and those a leftover object blocks, are `skipped`. Pure.
 */
export function missingAt(
  local: readonly LocalBackupFile[],
  holdings: RemoteHoldings,
  policy: RetentionPolicy,
  schedule: PromotionSchedule,
  now: Date,
  encryptTo: string | undefined,
): { missing: LocalBackupFile[]; skipped: SkippedBackup[] } {
  const covered = new Set<string>();
  for (const tier of ["weekly", "monthly"] as const) {
    for (const b of holdings.backups[tier]) {
      if (b.valid) covered.add(`${tier}:${periodOf(tier, b.name.takenAt, schedule)}`);
    }
  }
  const missing: LocalBackupFile[] = [];
  const skipped: SkippedBackup[] = [];
  for (const candidate of [...local].sort(newestFirst)) {
    const { tier, backup } = candidate;
    const names = [
      backup.fileName,
      `${backup.fileName}${CHECKSUM_SUFFIX}`,
      `${backup.fileName}${MANIFEST_SUFFIX}`,
    ];
    // Data and sidecar: the destination has it (retention judges its sidecar's contents).
    if (holdings.names.has(names[0]!) && holdings.names.has(names[1]!)) continue;
    if (backup.name.takenAt.getTime() > now.getTime()) continue;
    if (!withinRetention(tier, backup.name.takenAt, policy, now, schedule)) continue;
    // One weekly/monthly per period: the newest of it, and none where the destination already has one.
    const key = tier === "daily" ? undefined : `${tier}:${periodOf(tier, backup.name.takenAt, schedule)}`;
    if (key !== undefined && covered.has(key)) continue;
    // Part of it is there without a complete backup: uploading would fail on the name taken (no
    // overwrites), every night. It is reported, not tried; an older one of its period may stand in.
    const leftover = names.find((n) => holdings.names.has(n));
    if (leftover !== undefined) {
      skipped.push({ file: candidate, leftover });
      continue;
    }
    const fingerprint = candidate.manifest?.encryption?.fingerprint?.toUpperCase();
    if (encryptTo !== undefined && !(backup.name.encrypted && fingerprint === encryptTo.toUpperCase())) {
      skipped.push({ file: candidate });
      continue;
    }
    if (key !== undefined) covered.add(key);
    missing.push(candidate);
  }
  return { missing, skipped };
}

/**
 * Applies the bound to a destination's missing backups, newest first and in order: once one does not
 * fit, the older ones wait for the next run too. A backup larger than the whole byte bound could never
 * fit: it is set aside (reported) rather than blocking every older one forever.
 */
export function boundCatchUp(
  missing: readonly LocalBackupFile[],
  limits: CatchUpLimits,
): { take: LocalBackupFile[]; left: LocalBackupFile[]; tooLarge: LocalBackupFile[] } {
  const take: LocalBackupFile[] = [];
  const left: LocalBackupFile[] = [];
  const tooLarge: LocalBackupFile[] = [];
  let bytes = 0;
  let full = false;
  for (const m of missing) {
    if (limits.maxBytes !== undefined && m.sizeBytes > limits.maxBytes) {
      tooLarge.push(m);
      continue;
    }
    if (
      full ||
      take.length >= limits.maxFiles ||
      (limits.maxBytes !== undefined && bytes + m.sizeBytes > limits.maxBytes)
    ) {
      full = true;
      left.push(m);
      continue;
    }
    take.push(m);
    bytes += m.sizeBytes;
  }
  return { take, left, tooLarge };
}
