import { describe, expect, it } from "vitest";
import type { DatabaseProperties } from "../../src/db/database-properties.js";
import { displayName, nameBytesHex } from "../../src/db/names.js";
import type { SnapshotCatalog } from "../../src/db/snapshot.js";
import { compareCatalogs } from "../../src/restore/catalog-compare.js";
import {
  compareProperties,
  propertyStatements,
  settingAssignment,
  splitSettingList,
} from "../../src/restore/database-properties.js";

const base: DatabaseProperties = {
  owner: "app",
  encoding: "UTF8",
  collate: "C",
  ctype: "C",
  connectionLimit: -1,
  acl: null,
  comment: null,
  settings: [],
};

describe("names as bytes", () => {
  it("keeps UTF-8 names, escapes the bytes of others, and keys both by their exact bytes", () => {
    expect(displayName(Buffer.from("café", "utf8"))).toBe("café");
    expect(displayName(Buffer.from([0x63, 0x61, 0x66, 0xe9]))).toBe("caf\\xe9");
    expect(nameBytesHex("café", undefined)).toBe(Buffer.from("café").toString("hex"));
    expect(nameBytesHex("caf\\xe9", { "caf\\xe9": "636166e9" })).toBe("636166e9");
  });

  it("a table whose bytes differ under the same listed name is a mismatch", () => {
    const catalog = (hex: string): SnapshotCatalog => ({
      snapshot: "s",
      schemas: ["public"],
      tables: [{ name: "public.caf\\xe9", rows: 1 }],
      sequences: [],
      extensions: [],
      rawNames: { "public.caf\\xe9": hex },
      rowCounts: "exact",
      rowCountSource: "count(*) in snapshot",
    });
    const same = Buffer.from("public.caf").toString("hex");
    expect(compareCatalogs(catalog(`${same}e9`), catalog(`${same}e9`)).ok).toBe(true);
    expect(compareCatalogs(catalog(`${same}e9`), catalog(`${same}e8`)).ok).toBe(false);
  });
});

describe("re-applying database properties", () => {
  it("splits list settings as PostgreSQL stores them and renders each element as a literal", () => {
    expect(splitSettingList('"$user", public, "Odd, ""schema"""')).toEqual([
      "$user",
      "public",
      'Odd, "schema"',
    ]);
    expect(settingAssignment('search_path="$user", public')).toBe(`"search_path" = '$user', 'public'`);
    expect(settingAssignment("work_mem=64MB")).toBe(`"work_mem" = '64MB'`);
    expect(settingAssignment("app.note=it's; DROP DATABASE x")).toBe(
      `"app"."note" = 'it''s; DROP DATABASE x'`,
    );
  });

  it("refuses a setting name or privilege that could carry SQL (a damaged or edited manifest)", () => {
    expect(() => settingAssignment("work_mem = 1; DROP DATABASE live; --=x")).toThrow(
      /not a configuration parameter/,
    );
    expect(() =>
      propertyStatements(
        "db",
        { ...base, acl: [{ grantee: null, privilege: "ALL; DROP" as "CONNECT", grantable: false }] },
        base,
        new Set(),
      ),
    ).toThrow(/does not exist/);
  });

  it("rebuilds the ACL from a clean slate, skipping roles that are missing", () => {
    const { statements, missingRoles } = propertyStatements(
      'new "db"',
      {
        ...base,
        owner: "restorer",
        acl: [
          { grantee: "app", privilege: "CONNECT", grantable: false },
          { grantee: "gone", privilege: "CONNECT", grantable: false },
          { grantee: "ops", privilege: "CREATE", grantable: true },
        ],
        settings: [{ role: "gone", settings: ["work_mem=1MB"] }],
      },
      { ...base, owner: "restorer" },
      new Set(["app", "ops"]),
    );
    expect(statements.map((s) => s.sql)).toEqual([
      `REVOKE ALL ON DATABASE "new ""db""" FROM PUBLIC CASCADE`,
      `REVOKE ALL ON DATABASE "new ""db""" FROM "restorer" CASCADE`,
      `GRANT CONNECT ON DATABASE "new ""db""" TO "app"`,
      `GRANT CREATE ON DATABASE "new ""db""" TO "ops" WITH GRANT OPTION`,
    ]);
    expect(missingRoles).toEqual(["gone"]);
    const restored = { ...base, acl: [{ grantee: "app", privilege: "CONNECT" as const, grantable: false }] };
    const recorded = {
      ...base,
      acl: [...restored.acl, { grantee: "gone", privilege: "CONNECT" as const, grantable: false }],
    };
    expect(compareProperties(recorded, restored, ["gone"]).rows.every((r) => r.ok)).toBe(true);
    expect(compareProperties(recorded, restored, []).rows.find((r) => r.name === "ACL")?.ok).toBe(false);
  });
});
