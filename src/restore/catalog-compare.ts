import { nameBytesHex } from "../db/names.js";
import type { SnapshotCatalog } from "../db/snapshot.js";

/** One line of the comparison between what a dump saw and what the restore holds. */
export interface ComparisonRow {
  readonly kind: "schema" | "table" | "sequence" | "extension" | "property";
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

/** Names keyed by their exact bytes (hex), each with the name it is listed under. */
function byBytes(names: readonly string[], catalog: SnapshotCatalog): Map<string, string> {
  return new Map(names.map((n) => [nameBytesHex(n, catalog.rawNames), n]));
}

function presence(
  kind: ComparisonRow["kind"],
  expected: ReadonlyMap<string, string>,
  actual: ReadonlyMap<string, string>,
): ComparisonRow[] {
  return [...new Set([...expected.keys(), ...actual.keys()])]
    .map((key) => ({
      kind,
      name: expected.get(key) ?? actual.get(key)!,
      expected: expected.has(key) ? "present" : "absent",
      actual: actual.has(key) ? "present" : "absent",
      ok: expected.has(key) === actual.has(key),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Compares the manifest's catalog with the restored database's, exactly: the same schemas, tables,
 * sequences and extensions, and every table's row count when the manifest has exact counts. Names
 * are compared byte for byte (see `rawNames`), so a name that is not UTF-8 must come back unchanged.
 * Extension versions are compared as notes only: a dump re-creates extensions at the server's
 * default version, so a restore onto a newer server legitimately differs there.
 */
export function compareCatalogs(expected: SnapshotCatalog, actual: SnapshotCatalog): CatalogComparison {
  const notes: string[] = [];
  const rows: ComparisonRow[] = [
    ...presence("schema", byBytes(expected.schemas, expected), byBytes(actual.schemas, actual)),
  ];
  const key = (catalog: SnapshotCatalog, name: string) => nameBytesHex(name, catalog.rawNames);
  const actualRows = new Map(actual.tables.map((t) => [key(actual, t.name), t]));
  const expectedRows = new Map(expected.tables.map((t) => [key(expected, t.name), t]));
  const exact = expected.rowCounts === "exact";
  if (!exact)
    notes.push(
      `row counts not compared: the manifest's are ${expected.rowCounts === "off" ? "off" : "estimated"}`,
    );
  const tableKeys = [...new Set([...expectedRows.keys(), ...actualRows.keys()])];
  const tableName = (k: string) => (expectedRows.get(k) ?? actualRows.get(k))!.name;
  tableKeys.sort((a, b) => (tableName(a) < tableName(b) ? -1 : tableName(a) > tableName(b) ? 1 : 0));
  for (const k of tableKeys) {
    const name = tableName(k);
    const want = expectedRows.get(k)?.rows;
    const have = actualRows.get(k)?.rows;
    if (!expectedRows.has(k) || !actualRows.has(k)) {
      rows.push({
        kind: "table",
        name,
        expected: expectedRows.has(k) ? "present" : "absent",
        actual: actualRows.has(k) ? "present" : "absent",
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
  rows.push(
    ...presence("sequence", byBytes(expected.sequences, expected), byBytes(actual.sequences, actual)),
  );
  const extensionNames = (c: SnapshotCatalog) => new Map(c.extensions.map((e) => [e.name, e.name]));
  rows.push(...presence("extension", extensionNames(expected), extensionNames(actual)));
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
