import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configTable, README_TABLES } from "../../scripts/gen-readme-config.js";

describe("README", () => {
  it("documents every setting with the names and defaults the code reads (npx tsx scripts/gen-readme-config.ts)", () => {
    const readme = readFileSync("README.md", "utf8");
    for (const { begin, end, settings } of README_TABLES) {
      expect(readme).toContain(`${begin}\n${configTable(settings)}\n${end}`);
    }
  });

  it("opens with the two command lines", () => {
    const lines = readFileSync("README.md", "utf8").split("\n");
    expect(lines[3]).toMatch(/^bash scripts\/setup\.sh && npm run demo/);
    expect(lines[4]).toMatch(/^bash scripts\/setup\.sh && npm run ci/);
    expect(readFileSync(".ci/run", "utf8")).toContain("bash scripts/setup.sh && npm run ci");
  });
});
