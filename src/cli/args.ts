import { parseArgs } from "node:util";
import { credentialsIn } from "../config/backup-db-config.js";
import { metricsDestination } from "../config/metrics-config.js";
import {
  COMMAND_LINE_NAMES,
  environmentLookup,
  firstOf,
  parseBoolean,
  type SettingLookup,
  type SettingSpec,
  withNames,
} from "../config/settings.js";
import type { Logger } from "../log/logger.js";
import { UsageError } from "../shared/errors.js";
import type { RunRecord } from "./run-record.js";

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
    // parseArgs quotes a stray argument, and a stray argument is often a value a switch cannot take
    // (`--test-restore postgresql://user:password@...`): it is named by position, never shown.
    if ((err as { code?: string }).code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      const position = argv.findIndex((a) => !a.startsWith("-") && !isFlagValue(argv, a, options)) + 1;
      throw new UsageError(
        `Argument ${position || "?"} is not a flag, and this command takes no other arguments (it is not shown: it may hold a secret). ` +
          "A switch such as --test-restore or --dry-run takes no value; run with --help for the accepted flags",
      );
    }
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

export interface StartedCommand {
  /** Flag first, then the runbook's environment variable; errors speak the command line's names. */
  readonly lookup: SettingLookup;
  readonly switches: Readonly<Record<string, boolean>>;
}

/**
 * The start every command shares: its flags parsed, --help answered (then undefined is returned), the
 * settings looked up flag first then environment, every secret masked before anything can be quoted
 * (a malformed URL's error must not carry its password), and the failed run's metrics destination
 * refined by the flags.
 */
export function startCommand(
  argv: readonly string[],
  command: {
    readonly settings: Readonly<Record<string, SettingSpec<unknown>>>;
    readonly switches: readonly string[];
    readonly help: string;
  },
  io: {
    readonly logger: Logger;
    readonly out: NodeJS.WritableStream;
    readonly record?: RunRecord;
    readonly env?: NodeJS.ProcessEnv;
  },
): StartedCommand | undefined {
  const { lookup: flags, switches } = parseFlags(argv, command.settings, [...command.switches, "help"]);
  if (switches.help) {
    io.out.write(command.help);
    return undefined;
  }
  const lookup = firstOf(flags, environmentLookup(io.env ?? process.env));
  maskSecrets(lookup, flags, io.logger);
  if (io.record) io.record.settings = metricsDestination(lookup);
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

/** Whether `arg` is the value of the flag before it (a string option), not a stray argument. */
function isFlagValue(
  argv: readonly string[],
  arg: string,
  options: Readonly<Record<string, { type: "string" | "boolean" }>>,
): boolean {
  const before = argv[argv.indexOf(arg) - 1];
  return (
    before?.startsWith("--") === true && !before.includes("=") && options[before.slice(2)]?.type === "string"
  );
}
