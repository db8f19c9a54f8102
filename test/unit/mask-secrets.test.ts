import { describe, expect, it, vi } from "vitest";
import { maskConnectionSecrets } from "../../src/actions/shared/runtime.js";
import { environmentLookup } from "../../src/config/settings.js";

/** What the action writes to stdout (workflow commands) while masking the secrets of `url`. */
function masksFor(url: string): { masks: string[]; written: string } {
  const spy = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const added: string[] = [];
  let written = "";
  try {
    maskConnectionSecrets(environmentLookup({ DATABASE_URL: url }), { addSecret: (s) => added.push(s) });
    written = spy.mock.calls.map((c) => String(c[0])).join("");
  } finally {
    spy.mockRestore();
  }
  const masks = [...written.matchAll(/^::add-mask::(.*)$/gm)].map((m) => m[1]!);
  return { masks, written: `${written}\nlogger: ${added.join("|")}` };
}

describe("maskConnectionSecrets", () => {
  it("masks the whole password, never the text after each ':' or before each '@'", () => {
    expect(masksFor("postgresql://app:S3cret:2024@db:5432/app").masks).not.toContain("2024");
    const { masks } = masksFor("postgresql://app:p@ssw0rd@db:5432/app");
    expect(masks).toContain("p@ssw0rd");
    expect(masks).not.toContain("p");
  });

  it("does not mask a password shorter than 3 characters, and warns that it can't", () => {
    const { masks, written } = masksFor("postgresql://app:a@db:5432/app");
    expect(masks).not.toContain("a");
    expect(written).toMatch(/::warning::.*can't be masked/);
    expect(written).not.toMatch(/logger: .*\ba\b/);
  });
});
