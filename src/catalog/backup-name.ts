/** Backup tiers of the runbook, each with its own directory and retention. */
export const TIERS = ["daily", "weekly", "monthly"] as const;
export type Tier = (typeof TIERS)[number];

/** File extensions Lifeline writes and recognises, longest first so that parsing is unambiguous. */
export const EXTENSIONS = ["sql.gz", "sql.zst", "sql", "dump"] as const;
export type Extension = (typeof EXTENSIONS)[number];

const PATTERN = new RegExp(
  `^(?<prefix>[A-Za-z0-9][A-Za-z0-9._-]*?)_(?<tier>${TIERS.join("|")})_(?<ts>\\d{8}_\\d{6})\\.(?<ext>${EXTENSIONS.map((e) => e.replace(".", "\\.")).join("|")})(?<gpg>\\.gpg)?$`,
);

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** Formats a UTC instant as the runbook's YYYYMMDD_HHMMSS. */
export function formatTimestamp(at: Date): string {
  return (
    `${at.getUTCFullYear()}${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}_` +
    `${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}`
  );
}

function parseTimestamp(ts: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})$/.exec(ts);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Reject impossible dates such as 20240231 instead of letting Date roll them over.
  return formatTimestamp(at) === ts ? at : undefined;
}

/**
 * The runbook's backup file name: `{prefix}_{tier}_{YYYYMMDD_HHMMSS}.sql.gz[.gpg]`, e.g.
 * `transcripts_daily_20241026_020000.sql.gz`. Timestamps are UTC.
 */
export class BackupName {
  constructor(
    readonly prefix: string,
    readonly tier: Tier,
    readonly takenAt: Date,
    readonly extension: Extension,
    readonly encrypted = false,
  ) {}

  /** Parses a file name (not a path); undefined for anything that is not a backup name. */
  static parse(fileName: string): BackupName | undefined {
    const m = PATTERN.exec(fileName);
    if (!m?.groups) return undefined;
    const takenAt = parseTimestamp(m.groups.ts!);
    if (!takenAt) return undefined;
    return new BackupName(
      m.groups.prefix!,
      m.groups.tier as Tier,
      takenAt,
      m.groups.ext as Extension,
      !!m.groups.gpg,
    );
  }

  /** The same backup filed under another tier (weekly and monthly copies share the daily's bytes). */
  withTier(tier: Tier): BackupName {
    return new BackupName(this.prefix, tier, this.takenAt, this.extension, this.encrypted);
  }

  toString(): string {
    return `${this.prefix}_${this.tier}_${formatTimestamp(this.takenAt)}.${this.extension}${this.encrypted ? ".gpg" : ""}`;
  }
}
