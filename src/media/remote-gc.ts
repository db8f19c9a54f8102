import { isDataName } from "./remote-layout.js";

/** A data object as a listing reports it. */
export interface ListedObject {
  readonly name: string;
  readonly sizeBytes: number;
  readonly lastModified: Date;
}

export interface GarbagePlan {
  /** Objects to delete now: unreferenced, and found so at least the grace period ago. */
  readonly remove: readonly string[];
  /** Unreferenced objects not yet old enough as garbage, with when each was first found so. */
  readonly pending: ReadonlyMap<string, Date>;
  /** Bytes of the objects removed, and of those pending. */
  readonly removeBytes: number;
  readonly pendingBytes: number;
}

/**
 * Which data objects garbage collection removes. An object is removed only when no kept snapshot
 * references it, it was already found unreferenced by an earlier collection at least `graceMs` ago,
 * and it was not written within `graceMs` (a backup still uploading, perhaps from another host, has
 * not referenced its new objects yet). An object that a snapshot removed in this very run still named
 * (`released`) starts its wait now, whatever the pending list says: a backup that started from that
 * snapshot may reuse it until it commits. Names Lifeline does not write are never touched; a name
 * listed twice counts once, at its newest time.
 *
 * The rule for packs: a pack is removed whole when none of its contents is referenced; a pack with
 * any referenced content is kept whole (never rewritten), and its unreferenced bytes are reported.
 */
export function planGarbage(input: {
  readonly referenced: ReadonlySet<string>;
  /** Objects named by the snapshots retention removed in this run. */
  readonly released?: ReadonlySet<string>;
  readonly listed: readonly ListedObject[];
  readonly pending: ReadonlyMap<string, Date>;
  readonly now: Date;
  readonly graceMs: number;
}): GarbagePlan {
  const now = input.now.getTime();
  const remove: string[] = [];
  const pending = new Map<string, Date>();
  let removeBytes = 0;
  let pendingBytes = 0;
  const newest = new Map<string, ListedObject>();
  for (const o of input.listed) {
    const seen = newest.get(o.name);
    if (!seen || seen.lastModified.getTime() < o.lastModified.getTime()) newest.set(o.name, o);
  }
  for (const o of newest.values()) {
    if (!isDataName(o.name) || input.referenced.has(o.name)) continue;
    const since = input.released?.has(o.name) ? undefined : input.pending.get(o.name);
    const oldEnough = now - o.lastModified.getTime() >= input.graceMs;
    if (since !== undefined && now - since.getTime() >= input.graceMs && oldEnough) {
      remove.push(o.name);
      removeBytes += o.sizeBytes;
    } else {
      // A time in the future (a clock set back, a tampered file) restarts the wait rather than ending it.
      pending.set(o.name, since !== undefined && since.getTime() <= now ? since : input.now);
      pendingBytes += o.sizeBytes;
    }
  }
  return { remove, pending, removeBytes, pendingBytes };
}

/** The pending list as stored: `<object> <ISO time>` lines. */
export function encodePending(pending: ReadonlyMap<string, Date>): string {
  return [...pending].map(([name, since]) => `${name} ${since.toISOString()}\n`).join("");
}

/** Parses a pending list; lines that are not valid are dropped (their objects simply wait again). */
export function parsePending(text: string): Map<string, Date> {
  const pending = new Map<string, Date>();
  for (const line of text.split("\n")) {
    const m = /^(\S+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)$/.exec(line);
    if (!m || !isDataName(m[1] as string)) continue;
    const at = new Date(m[2] as string);
    if (!Number.isNaN(at.getTime())) pending.set(m[1] as string, at);
  }
  return pending;
}
