import { afterEach, describe, expect, it, vi } from "vitest";
import { actionsLogSink } from "../../src/actions/shared/runtime.js";

/** The workflow commands the runner would read in `out`: per line, `::name` after leading space, or `##[name`. */
function commandsIn(out: string): string[] {
  const found: string[] = [];
  for (const line of out.split(/\r\n|\r|\n/)) {
    const v2 = /^::([^:\s]+)/.exec(line.trimStart());
    // As the runner: a `::` command first, else a legacy one.
    const v1 = /##\[([^\]\s]+)/.exec(line);
    if (v2) found.push(v2[1]!.split(" ")[0]!);
    else if (v1) found.push(`##[${v1[1]}`);
  }
  return found;
}

function captureStdout(): { text: () => string } {
  let text = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return true;
  });
  return { text: () => text };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the actions log sink", () => {
  const hostile =
    'Role "x\n::add-mask::secret\r::error::forged\r\n  ::stop-commands::tok\nand ##[error]legacy" does not exist';

  it("writes a name carrying newlines and workflow commands as plain text, every line kept", () => {
    const out = captureStdout();
    actionsLogSink().write("info", hostile, new Date());
    expect(commandsIn(out.text())).toEqual([]);
    for (const part of ["::add-mask::secret", "::error::forged", "::stop-commands::tok", "legacy"])
      expect(out.text()).toContain(part);
    expect(out.text().split("\n").filter(Boolean)).toHaveLength(5);
  });

  it("warnings, errors and debug lines are one command each, their text escaped by core", () => {
    const out = captureStdout();
    const sink = actionsLogSink();
    sink.write("warn", hostile, new Date());
    sink.write("error", hostile, new Date());
    sink.write("debug", hostile, new Date());
    expect(commandsIn(out.text())).toEqual(["warning", "error", "debug"]);
  });
});
