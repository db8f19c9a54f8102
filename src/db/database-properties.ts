import type pg from "pg";

/** One privilege of a database ACL: `grantee` null is PUBLIC. */
export interface DatabaseGrant {
  readonly grantee: string | null;
  readonly privilege: "CONNECT" | "CREATE" | "TEMPORARY";
  readonly grantable: boolean;
}

/** `ALTER DATABASE ... SET` (role null) or `ALTER ROLE role IN DATABASE ... SET`: `name=value` items. */
export interface DatabaseRoleSetting {
  readonly role: string | null;
  readonly settings: readonly string[];
}

/**
 * What pg_dump (without --create) leaves out: the database's own properties, recorded in the dump's
 * snapshot so a restore can re-apply them to the database it creates.
 */
export interface DatabaseProperties {
  readonly owner: string;
  readonly encoding: string;
  readonly collate: string;
  readonly ctype: string;
  /** -1: no limit. */
  readonly connectionLimit: number;
  /** null: the default ACL (never granted or revoked); otherwise every privilege, grantor aside. */
  readonly acl: readonly DatabaseGrant[] | null;
  readonly comment: string | null;
  readonly settings: readonly DatabaseRoleSetting[];
  /**
   * For an encrypted backup: the settings (JSON of `settings`), encrypted to the backup's recipient and
   * base64, since values such as a JWT secret must not lie in the clear manifest; `settings` is then empty.
   */
  readonly sealedSettings?: string;
  /** Set when the properties could not be read; the backup itself is still good. */
  readonly error?: string;
}

/** Reads the properties of the database `client` is connected to (in its transaction's snapshot). */
export async function readDatabaseProperties(client: pg.Client): Promise<DatabaseProperties> {
  const [db] = (
    await client.query<{
      owner: string;
      encoding: string;
      collate: string;
      ctype: string;
      connlimit: number;
      acl_default: boolean;
      comment: string | null;
    }>(
      `SELECT pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding,
              d.datcollate AS collate, d.datctype AS ctype, d.datconnlimit AS connlimit,
              d.datacl IS NULL AS acl_default, shobj_description(d.oid, 'pg_database') AS comment
         FROM pg_database d WHERE d.datname = current_database()`,
    )
  ).rows;
  if (!db) throw new Error("the current database is not in pg_database");
  const acl = db.acl_default
    ? null
    : (
        await client.query<{
          grantee: string | null;
          privilege: DatabaseGrant["privilege"];
          grantable: boolean;
        }>(
          `SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
                  a.privilege_type AS privilege, a.is_grantable AS grantable
             FROM pg_database d, aclexplode(d.datacl) a
            WHERE d.datname = current_database() ORDER BY 1 NULLS FIRST, 2`,
        )
      ).rows.map((r) => ({ grantee: r.grantee, privilege: r.privilege, grantable: r.grantable }));
  const settings = (
    await client.query<{ role: string | null; config: string[] }>(
      `SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END AS role,
              s.setconfig AS config
         FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
        WHERE d.datname = current_database() ORDER BY 1 NULLS FIRST`,
    )
  ).rows.map((r) => ({ role: r.role, settings: [...r.config].sort() }));
  return {
    owner: db.owner,
    encoding: db.encoding,
    collate: db.collate,
    ctype: db.ctype,
    connectionLimit: db.connlimit,
    acl,
    comment: db.comment,
    settings,
  };
}
