import { describe, expect, it } from "vitest";
import { encodePending, type ListedObject, parsePending, planGarbage } from "../../src/media/remote-gc.js";
import {
  ContentIndex,
  encodeObjectsFile,
  INDEX_FORMAT,
  OBJECTS_FORMAT,
  type ObjectsFile,
  parseObjectsFile,
  RemoteIndexError,
} from "../../src/media/remote-index.js";
import { isDataName, parsePartName, partName } from "../../src/media/remote-layout.js";
import { planRemoteRetention } from "../../src/media/remote-retention.js";
import type { RemoteSnapshotRef } from "../../src/media/remote-store.js";
import { snapshotName, snapshotTime } from "../../src/media/snapshot-name.js";

const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;
const T0 = Date.parse("2026-01-05T03:00:00Z");

// --- a seeded PRNG (mulberry32): the same seed always makes the same history ---------------------

interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  hex(chars: number): string;
}

function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    hex: (chars) => Array.from({ length: chars }, () => "0123456789abcdef"[int(0, 15)]).join(""),
  };
}

// --- the simulated bucket ---------------------------------------------------------------------------

interface DataObject {
  readonly size: number;
  readonly lastModified: number;
}

interface SimSnapshot {
  readonly name: string;
  readonly takenAt: number;
  readonly objects: ReadonlyMap<string, number>;
  readonly errors: number;
  /** Its sums part was written: it exists. */
  readonly complete: boolean;
}

interface Bucket {
  /** data/: every object, by name (Lifeline's names and a few that are not). */
  readonly data: Map<string, DataObject>;
  snapshots: SimSnapshot[];
  /** The newest gc-pending file, as stored (what the next collection reads). */
  pendingText: string;
}

/** Names under data/ that Lifeline never writes: no collection may ever plan to remove one. */
const FOREIGN_NAMES = [
  "notes.txt",
  "../x",
  "pack-../x",
  "../../etc/passwd",
  "A".repeat(64),
  "a".repeat(63),
  `${"a".repeat(64)}.tmp`,
  `${"a".repeat(64)}.gpg.gpg`,
  `pack-${"b".repeat(64)}/../x`,
  `data/${"c".repeat(64)}`,
  ` ${"d".repeat(64)}`,
  `${"e".repeat(64)}\n`,
];

function newBucket(): Bucket {
  const data = new Map<string, DataObject>();
  for (const name of FOREIGN_NAMES) data.set(name, { size: 7, lastModified: T0 - 400 * DAY_MS });
  return { data, snapshots: [], pendingText: "" };
}

/** Complete snapshots newest first, as listRemoteSnapshots returns them (by name, i.e. by time). */
const completeOf = (b: Bucket): SimSnapshot[] =>
  b.snapshots.filter((s) => s.complete).sort((x, y) => (x.name < y.name ? 1 : -1));

function refOf(s: SimSnapshot): RemoteSnapshotRef {
  const sums = partName(s.name, "sums", false);
  return {
    name: s.name,
    takenAt: new Date(s.takenAt),
    encrypted: false,
    parts: new Map([["sums", { name: sums, sizeBytes: 300, lastModified: new Date(s.takenAt) }]]),
    complete: s.complete,
  };
}

/** The snapshot's objects list as collection reads it: written by encodeObjectsFile, read by parseObjectsFile. */
function objectsFileOf(s: SimSnapshot): ObjectsFile {
  const text = encodeObjectsFile({
    snapshot: s.name,
    indexSha256: "f".repeat(64),
    errors: s.errors,
    objects: s.objects,
  });
  return parseObjectsFile(text, `snapshots/${s.name}.objects`, s.name);
}

function newDataName(r: Rng): string {
  return `${r.chance(0.4) ? "pack-" : ""}${r.hex(64)}${r.chance(0.2) ? ".0123456789abcdef.gpg" : ""}`;
}

// --- one history ------------------------------------------------------------------------------------

interface Settings {
  readonly days: number;
  readonly graceMs: number;
}

interface GeneratorOptions {
  /**
   * false: a concurrent backup starts from the newest complete error-free snapshot and no other backup
   * commits during its window, so that snapshot stays kept until it commits. true: it starts from the
   * newest complete snapshot, errors or not (what loadKnown does), and other hosts' backups may commit
   * meanwhile, so the snapshot it started from may be removed before it commits (see the defect below).
   */
  readonly baseMayGo: boolean;
}

/** Thrown by a broken invariant: the test reports it with the seed and the steps that led to it. */
class Broken extends Error {}

/**
 * Runs one random history against the real planRemoteRetention and planGarbage, checking the
 * invariants after every step. Returns undefined, or what broke and the steps before it.
 *
 * The assumption under which a concurrent backup is safe: it finishes within the grace period of
 * when it started (its new objects are younger than the grace period at every collection that runs
 * meanwhile, and the objects it reuses were named by the newest snapshot when it started). The
 * generator only makes such backups; the "known limit" test below shows one that takes longer.
 */
/** What the histories did, to show the property is not vacuous. */
interface Tally {
  snapshotsRemoved: number;
  objectsRemoved: number;
  concurrent: number;
  died: number;
}

function runHistory(seed: number, gen: GeneratorOptions, tally?: Tally): string | undefined {
  const r = rng(seed);
  const settings: Settings = { days: r.int(1, 10), graceMs: r.int(6, 72) * HOUR_MS };
  const { days, graceMs } = settings;
  const b = newBucket();
  const log: string[] = [`days=${days} grace=${graceMs / HOUR_MS}h`];
  let now = T0;
  const at = (t: number) => new Date(t).toISOString();
  const must = (ok: boolean, what: string): void => {
    if (!ok) throw new Broken(what);
  };

  const checkBucket = (): void => {
    for (const s of completeOf(b)) {
      for (const name of s.objects.keys()) {
        must(b.data.has(name), `${s.name} (complete) names ${name}, which is no longer in the bucket`);
      }
    }
    for (const name of FOREIGN_NAMES)
      must(b.data.has(name), `the foreign object ${JSON.stringify(name)} is gone`);
  };

  /** A backup that runs start to commit between two steps (no collection runs meanwhile). */
  const backup = (dies: boolean): void => {
    const complete = completeOf(b);
    // What loadKnown deduplicates against: the newest complete snapshot, errors or not.
    const base = complete[0];
    const objects = new Map<string, number>();
    if (base) for (const [name, size] of base.objects) if (r.chance(0.7)) objects.set(name, size);
    // A resumed upload: a content an earlier run already wrote is found there (putObject's "already
    // there") and kept as it is, lastModified unchanged; it may be pending garbage by now.
    for (const [name, o] of b.data) {
      if (isDataName(name) && !objects.has(name) && r.chance(0.15)) objects.set(name, o.size);
    }
    const fresh = r.int(base ? 0 : 1, 4);
    for (let i = 0; i < fresh; i++) {
      const name = newDataName(r);
      const size = r.int(1, 1 << 20);
      b.data.set(name, { size, lastModified: now });
      objects.set(name, size);
    }
    const errors = r.chance(0.1) ? r.int(1, 3) : 0;
    const s = { name: snapshotName(new Date(now)), takenAt: now, objects, errors, complete: !dies };
    b.snapshots.push(s);
    log.push(
      `${at(now)} backup ${s.name}: ${objects.size} objects (${fresh} new), errors ${errors}${dies ? ", died before its sums" : ""}`,
    );
  };

  const collect = (): void => {
    const complete = completeOf(b);
    const newestGood = complete.find((s) => s.errors === 0)?.name;
    const plan = planRemoteRetention(
      complete.map((s) => ({ ref: refOf(s), objects: objectsFileOf(s) })),
      { now: new Date(now), days },
    );
    const gone = new Set(plan.remove.map((x) => x.name));
    const released = new Set<string>();
    for (const c of complete) if (gone.has(c.name)) for (const name of c.objects.keys()) released.add(name);
    must(
      newestGood === undefined || !gone.has(newestGood),
      `retention removes ${newestGood}, the newest complete one`,
    );
    for (const name of gone) {
      const s = complete.find((c) => c.name === name);
      must(s !== undefined, `retention removes ${name}, which is not a complete snapshot`);
      must(
        now - (s as SimSnapshot).takenAt > days * DAY_MS,
        `retention removes ${name}, not older than ${days} days`,
      );
    }
    // Removed sums first; an upload that never completed leaves parts, swept after the grace period:
    // neither touches data/.
    b.snapshots = b.snapshots.filter((s) => !gone.has(s.name) && (s.complete || now - s.takenAt < graceMs));
    const referenced = new Set<string>();
    for (const s of completeOf(b)) for (const name of s.objects.keys()) referenced.add(name);
    const listed: ListedObject[] = [...b.data].map(([name, o]) => ({
      name,
      sizeBytes: o.size,
      lastModified: new Date(o.lastModified),
    }));
    const pending = parsePending(b.pendingText);
    const g = planGarbage({ referenced, released, listed, pending, now: new Date(now), graceMs });
    for (const name of g.remove) {
      const o = b.data.get(name);
      must(isDataName(name), `collection plans to remove ${JSON.stringify(name)}, not a data object name`);
      must(o !== undefined, `collection plans to remove ${name}, which was not listed`);
      must(!referenced.has(name), `collection plans to remove ${name}, which a kept snapshot names`);
      must(
        now - (o as DataObject).lastModified >= graceMs,
        `collection removes ${name}, younger than the grace period`,
      );
      const since = pending.get(name);
      must(
        since !== undefined && now - since.getTime() >= graceMs,
        `collection removes ${name}, not pending long enough`,
      );
    }
    must(new Set(g.remove).size === g.remove.length, "collection plans a removal twice");
    for (const name of g.remove) b.data.delete(name);
    if (tally) {
      tally.snapshotsRemoved += gone.size;
      tally.objectsRemoved += g.remove.length;
    }
    // The real code writes plan.pending to a new gc-pending file; the next run reads the newest one.
    b.pendingText = encodePending(g.pending);
    log.push(
      `${at(now)} collect: snapshots removed [${[...gone].join(", ")}], objects removed ${g.remove.length}, pending ${g.pending.size}`,
    );
  };

  /**
   * A backup (another host's, say) that starts before a collection and commits after it, within the
   * grace period: it reuses only objects of the snapshot that was the newest when it started, and
   * writes its new objects during its run.
   */
  const concurrent = (): void => {
    const start = now;
    if (tally) tally.concurrent++;
    const complete = completeOf(b);
    const base = gen.baseMayGo ? complete[0] : complete.find((s) => s.errors === 0);
    const window = r.int(Math.ceil(graceMs / 10), Math.floor(graceMs * 0.95)); // the assumption: < grace
    const commit = start + window;
    const objects = new Map<string, number>();
    if (base) for (const [name, size] of base.objects) if (r.chance(0.7)) objects.set(name, size);
    const writes: { name: string; size: number; at: number }[] = [];
    const fresh = r.int(base ? 0 : 1, 4);
    for (let i = 0; i < fresh; i++)
      writes.push({ name: newDataName(r), size: r.int(1, 1 << 20), at: r.int(start, commit - 1) });
    const name = snapshotName(new Date(start));
    log.push(
      `${at(now)} concurrent backup ${name} starts on ${base?.name ?? "nothing"}, commits at ${at(commit)}`,
    );
    const land = (): void => {
      for (const w of writes.filter((x) => x.at <= now && !objects.has(x.name))) {
        b.data.set(w.name, { size: w.size, lastModified: w.at });
        objects.set(w.name, w.size);
      }
    };
    // Inside the window: at least one collection, maybe another host's backups.
    const inner = r.int(1, 3);
    let t = start;
    for (let i = 0; i < inner; i++) {
      t = r.int(t + 1000, start + Math.floor((window * (i + 1)) / (inner + 1)));
      now = Math.max(now + 1000, t);
      land();
      if (i > 0 && gen.baseMayGo && r.chance(0.3)) backup(false);
      else collect();
      checkBucket();
    }
    now = commit;
    land();
    b.snapshots.push({ name, takenAt: start, objects, errors: 0, complete: true });
    log.push(`${at(now)} concurrent backup ${name} commits: ${objects.size} objects (${writes.length} new)`);
  };

  const steps = r.int(20, 60);
  try {
    for (let step = 0; step < steps; step++) {
      now += r.int(1, 72) * HOUR_MS + r.int(0, 3599) * 1000;
      const roll = r.next();
      if (roll < 0.4) backup(false);
      else if (roll < 0.48) {
        backup(true);
        if (tally) tally.died++;
      } else if (roll < 0.88) collect();
      else concurrent();
      checkBucket();
    }
  } catch (err) {
    if (!(err instanceof Broken)) throw err;
    return `${err.message}\n  ${log.slice(-12).join("\n  ")}`;
  }
  return undefined;
}

/** 300 seeds, or the one in LIFELINE_GC_SEED (to replay a failure). */
const SEEDS = process.env.LIFELINE_GC_SEED
  ? [Number(process.env.LIFELINE_GC_SEED)]
  : Array.from({ length: 300 }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) >>> 0) ^ 0x5eed);

describe("media garbage collection over random histories", () => {
  it("never loses an object a complete snapshot names, the newest complete snapshot, a young object or a foreign name (300 histories)", () => {
    const tally: Tally = { snapshotsRemoved: 0, objectsRemoved: 0, concurrent: 0, died: 0 };
    for (const seed of SEEDS) {
      const broken = runHistory(seed, { baseMayGo: false }, tally);
      expect(broken, `history seed ${seed} (replay: LIFELINE_GC_SEED=${seed})`).toBeUndefined();
    }
    if (SEEDS.length > 1) {
      // The histories do exercise removal: snapshots and objects go, concurrent and dead backups happen.
      expect(tally.snapshotsRemoved).toBeGreaterThan(1000);
      expect(tally.objectsRemoved).toBeGreaterThan(1000);
      expect(tally.concurrent).toBeGreaterThan(500);
      expect(tally.died).toBeGreaterThan(500);
    }
  });

  // DEFECT (see "keeps an old pending time" below): with the same seeds, a concurrent backup that starts
  // from a snapshot removed during its window loses a reused object in a few histories.
  it("fixed: also when the snapshot a concurrent backup started from is removed during its window (300 histories)", () => {
    for (const seed of SEEDS) {
      const broken = runHistory(seed, { baseMayGo: true });
      expect(broken, `history seed ${seed} (replay: LIFELINE_GC_SEED=${seed})`).toBeUndefined();
    }
  });
});

// --- deterministic histories ------------------------------------------------------------------------

const GRACE = DAY_MS;
const hash = (c: string): string => c.repeat(64);
const listing = (objects: Record<string, { size: number; at: number }>): ListedObject[] =>
  Object.entries(objects).map(([name, o]) => ({ name, sizeBytes: o.size, lastModified: new Date(o.at) }));
const snap = (at: number, objects: Record<string, number>, errors = 0): SimSnapshot => ({
  name: snapshotName(new Date(at)),
  takenAt: at,
  objects: new Map(Object.entries(objects)),
  errors,
  complete: true,
});

/** One run of retention then collection, as applyRemoteRetention does it: `complete` newest first. */
function runOnce(
  complete: readonly SimSnapshot[],
  listed: readonly ListedObject[],
  pendingText: string,
  now: number,
  days: number,
) {
  const retention = planRemoteRetention(
    complete.map((s) => ({ ref: refOf(s), objects: objectsFileOf(s) })),
    { now: new Date(now), days },
  );
  const gone = new Set(retention.remove.map((r) => r.name));
  const referenced = new Set<string>();
  for (const s of complete) if (!gone.has(s.name)) for (const name of s.objects.keys()) referenced.add(name);
  const released = new Set<string>();
  for (const s of complete) if (gone.has(s.name)) for (const name of s.objects.keys()) released.add(name);
  const gc = planGarbage({
    referenced,
    released,
    listed,
    pending: parsePending(pendingText),
    now: new Date(now),
    graceMs: GRACE,
  });
  return { removed: [...gone], gc, pendingText: encodePending(gc.pending) };
}

describe("media garbage collection, deterministic histories", () => {
  it("known limit: a backup that runs longer than the grace period loses a new object to a collection meanwhile", () => {
    const a = snap(T0, { [hash("1")]: 10 });
    const fresh = hash("2");
    // The backup starts at T0 from `a` and writes `fresh` an hour later; it commits 28 hours after T0.
    const written = { [hash("1")]: { size: 10, at: T0 }, [fresh]: { size: 20, at: T0 + HOUR_MS } };
    const first = runOnce([a], listing(written), "", T0 + 2 * HOUR_MS, 7);
    expect(first.gc.remove).toEqual([]);
    expect(first.gc.pending.get(fresh)).toEqual(new Date(T0 + 2 * HOUR_MS));
    const second = runOnce([a], listing(written), first.pendingText, T0 + 2 * HOUR_MS + GRACE + HOUR_MS, 7);
    // Unreferenced, pending for the whole grace period, written more than the grace period ago: removed.
    expect(second.gc.remove).toEqual([fresh]);
    // The backup commits at T0 + 28 h naming an object that is gone: the snapshot is damaged. Hence the
    // assumption the random histories respect: a backup finishes within the grace period.
  });

  // DEFECT. A pending time is trusted even when the object was named again, by a snapshot committed
  // after that pending list was written and removed by retention in this very run. The backup that
  // started from that snapshot (within the grace period) then commits naming a removed object.
  it("fixed: an object named again between two collections keeps an old pending time and is removed under a backup that started from the snapshot naming it", () => {
    const days = 2;
    const y = hash("1");
    const x = hash("2");
    const a = snap(T0, { [y]: 10 });
    // A run that died before its sums wrote x at T0: the first collection finds it unreferenced.
    const bucket = { [y]: { size: 10, at: T0 }, [x]: { size: 20, at: T0 } };
    const first = runOnce([a], listing(bucket), "", T0 + DAY_MS, days);
    expect(first.gc.pending.get(x)).toEqual(new Date(T0 + DAY_MS));
    // A backup at T0 + 36 h resumes: x is already there (kept, lastModified unchanged); one file was
    // unreadable, so it has errors. No collection runs for days.
    const s = snap(T0 + 36 * HOUR_MS, { [y]: 10, [x]: 20 }, 1);
    // At T0 + 5 d a backup starts from s, the newest complete snapshot (loadKnown's), reusing x; it
    // commits 6 hours later, well within the grace period. A collection runs at T0 + 5 d + 1 h.
    const second = runOnce([s, a], listing(bucket), first.pendingText, T0 + 5 * DAY_MS + HOUR_MS, days);
    expect(second.removed).toEqual([s.name]); // older than 2 days, and not the newest error-free one
    // Expected: x was named by a snapshot until this run, so its wait starts again now (the backup commits
    // in 5 hours naming it). Actual: x is removed at once, on the pending time of T0 + 1 d.
    expect(second.gc.remove).not.toContain(x);
  });
});

// --- planGarbage ------------------------------------------------------------------------------------

describe("planGarbage", () => {
  const now = new Date(T0 + 30 * DAY_MS);
  const old = T0;
  const x = hash("3");
  const plan = (listed: ListedObject[], pending: Map<string, Date>, referenced = new Set<string>()) =>
    planGarbage({ referenced, listed, pending, now, graceMs: GRACE });

  it("restarts the wait of a pending time in the future (a clock set back, a tampered file)", () => {
    const first = plan(
      listing({ [x]: { size: 5, at: old } }),
      new Map([[x, new Date(now.getTime() + 5 * DAY_MS)]]),
    );
    expect(first.remove).toEqual([]);
    expect(first.pending).toEqual(new Map([[x, now]]));
    const later = planGarbage({
      referenced: new Set(),
      listed: listing({ [x]: { size: 5, at: old } }),
      pending: parsePending(encodePending(first.pending)),
      now: new Date(now.getTime() + GRACE),
      graceMs: GRACE,
    });
    expect(later.remove).toEqual([x]);
    expect(later.removeBytes).toBe(5);
  });

  it("removes at exactly the grace period, not a millisecond before; the pending time is kept meanwhile", () => {
    const since = new Date(now.getTime() - GRACE);
    expect(
      plan(listing({ [x]: { size: 5, at: now.getTime() - GRACE } }), new Map([[x, since]])).remove,
    ).toEqual([x]);
    const young = plan(listing({ [x]: { size: 5, at: now.getTime() - GRACE + 1 } }), new Map([[x, since]]));
    expect(young.remove).toEqual([]);
    expect(young.pending).toEqual(new Map([[x, since]]));
    const recent = plan(
      listing({ [x]: { size: 5, at: old } }),
      new Map([[x, new Date(since.getTime() + 1)]]),
    );
    expect(recent.remove).toEqual([]);
    expect(recent.pendingBytes).toBe(5);
  });

  it("drops an object from pending when a kept snapshot names it again", () => {
    const p = plan(listing({ [x]: { size: 5, at: old } }), new Map([[x, new Date(old)]]), new Set([x]));
    expect(p).toEqual({ remove: [], pending: new Map(), removeBytes: 0, pendingBytes: 0 });
  });

  it("plans nothing on an empty listing, and forgets pending objects that are gone", () => {
    expect(plan([], new Map([[x, new Date(old)]]))).toEqual({
      remove: [],
      pending: new Map(),
      removeBytes: 0,
      pendingBytes: 0,
    });
  });

  it("never removes or lists as pending a name Lifeline does not write, even one the pending map names", () => {
    const listed = FOREIGN_NAMES.map((name) => ({ name, sizeBytes: 1, lastModified: new Date(old) }));
    const p = plan(listed, new Map(FOREIGN_NAMES.map((name) => [name, new Date(old)])));
    expect(p).toEqual({ remove: [], pending: new Map(), removeBytes: 0, pendingBytes: 0 });
    // And a pending file naming them is read as naming nothing.
    expect(parsePending(FOREIGN_NAMES.map((n) => `${n} 2026-01-01T00:00:00Z\n`).join(""))).toEqual(new Map());
  });

  it("reads back the pending list it writes, and drops lines that are not valid", () => {
    const pending = new Map([
      [x, new Date("2026-01-02T03:04:05.678Z")],
      [`pack-${hash("4")}.0123456789abcdef.gpg`, new Date("2026-01-03T00:00:00Z")],
    ]);
    expect(parsePending(encodePending(pending))).toEqual(pending);
    const text = [
      `${hash("5")} 2026-13-45T00:00:00Z`,
      `${hash("6")} yesterday`,
      `${hash("7")}  2026-01-01T00:00:00Z`,
      `${hash("8")} 2026-01-01T00:00:00Z`,
    ].join("\n");
    expect(parsePending(text)).toEqual(new Map([[hash("8"), new Date("2026-01-01T00:00:00Z")]]));
  });

  // DEFECT. A listing naming an object twice (a store's paging repeating a key) makes a plan that deletes
  // it twice and counts its bytes twice: removeBytes is 10 for one object of 5 bytes.
  it("fixed: plans an object listed twice once, and counts its bytes once", () => {
    const o = { name: x, sizeBytes: 5, lastModified: new Date(old) };
    const p = plan([o, o], new Map([[x, new Date(old)]]));
    expect(p.remove).toEqual([x]);
    expect(p.removeBytes).toBe(5);
  });

  // DEFECT. Listed twice, once as written within the grace period: the object is both removed and kept
  // pending, i.e. removed although the listing says it was just written.
  it("fixed: does not remove an object listed twice when one listing says it was written within the grace period", () => {
    const p = plan(
      [
        { name: x, sizeBytes: 5, lastModified: new Date(old) },
        { name: x, sizeBytes: 5, lastModified: now },
      ],
      new Map([[x, new Date(old)]]),
    );
    expect(p.remove).toEqual([]);
  });
});

// --- hostile indexes, objects lists and names --------------------------------------------------------

const SNAP = "media_20260105_030000";
const OTHER = "media_20260104_030000";

/** Throws a RemoteIndexError naming `where`, saying what is wrong and what to do. */
function rejects(parse: () => unknown, where: string, why: RegExp): void {
  let caught: unknown;
  try {
    parse();
  } catch (err) {
    caught = err;
  }
  expect(caught, `accepted: ${String(parse)}`).toBeInstanceOf(RemoteIndexError);
  const message = (caught as Error).message;
  expect(message).toContain(where);
  expect(message).toMatch(why);
  expect(message).toMatch(/run verify/);
}

describe("ContentIndex.parse of a hostile index", () => {
  const where = `s3://bucket/media/snapshots/${SNAP}.index.ndjson`;
  const header = JSON.stringify({ format: INDEX_FORMAT, version: 1, snapshot: SNAP });
  const obj = hash("a");
  const content = (fields: Record<string, unknown>) =>
    JSON.stringify({ sha256: hash("c"), object: obj, offset: 0, length: 4, ...fields });
  const index = (...lines: string[]) =>
    `${[header, JSON.stringify({ object: obj, bytes: 10 }), ...lines].join("\n")}\n`;
  const parse = (text: string) => () => ContentIndex.parse(text, where, SNAP);

  it("reads what encode writes", () => {
    const i = new ContentIndex();
    i.addObject(obj, 10);
    i.add(hash("c"), { object: obj, offset: 2, length: 4 });
    const back = ContentIndex.parse(i.encode(SNAP), where, SNAP);
    expect(back.objects()).toEqual([[obj, 10]]);
    expect(back.get(hash("c"))).toEqual({ object: obj, offset: 2, length: 4 });
    expect(ContentIndex.parse(index(content({})), where, SNAP).size).toBe(1);
  });

  it.each([
    "../../etc/passwd",
    "pack-../x",
    `../${obj}`,
    `pack-${obj}/../x`,
    `${obj}\n`,
    obj.toUpperCase(),
    "",
  ])("rejects the object name %j", (name) => {
    rejects(
      parse(`${header}\n${JSON.stringify({ object: name, bytes: 10 })}\n`),
      where,
      /line 2: no valid data object name/,
    );
    rejects(parse(index(content({ object: name }))), where, /line 3: no valid data object name/);
  });

  it.each([-1, 1.5, 2 ** 53, 1e300, "4", null, true])("rejects the offset or length %j", (n) => {
    rejects(parse(index(content({ offset: n }))), where, /line 3: no valid offset and length/);
    rejects(parse(index(content({ length: n }))), where, /line 3: no valid offset and length/);
    rejects(
      parse(`${header}\n${JSON.stringify({ object: obj, bytes: n })}\n`),
      where,
      /line 2: no valid object size/,
    );
  });

  // DEFECT. parse's own doc: "Everything is checked: … offsets within the object's recorded size". A
  // content at bytes 100..105 of an unencrypted object of 10 bytes, or at 2^53-1 bytes long, is accepted.
  it("fixed: rejects a content beyond the end of its (unencrypted) object", () => {
    rejects(parse(index(content({ offset: 100, length: 5 }))), where, /line 3/);
    rejects(parse(index(content({ offset: 2 ** 53 - 1, length: 2 ** 53 - 1 }))), where, /line 3/);
  });

  it("rejects a content or an object listed twice", () => {
    rejects(parse(index(content({}), content({ offset: 4 }))), where, /line 4: c{64} is listed twice/);
    rejects(parse(index(JSON.stringify({ object: obj, bytes: 10 }))), where, /line 3: a{64} is listed twice/);
  });

  it("rejects a content whose object the index does not list, or whose hash is not a SHA-256", () => {
    rejects(
      parse(index(content({ object: hash("b") }))),
      where,
      /line 3: b{64} is not among the index's objects/,
    );
    rejects(parse(index(content({ sha256: hash("C") }))), where, /line 3: no valid sha256/);
    rejects(parse(index(content({ sha256: null }))), where, /line 3: no valid sha256/);
  });

  it("rejects an index cut short, empty, or not JSON lines", () => {
    rejects(
      parse(index(content({})).slice(0, -1)),
      where,
      /line 3: it does not end with a newline \(cut short\?\)/,
    );
    rejects(parse(index(content({})).slice(0, -20)), where, /it does not end with a newline/);
    rejects(parse(""), where, /line 1: it is empty/);
    rejects(parse("\n"), where, /line 1: not JSON/);
    rejects(parse(index("")), where, /line 3: not JSON/);
    rejects(parse(index("null")), where, /line 3: not an object/);
    rejects(parse(index("[1]")), where, /line 3: not an object/);
    rejects(parse(`\uFEFF${index()}`), where, /line 1: not JSON/);
  });

  it("rejects the index of another snapshot, and a header that lies about what it is", () => {
    rejects(
      () => ContentIndex.parse(index(), where, OTHER),
      where,
      new RegExp(`line 1: it is the index of ${SNAP}, not of ${OTHER}`),
    );
    const lying = (h: Record<string, unknown>) =>
      parse(`${JSON.stringify(h)}\n${JSON.stringify({ object: obj, bytes: 10 })}\n`);
    rejects(
      lying({ format: INDEX_FORMAT, version: 2, snapshot: SNAP }),
      where,
      /line 1: not a lifeline-media-index version 1/,
    );
    rejects(
      lying({ format: INDEX_FORMAT, version: "1", snapshot: SNAP }),
      where,
      /line 1: not a lifeline-media-index/,
    );
    rejects(
      lying({ format: OBJECTS_FORMAT, version: 1, snapshot: SNAP }),
      where,
      /line 1: not a lifeline-media-index/,
    );
    rejects(
      lying({ format: INDEX_FORMAT, version: 1 }),
      where,
      /line 1: it is the index of no snapshot, not of/,
    );
    // The objects line first, the header later: the header is no object line.
    rejects(
      parse(`${JSON.stringify({ object: obj, bytes: 10 })}\n${header}\n`),
      where,
      /line 1: not a lifeline-media-index/,
    );
    rejects(parse(`${index()}${header}\n`), where, /line 3: no valid data object name/);
    // An objects list is not an index.
    rejects(parse(`# ${OBJECTS_FORMAT} 1\n`), where, /line 1: not JSON/);
  });
});

describe("parseObjectsFile of a hostile objects list", () => {
  const where = `s3://bucket/media/snapshots/${SNAP}.objects`;
  const head = [`# ${OBJECTS_FORMAT} 1`, `# snapshot ${SNAP}`, `# index-sha256 ${hash("f")}`, "# errors 0"];
  const file = (...lines: string[]) => `${[...head, ...lines].join("\n")}\n`;
  const parse = (text: string) => () => parseObjectsFile(text, where, SNAP);

  it("reads what encodeObjectsFile writes", () => {
    const f: ObjectsFile = {
      snapshot: SNAP,
      indexSha256: hash("f"),
      errors: 2,
      objects: new Map([
        [hash("a"), 10],
        [`pack-${hash("b")}.0123456789abcdef.gpg`, 999_999_999_999_999],
      ]),
    };
    expect(parseObjectsFile(encodeObjectsFile(f), where, SNAP)).toEqual(f);
    expect(parseObjectsFile(file(), where, SNAP).objects.size).toBe(0);
  });

  it.each([
    "../../etc/passwd",
    "pack-../x",
    `../${hash("a")}`,
    `pack-${hash("a")}/../x`,
    hash("A"),
    `${hash("a")}.GPG`,
  ])("rejects the object name %j", (name) => {
    rejects(parse(file(`${name} 10`)), where, /line 5 is not '<data object> <bytes>'/);
  });

  it.each(["-1", "1.5", "1e3", "1234567890123456", "", " 10", "10 ", "10\r", "0x10"])(
    "rejects the size %j",
    (size) => {
      rejects(parse(file(`${hash("a")} ${size}`)), where, /line 5 is not '<data object> <bytes>'/);
    },
  );

  it("rejects an object listed twice, a blank line, a list cut short", () => {
    rejects(parse(file(`${hash("a")} 10`, `${hash("a")} 10`)), where, /a{64} is listed twice/);
    rejects(parse(file(`${hash("a")} 10`, "")), where, /line 6 is not '<data object> <bytes>'/);
    rejects(
      parse(file(`${hash("a")} 10`).slice(0, -1)),
      where,
      /it does not end with a newline \(cut short\?\)/,
    );
    rejects(parse(file(`${hash("a")} 10`).slice(0, -4)), where, /it does not end with a newline/);
    rejects(parse(""), where, /it is not a lifeline-media-objects version 1/);
  });

  it("rejects the objects list of another snapshot, and a header that lies", () => {
    rejects(
      () => parseObjectsFile(file(), where, OTHER),
      where,
      new RegExp(`it names ${SNAP}, not ${OTHER}`),
    );
    const lying = (i: number, line: string) =>
      parse(`${head.map((h, j) => (j === i ? line : h)).join("\n")}\n`);
    rejects(lying(0, `# ${OBJECTS_FORMAT} 2`), where, /it is not a lifeline-media-objects version 1/);
    rejects(lying(0, `# ${INDEX_FORMAT} 1`), where, /it is not a lifeline-media-objects version 1/);
    rejects(lying(1, "# snapshot ../media_20260105_030000"), where, /line 2 is not '# snapshot …'/);
    rejects(lying(1, `# snapshot ${SNAP} `), where, /line 2 is not '# snapshot …'/);
    rejects(lying(2, `# index-sha256 ${hash("F")}`), where, /line 3 is not '# index-sha256 …'/);
    rejects(lying(3, "# errors -1"), where, /line 4 is not '# errors …'/);
    rejects(lying(3, "# errors 1234567890123456"), where, /line 4 is not '# errors …'/);
    rejects(parse(`${head.slice(0, 3).join("\n")}\n`), where, /line 4 is not '# errors …'/);
    rejects(parse(file("# errors 0")), where, /line 5 is not '<data object> <bytes>'/);
    rejects(
      parse(`${JSON.stringify({ format: INDEX_FORMAT, version: 1, snapshot: SNAP })}\n`),
      where,
      /not a lifeline-media-objects/,
    );
  });
});

describe("names under data/ and snapshots/", () => {
  it("knows every part name it writes", () => {
    for (const part of ["manifest", "index", "objects", "sums"] as const) {
      for (const encrypted of [false, true]) {
        const sealed = encrypted && (part === "manifest" || part === "index");
        expect(parsePartName(partName(SNAP, part, encrypted))).toEqual({
          snapshot: SNAP,
          part,
          encrypted: sealed,
        });
      }
    }
  });

  it.each([
    `../${SNAP}.sha256`,
    `${SNAP}.sha256/../../x`,
    `snapshots/${SNAP}.sha256`,
    `${SNAP}.sha256\n`,
    ` ${SNAP}.sha256`,
    `${SNAP}.objects.gpg`,
    `${SNAP}.sha256.gpg`,
    `${SNAP}.index.ndjson.gpg.gpg`,
    `${SNAP}.index.ndjson.GPG`,
    `${SNAP}.sums`,
    `${SNAP}`,
    "media_20260230_030000.sha256",
    "media_20261301_030000.sha256",
    "media_20260105_240000.sha256",
    "media_20260105_035960.sha256",
    "media_2026010_030000.sha256",
    "MEDIA_20260105_030000.sha256",
    "gc-pending-20260105T030000Z.txt",
    "notes.txt",
    "",
  ])("parsePartName(%j) is undefined", (name) => {
    expect(parsePartName(name)).toBeUndefined();
  });

  it.each([
    hash("a"),
    `pack-${hash("a")}`,
    `${hash("a")}.0123456789abcdef.gpg`,
    `pack-${hash("a")}.0123456789abcdef.gpg`,
  ])("isDataName(%j)", (name) => {
    expect(isDataName(name)).toBe(true);
  });

  it.each([
    ...FOREIGN_NAMES,
    `../${hash("a")}`,
    `pack-pack-${hash("a")}`,
    `${hash("a")}.GPG`,
    `${hash("a")}.0123456789abcdef.gpg\n`,
    `PACK-${hash("a")}`,
    hash("a").slice(0, 63),
    `${hash("a")}0`,
    "",
  ])("isDataName(%j) is false", (name) => {
    expect(isDataName(name)).toBe(false);
  });

  // DEFECT (snapshot-name.ts, which parsePartName uses). Date.UTC reads years 0-99 as 1900-1999, and
  // snapshotTime does not check the round trip (BackupName's parser does): `media_00990101_000000` is
  // accepted as a snapshot taken in 1999.
  it("fixed: a snapshot name with a year below 100 is not read as a time in the 1900s", () => {
    expect(parsePartName("media_00990101_000000.sha256")).toBeUndefined();
    const t = snapshotTime("media_00990101_000000");
    expect(t === undefined || snapshotName(t) === "media_00990101_000000").toBe(true);
  });
});
