import { redactUrl } from "../db/database-url.js";
import { ConfigError } from "../shared/errors.js";

/**
 * One configuration setting, known by three names: the runbook's environment variable, the action
 * input (kebab-case) and the CLI flag. Every adapter resolves settings through the same table.
 */
export interface SettingSpec<T> {
  readonly env: string;
  readonly input: string;
  readonly description: string;
  /** Default as shown to users; `parse` receives it when nothing is set. */
  readonly default?: string;
  readonly parse: (raw: string, source: string) => T;
  /** Only a command-line flag (e.g. restore's --force): not an action input, since an action has its own guard. */
  readonly cliOnly?: true;
}

/** Where a raw value came from, named the way the user set it ("input 'backup-dir'", "--backup-dir", "BACKUP_DIR"). */
export interface RawValue {
  readonly value: string;
  readonly source: string;
}

/**
 * How one caller lets its user set settings, so that every error names a setting the way this user can
 * set it: the CLI by flag or environment variable, an action by input or environment variable. The
 * adapter supplies it with its lookup; the engine never assumes one.
 */
export interface SettingNames {
  /** The setting as this caller gives it: "--prefix", "input 'prefix'". */
  name(spec: SettingSpec<unknown>): string;
  /** Every way this caller can set it, for a setting that is missing: "--prefix or the environment variable BACKUP_PREFIX". */
  ways(spec: SettingSpec<unknown>): string;
  /** The setting named compactly with its variable, to point at it: "BACKUP_PREFIX (--prefix)". */
  label(spec: SettingSpec<unknown>): string;
  /** How to switch a boolean setting on: "add --pitr", "set the input 'pitr' to true". */
  enable(spec: SettingSpec<unknown>): string;
}

/**
 * The command line's names: the runbook's environment variables and the CLI's flags (the kebab-case
 * input names), a boolean one a bare switch. Also what a bare environment lookup speaks, since outside
 * an action the environment is the runbook's and the flags are the other way to set it.
 */
export const COMMAND_LINE_NAMES: SettingNames = {
  name: (spec) => `--${spec.input}`,
  ways: (spec) => `--${spec.input} or the environment variable ${spec.env}`,
  label: (spec) => `${spec.env} (--${spec.input})`,
  enable: (spec) => `add --${spec.input}`,
};

/** Finds the raw value of a setting, or undefined when it is not set (empty counts as not set). */
export interface SettingLookup {
  (spec: SettingSpec<unknown>): RawValue | undefined;
  /** How this caller names settings in its errors; unset: COMMAND_LINE_NAMES. */
  readonly names?: SettingNames;
}

/** The names a lookup's errors use. */
export function namesOf(lookup: SettingLookup): SettingNames {
  return lookup.names ?? COMMAND_LINE_NAMES;
}

/** A lookup that names its settings in `names`' words. */
export function withNames(
  names: SettingNames,
  find: (spec: SettingSpec<unknown>) => RawValue | undefined,
): SettingLookup {
  return Object.assign((spec: SettingSpec<unknown>) => find(spec), { names });
}

/**
 * The setting as the user gave it, to point at a value that is set ("--prefix", "BACKUP_PREFIX"),
 * else by its label in this caller's words.
 */
export function givenAs(spec: SettingSpec<unknown>, lookup: SettingLookup): string {
  return lookup(spec)?.source ?? namesOf(lookup).label(spec);
}

/** Looks a setting up in an environment by its runbook variable name. */
export function environmentLookup(
  env: NodeJS.ProcessEnv,
  names: SettingNames = COMMAND_LINE_NAMES,
): SettingLookup {
  return withNames(names, (spec) => {
    const value = env[spec.env];
    return value === undefined || value === "" ? undefined : { value, source: spec.env };
  });
}

/**
 * Tries each lookup in turn: e.g. action input first, then the runbook's environment variable. Its
 * errors speak the first lookup's names (the adapter's own source comes first).
 */
export function firstOf(...lookups: SettingLookup[]): SettingLookup {
  const names = lookups.find((l) => l.names !== undefined)?.names ?? COMMAND_LINE_NAMES;
  return withNames(names, (spec) => {
    for (const lookup of lookups) {
      const found = lookup(spec);
      if (found) return found;
    }
    return undefined;
  });
}

/** Resolves one setting: the value found, else the default, else undefined. */
export function resolve<T>(spec: SettingSpec<T>, lookup: SettingLookup): T | undefined {
  const found = lookup(spec as SettingSpec<unknown>);
  if (found) return spec.parse(found.value.trim(), found.source);
  if (spec.default !== undefined) return spec.parse(spec.default, `default of ${spec.env}`);
  return undefined;
}

/**
 * Resolves a setting that must be present, failing with a message that names every way this caller can
 * set it (the lookup's names).
 */
export function require<T>(spec: SettingSpec<T>, lookup: SettingLookup, hint = ""): T {
  const value = resolve(spec, lookup);
  if (value === undefined) {
    const ways = namesOf(lookup).ways(spec as SettingSpec<unknown>);
    throw new ConfigError(`${spec.env} is not set: set ${ways} (${spec.description})${hint}`);
  }
  return value;
}

export const parseString = (raw: string): string => raw;

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

export function parseBoolean(raw: string, source: string): boolean {
  const value = raw.toLowerCase();
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new ConfigError(`Invalid ${source} '${raw}'. Expected true or false`);
}

/** A parser for whole numbers in [min, max], e.g. retention counts or a compression level. */
export function integerIn(min: number, max: number, unit = ""): (raw: string, source: string) => number {
  return (raw, source) => {
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigError(
        `Invalid ${source} '${raw}'. Expected a whole number from ${min} to ${max}${unit}`,
      );
    }
    return value;
  };
}

/** A parser for one of a fixed set of words. */
export function oneOf<const T extends string>(choices: readonly T[]): (raw: string, source: string) => T {
  return (raw, source) => {
    const value = raw.toLowerCase() as T;
    if (!choices.includes(value)) {
      throw new ConfigError(`Invalid ${source} '${raw}'. Expected one of: ${choices.join(", ")}`);
    }
    return value;
  };
}

/** Case-insensitive choice that returns the canonical spelling (GLACIER, Cool). */
export function choiceOf<const T extends string>(choices: readonly T[]): (raw: string, source: string) => T {
  return (raw, source) => {
    const found = choices.find((c) => c.toLowerCase() === raw.toLowerCase());
    if (!found) throw new ConfigError(`Invalid ${source} '${raw}'. Expected one of: ${choices.join(", ")}`);
    return found;
  };
}

/** A parser for http(s) URLs (trailing slashes dropped); the example goes into the error message. */
export function httpUrl(example: string): (raw: string, source: string) => string {
  return (raw, source) => {
    try {
      const url = new URL(raw);
      if (url.protocol === "http:" || url.protocol === "https:") return raw.replace(/\/+$/, "");
    } catch {}
    // The URL may carry credentials (a Pushgateway's user:password@): never quoted in clear.
    throw new ConfigError(
      `Invalid ${source} '${redactUrl(raw)}'. Expected an http(s) URL such as ${example}`,
    );
  };
}
