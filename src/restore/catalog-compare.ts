import type { SnapshotCatalog } from "../db/snapshot.js";

/** One line of the comparison between what a dump saw and what the restore holds. */
export interface ComparisonRow {
  readonly kind: "schema" | "table" | "sequence" | "extension";
  readonly name: string;
  /** Row count for tables, "present"/"absent" otherwise (extensions add their version). */
  readonly expected: string;
  readonly actual: string;
  readonly ok: boolean;
}

export interface CatalogComparison {
  readonly ok: boolean;
  readonly rows: readonly ComparisonRow[];
  /** What could not be compared and why, e.g. row counts that were estimated. */
  readonly notes: readonly string[];
  /** One line per mismatch, naming the object. */
  readonly mismatches: readonly string[];
}

function presence(
  kind: ComparisonRow["kind"],
  expected: readonly string[],
  actual: readonly string[],
): ComparisonRow[] {
  const have = new Set(actual);
  const want = new Set(expected);
  return [...new Set([...expected, ...actual])].sort().map((name) => ({
    kind,
    name,
    expected: want.has(name) ? "present" : "absent",
    actual: have.has(name) ? "present" : "absent",
    ok: want.has(name) === have.has(name),
  }));
}

/**
 * Compares the manifest's catalog with the restored database's, exactly: the same schemas, tables,
 * sequences and extensions, and every table's row count when the manifest has exact counts.
 * Extension versions are compared as notes only: a dump re-creates extensions at the server's
 * default version, so a restore onto a newer server legitimately differs there.
 */
export function compareCatalogs(expected: SnapshotCatalog, actual: SnapshotCatalog): CatalogComparison {
  const notes: string[] = [];
  const rows: ComparisonRow[] = [...presence("schema", expected.schemas, actual.schemas)];
  const actualRows = new Map(actual.tables.map((t) => [t.name, t.rows]));
  const expectedRows = new Map(expected.tables.map((t) => [t.name, t.rows]));
  const exact = expected.rowCounts === "exact";
  if (!exact)
    notes.push(
      `row counts not compared: the manifest's are ${expected.rowCounts === "off" ? "off" : "estimated"}`,
    );
  for (const name of [...new Set([...expectedRows.keys(), ...actualRows.keys()])].sort()) {
    const want = expectedRows.get(name);
    const have = actualRows.get(name);
    if (!expectedRows.has(name) || !actualRows.has(name)) {
      rows.push({
        kind: "table",
        name,
        expected: expectedRows.has(name) ? "present" : "absent",
        actual: actualRows.has(name) ? "present" : "absent",
        ok: false,
      });
      continue;
    }
    const compare = exact && want !== null && want !== undefined;
    rows.push({
      kind: "table",
      name,
      expected: compare ? String(want) : "present",
      actual: compare ? String(have) : "present",
      ok: !compare || want === have,
    });
  }
  rows.push(...presence("sequence", expected.sequences, actual.sequences));
  rows.push(
    ...presence(
      "extension",
      expected.extensions.map((e) => e.name),
      actual.extensions.map((e) => e.name),
    ),
  );
  const actualVersions = new Map(actual.extensions.map((e) => [e.name, e.version]));
  for (const e of expected.extensions) {
    const v = actualVersions.get(e.name);
    if (v !== undefined && v !== e.version)
      notes.push(`extension ${e.name}: ${e.version} in the dump, ${v} restored`);
  }
  const mismatches = rows
    .filter((r) => !r.ok)
    .map((r) =>
      r.kind === "table" && r.expected !== "present" && r.expected !== "absent" && r.actual !== "absent"
        ? `table ${r.name}: ${r.expected} rows in the manifest, ${r.actual} restored`
        : `${r.kind} ${r.name}: ${r.expected} in the manifest, ${r.actual} in the restore`,
    );
  return { ok: mismatches.length === 0, rows, notes, mismatches };
}
