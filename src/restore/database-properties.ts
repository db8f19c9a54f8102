import pg from "pg";
import {
  type DatabaseGrant,
  type DatabaseProperties,
  readDatabaseProperties,
} from "../db/database-properties.js";
import { UserError } from "../shared/errors.js";
import type { ComparisonRow } from "./catalog-compare.js";

/**
 * Settings whose value is a list of quoted names (pg_dump's variable_is_guc_list_quote): each element
 * must be given as its own literal, `SET search_path = 'a', '$user'`, not as one string.
 */
const LIST_QUOTE_SETTINGS = new Set([
  "local_preload_libraries",
  "search_path",
  "session_preload_libraries",
  "shared_preload_libraries",
  "temp_tablespaces",
  "unix_socket_directories",
]);

const SETTING_NAME_PART = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** Splits a stored list value (`"$user", public`) into its elements, as PostgreSQL's SplitGUCList. */
export function splitSettingList(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < value.length && /\s/.test(value[i]!)) i++;
  };
  skipSpace();
  if (i === value.length) return [];
  for (;;) {
    let item = "";
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) throw new Error(`unterminated quoted name in the list ${value}`);
        if (value[i] === '"' && value[i + 1] === '"') {
          item += '"';
          i += 2;
        } else if (value[i] === '"') {
          i++;
          break;
        } else item += value[i++];
      }
    } else {
      while (i < value.length && value[i] !== "," && !/\s/.test(value[i]!)) item += value[i++];
      if (!item) throw new Error(`empty element in the list ${value}`);
    }
    out.push(item);
    skipSpace();
    if (i === value.length) return out;
    if (value[i] !== ",") throw new Error(`unexpected '${value[i]}' in the list ${value}`);
    i++;
    skipSpace();
  }
}

/** `name = value` for ALTER ... SET, from a pg_db_role_setting item `name=value`; every part quoted. */
export function settingAssignment(item: string): string {
  const eq = item.indexOf("=");
  const name = eq > 0 ? item.slice(0, eq) : "";
  const value = item.slice(eq + 1);
  const parts = name.split(".");
  if (!parts.every((p) => SETTING_NAME_PART.test(p)))
    throw new UserError(
      `The manifest records a database setting '${item}' whose name is not a configuration parameter: ` +
        "the manifest is damaged or was edited; restore without it by moving it away",
    );
  const values = LIST_QUOTE_SETTINGS.has(name.toLowerCase()) ? splitSettingList(value) : [value];
  const rendered = values.length ? values.map((v) => pg.escapeLiteral(v)).join(", ") : "''";
  return `${parts.map((p) => pg.escapeIdentifier(p)).join(".")} = ${rendered}`;
}

const PRIVILEGES = new Set<DatabaseGrant["privilege"]>(["CONNECT", "CREATE", "TEMPORARY"]);

/** One statement that re-applies a property; `what` names it without its value (for messages). */
export interface PropertyStatement {
  readonly what: string;
  readonly sql: string;
  /** A setting's value as stored and as its list elements: kept out of any message about the statement. */
  readonly secrets?: readonly string[];
}

/** The server's error text with every occurrence of `secrets` (non-empty, longest first) redacted. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const v of [...new Set(secrets)].filter((v) => v !== "").sort((a, b) => b.length - a.length))
    out = out.split(v).join("(value redacted)");
  return out;
}

/**
 * The recorded ACL as it applies to a database now owned by `currentOwner`: what the recorded owner held
 * (its implicit, owner-default privileges, as pg_dump treats them) goes to the current owner, so that a
 * restore into a database owned by another role never leaves its owner unable to connect. `mapped`
 * lists the privileges moved that way (empty when the owner is the same or held nothing).
 */
export function ownerMappedAcl(
  acl: readonly DatabaseGrant[],
  recordedOwner: string,
  currentOwner: string,
): { acl: DatabaseGrant[]; mapped: DatabaseGrant["privilege"][] } {
  if (recordedOwner === currentOwner) return { acl: [...acl], mapped: [] };
  const out = new Map<string, DatabaseGrant>();
  const mapped: DatabaseGrant["privilege"][] = [];
  for (const g of acl) {
    const grantee = g.grantee === recordedOwner ? currentOwner : g.grantee;
    if (g.grantee === recordedOwner) mapped.push(g.privilege);
    const k = JSON.stringify([grantee, g.privilege]);
    const seen = out.get(k);
    out.set(k, { grantee, privilege: g.privilege, grantable: g.grantable || (seen?.grantable ?? false) });
  }
  return { acl: [...out.values()], mapped };
}

/** The statements that give `database` the recorded properties, and the roles skipped as missing. */
export function propertyStatements(
  database: string,
  recorded: DatabaseProperties,
  current: DatabaseProperties,
  existingRoles: ReadonlySet<string>,
): { statements: PropertyStatement[]; missingRoles: string[] } {
  const db = pg.escapeIdentifier(database);
  const role = (r: string | null) => (r === null ? "PUBLIC" : pg.escapeIdentifier(r));
  const missing = new Set<string>();
  const exists = (r: string | null) => {
    if (r === null || existingRoles.has(r)) return true;
    missing.add(r);
    return false;
  };
  const statements: PropertyStatement[] = [];
  if (recorded.acl !== null) {
    // From a clean slate: nobody holds anything, then exactly the recorded privileges are granted.
    const holders = new Set<string | null>([
      null,
      current.owner,
      ...(current.acl ?? []).map((g) => g.grantee),
    ]);
    for (const h of holders)
      statements.push({ what: "the ACL", sql: `REVOKE ALL ON DATABASE ${db} FROM ${role(h)} CASCADE` });
    const grouped = new Map<string, { grantee: string | null; grantable: boolean; privileges: string[] }>();
    for (const g of ownerMappedAcl(recorded.acl, recorded.owner, current.owner).acl) {
      if (!PRIVILEGES.has(g.privilege))
        throw new UserError(
          `The manifest records a database privilege '${g.privilege}' that does not exist: the manifest is damaged ` +
            "or was edited; restore without it by moving it away",
        );
      if (!exists(g.grantee)) continue;
      const k = JSON.stringify([g.grantee, g.grantable]);
      const group = grouped.get(k) ?? { grantee: g.grantee, grantable: g.grantable, privileges: [] };
      group.privileges.push(g.privilege);
      grouped.set(k, group);
    }
    for (const g of grouped.values())
      statements.push({
        what: `the ACL (${g.privileges.join(", ")} to ${g.grantee ?? "PUBLIC"})`,
        sql: `GRANT ${g.privileges.join(", ")} ON DATABASE ${db} TO ${role(g.grantee)}${g.grantable ? " WITH GRANT OPTION" : ""}`,
      });
  }
  if (recorded.comment !== null)
    statements.push({
      what: "the comment",
      sql: `COMMENT ON DATABASE ${db} IS ${pg.escapeLiteral(recorded.comment)}`,
    });
  if (Number.isInteger(recorded.connectionLimit) && recorded.connectionLimit !== -1)
    statements.push({
      what: "the connection limit",
      sql: `ALTER DATABASE ${db} CONNECTION LIMIT ${recorded.connectionLimit}`,
    });
  for (const s of recorded.settings) {
    if (!exists(s.role)) continue;
    const target = s.role === null ? `ALTER DATABASE ${db}` : `ALTER ROLE ${role(s.role)} IN DATABASE ${db}`;
    for (const item of s.settings) {
      const sql = `${target} SET ${settingAssignment(item)}`;
      const name = item.slice(0, item.indexOf("="));
      const value = item.slice(item.indexOf("=") + 1);
      statements.push({
        // The value is not named: a setting may hold something private.
        what: `the setting ${name}${s.role === null ? "" : ` of role ${s.role}`}`,
        sql,
        secrets: [value, ...(LIST_QUOTE_SETTINGS.has(name.toLowerCase()) ? splitSettingList(value) : [])],
      });
    }
  }
  return { statements, missingRoles: [...missing].sort() };
}

const grantText = (g: DatabaseGrant) =>
  `${g.grantee ?? "PUBLIC"}: ${g.privilege}${g.grantable ? " WITH GRANT OPTION" : ""}`;

/**
 * Compares the properties read back from the restored database with the recorded ones: ACL (grantor
 * aside, the recorded owner's privileges expected on the restored owner), comment, connection limit and
 * settings must be equal; what was skipped for roles missing on this server is left out. Both the owner
 * mapping and the skipped roles are noted. Owner and encoding differences are notes (the target decides them).
 */
export function compareProperties(
  recorded: DatabaseProperties,
  restored: DatabaseProperties,
  missingRoles: readonly string[],
): { rows: ComparisonRow[]; notes: string[] } {
  const skip = new Set(missingRoles);
  const rows: ComparisonRow[] = [];
  const row = (name: string, expected: string, actual: string) =>
    rows.push({ kind: "property", name, expected, actual, ok: expected === actual });
  const acl = (a: readonly DatabaseGrant[] | null, dropMissing: boolean) =>
    a === null
      ? "default"
      : a
          .filter((g) => !dropMissing || g.grantee === null || !skip.has(g.grantee))
          .map(grantText)
          .sort()
          .join("; ") || "none";
  const mapping = recorded.acl && ownerMappedAcl(recorded.acl, recorded.owner, restored.owner);
  row("ACL", acl(mapping ? mapping.acl : null, true), acl(restored.acl, false));
  row("comment", recorded.comment ?? "(none)", restored.comment ?? "(none)");
  row("connection limit", String(recorded.connectionLimit), String(restored.connectionLimit));
  // One row per setting, never showing its value (it may be a secret): equal, missing or different.
  const settingsOf = (p: DatabaseProperties, dropMissing: boolean) => {
    const out = new Map<string, string>();
    for (const s of p.settings) {
      if (dropMissing && s.role !== null && skip.has(s.role)) continue;
      for (const item of s.settings) {
        const eq = item.indexOf("=");
        const name = eq > 0 ? item.slice(0, eq) : item;
        out.set(`setting ${name}${s.role === null ? "" : ` of role ${s.role}`}`, item.slice(eq + 1));
      }
    }
    return out;
  };
  const want = settingsOf(recorded, true);
  const have = settingsOf(restored, false);
  for (const k of [...new Set([...want.keys(), ...have.keys()])].sort()) {
    const w = want.get(k);
    const h = have.get(k);
    rows.push({
      kind: "property",
      name: k,
      expected: w === undefined ? "not set" : "set",
      actual: h === undefined ? "not set" : h === w ? "set" : "set to another value",
      ok: w === h,
    });
  }
  const notes: string[] = [];
  if (mapping?.mapped.length)
    notes.push(
      `the backed-up owner ${recorded.owner}'s privileges (${mapping.mapped.join(", ")}) were given to the ` +
        `restored database's owner ${restored.owner} instead`,
    );
  if (missingRoles.length)
    notes.push(
      `roles missing on this server, so their grants and settings were not re-applied: ${missingRoles.join(", ")}`,
    );
  if (recorded.owner !== restored.owner)
    notes.push(`owner: ${recorded.owner} in the backup, ${restored.owner} restored`);
  if (recorded.encoding !== restored.encoding)
    notes.push(`encoding: ${recorded.encoding} in the backup, ${restored.encoding} restored`);
  return { rows, notes };
}

/**
 * Gives the database `client` is connected to (`database`, a restore's new database) the recorded
 * properties. Roles that do not exist on this server are skipped (never more privilege than recorded)
 * and returned; any other failure throws, naming the property.
 */
export async function applyProperties(
  client: pg.Client,
  database: string,
  recorded: DatabaseProperties,
): Promise<{ missingRoles: string[]; applied: number }> {
  const current = await readDatabaseProperties(client);
  const wanted = [
    current.owner,
    ...(recorded.acl ?? []).map((g) => g.grantee),
    ...recorded.settings.map((s) => s.role),
  ].filter((r): r is string => r !== null);
  const { rows } = await client.query<{ rolname: string }>(
    "SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])",
    [wanted],
  );
  const { statements, missingRoles } = propertyStatements(
    database,
    recorded,
    current,
    new Set(rows.map((r) => r.rolname)),
  );
  for (const st of statements) {
    try {
      await client.query(st.sql);
    } catch (err) {
      // The server may quote the value it refused (`invalid value for parameter "x": "…"`): redacted,
      // and the server's error is then not kept as the cause either.
      const text = (err as Error).message;
      const redacted = redactSecrets(text, st.secrets);
      throw new UserError(
        `Could not re-apply ${st.what} of the backed-up database to "${database}": ${redacted}. ` +
          "Restore as a role allowed to set it (e.g. the database owner or a superuser)",
        redacted === text ? { cause: err } : {},
      );
    }
  }
  return { missingRoles, applied: statements.length };
}
