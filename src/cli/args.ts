import { parseArgs } from "node:util";
import { credentialsIn } from "../config/backup-db-config.js";
import {
  COMMAND_LINE_NAMES,
  parseBoolean,
  type SettingLookup,
  type SettingSpec,
  withNames,
} from "../config/settings.js";
import type { Logger } from "../log/logger.js";
import { UsageError } from "../shared/errors.js";

export { UsageError };

export interface ParsedFlags {
  readonly lookup: SettingLookup;
  readonly switches: Readonly<Record<string, boolean>>;
}

/**
 * Parses `--<input-name> value` flags for a table of settings (the same kebab-case names as the action
 * inputs; boolean settings are bare switches such as `--encrypt`), plus extra switches of the command.
 */
export function parseFlags(
  argv: readonly string[],
  settings: Readonly<Record<string, SettingSpec<unknown>>>,
  extraSwitches: readonly string[],
): ParsedFlags {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const spec of Object.values(settings)) {
    options[spec.input] = { type: spec.parse === parseBoolean ? "boolean" : "string" };
  }
  for (const name of extraSwitches) options[name] = { type: "boolean" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. Run with --help for the accepted flags`, { cause: err });
  }
  const lookup = withNames(COMMAND_LINE_NAMES, (spec) => {
    const value = values[spec.input];
    if (value === undefined || value === "") return undefined;
    return { value: String(value), source: COMMAND_LINE_NAMES.name(spec) };
  });
  const switches: Record<string, boolean> = {};
  for (const name of extraSwitches) switches[name] = values[name] === true;
  return { lookup, switches };
}

/** Help text lines for a table of settings: flag, environment variable, default, description. */
export function settingsHelp(settings: Readonly<Record<string, SettingSpec<unknown>>>): string {
  return Object.values(settings)
    .map((spec) => {
      const flag = spec.parse === parseBoolean ? `--${spec.input}` : `--${spec.input} <value>`;
      const dflt = spec.default !== undefined ? ` (default: ${spec.default})` : "";
      return `  ${flag.padEnd(30)} ${spec.env}: ${spec.description}${dflt}`;
    })
    .join("\n");
}

/**
 * Registers every secret the settings carry with the logger before anything can be quoted, and warns
 * when one came on the command line: argv is readable by every user of the host (ps, /proc/<pid>/cmdline).
 */
export function maskSecrets(lookup: SettingLookup, flags: SettingLookup, logger: Logger): void {
  for (const secret of credentialsIn(lookup)) logger.addSecret(secret);
  const onArgv = ["database-url", "pushgateway-url", "gpg-private-key"].filter(
    (input) => credentialsIn(flagOnly(flags, input), {}).length > 0,
  );
  for (const input of onArgv) {
    logger.warn(
      `--${input} puts a secret on Lifeline's command line, which other users of this host can read (ps): ` +
        (input === "gpg-private-key"
          ? "give it in the environment variable BACKUP_GPG_PRIVATE_KEY instead"
          : `give it in the environment variable ${input === "database-url" ? "DATABASE_URL" : "PUSHGATEWAY_URL"} instead` +
            (input === "database-url"
              ? ", or leave the password out of the URL and keep it in a PGPASSFILE (~/.pgpass)"
              : "")),
    );
  }
}

/** A lookup answering only the flag `input`, so that credentialsIn judges that one flag alone. */
function flagOnly(flags: SettingLookup, input: string): SettingLookup {
  return (spec) => (spec.input === input ? flags(spec) : undefined);
}
