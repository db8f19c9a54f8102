// Rewrites the `inputs:` blocks of action.yml and actions/<command>/action.yml from the settings tables,
// so that inputs, environment variables and defaults never drift. A unit test checks the result.
//   npx tsx scripts/gen-action-inputs.ts
import { readFileSync, writeFileSync } from "node:fs";
import { BACKUP_DB_SETTINGS } from "../src/config/backup-db-config.js";
import { BACKUP_MEDIA_SETTINGS } from "../src/config/media-config.js";
import { RESTORE_SETTINGS } from "../src/config/restore-config.js";
import type { SettingSpec } from "../src/config/settings.js";
import { VERIFY_SETTINGS } from "../src/config/verify-config.js";

export type Command = "backup-db" | "backup-media" | "verify" | "restore";

const specsOf = (table: Record<string, SettingSpec<unknown>>) =>
  (Object.values(table) as SettingSpec<unknown>[]).filter((s) => !s.cliOnly);

/** Each command's action inputs, in the order of its settings table. */
export const COMMAND_SETTINGS: Record<Command, SettingSpec<unknown>[]> = {
  "backup-db": specsOf(BACKUP_DB_SETTINGS),
  "backup-media": specsOf(BACKUP_MEDIA_SETTINGS),
  verify: specsOf(VERIFY_SETTINGS),
  restore: specsOf(RESTORE_SETTINGS),
};
export const COMMANDS = Object.keys(COMMAND_SETTINGS) as Command[];

/**
 * What a setting means for one command where the settings table's text (shared between commands) says
 * what it means for another: e.g. the cloud settings are written from backup-db's side ("bucket for
 * off-site copies"), while verify and restore read from that bucket. Keyed by command, then input.
 */
export const DESCRIPTION_OVERRIDES: Record<Command, Record<string, string>> = {
  "backup-db": {
    "database-url": "the database to back up, e.g. postgresql://user:password@host:5432/transcripts",
  },
  "backup-media": {
    "retention-dry-run": "log and summarise the media retention plan without removing any snapshot",
  },
  verify: {
    "s3-bucket":
      "S3 bucket whose copies are checked too (credentials: the AWS SDK chain, e.g. AWS_* or a role)",
    "gcs-bucket":
      "GCS bucket whose copies are checked too (credentials: GOOGLE_APPLICATION_CREDENTIALS or workload identity)",
    "azure-container":
      "Azure Blob container whose copies are checked too (AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with a key, SAS or Entra ID)",
  },
  restore: {
    "s3-bucket":
      "S3 bucket whose backups list-backups shows and pitr chooses from (credentials: the AWS SDK chain, e.g. AWS_* or a role)",
    "gcs-bucket":
      "GCS bucket whose backups list-backups shows and pitr chooses from (credentials: GOOGLE_APPLICATION_CREDENTIALS or workload identity)",
    "azure-container":
      "Azure Blob container whose backups list-backups shows and pitr chooses from (AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with a key, SAS or Entra ID)",
  },
};

/** What `spec` means for `command`: its override, else the settings table's text. */
export function describeFor(command: Command, spec: SettingSpec<unknown>): string {
  return DESCRIPTION_OVERRIDES[command][spec.input] ?? spec.description;
}

const FILES: Record<Command, string> = {
  "backup-db": "actions/backup-db/action.yml",
  "backup-media": "actions/backup-media/action.yml",
  verify: "actions/verify/action.yml",
  restore: "actions/restore/action.yml",
};

/** One input as an action declares it: what it means (for whom), where else it is read from, its default. */
export interface InputDoc {
  readonly input: string;
  readonly description: string;
}

const sentence = (text: string) => `${text[0]!.toUpperCase()}${text.slice(1)}`;
const defaultOf = (spec: SettingSpec<unknown>) =>
  spec.default !== undefined ? ` Default: ${spec.default}.` : "";
const listOf = (names: readonly string[]) =>
  names.length === 1 ? names[0]! : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;

/** A command's own action: its settings, in its own words. */
export function commandInputs(command: Command): InputDoc[] {
  return COMMAND_SETTINGS[command].map((spec) => ({
    input: spec.input,
    description: `${sentence(describeFor(command, spec))}. Empty: env ${spec.env}.${defaultOf(spec)}`,
  }));
}

/**
 * The root action: every command's settings once each, saying which commands read each one and what it
 * means for each ("For backup-db: …. For verify and restore: …."): the root action runs any of them.
 */
export function rootInputs(): InputDoc[] {
  const uses = new Map<string, { command: Command; spec: SettingSpec<unknown> }[]>();
  for (const command of COMMANDS)
    for (const spec of COMMAND_SETTINGS[command]) {
      const seen = uses.get(spec.input) ?? [];
      if (seen[0] && seen[0].spec.env !== spec.env)
        throw new Error(
          `input '${spec.input}' reads ${seen[0].spec.env} for ${seen[0].command} but ${spec.env} for ${command}`,
        );
      uses.set(spec.input, [...seen, { command, spec }]);
    }
  return [...uses].map(([input, users]) => {
    const sameDefault = users.every((u) => u.spec.default === users[0]!.spec.default);
    const groups = new Map<string, Command[]>();
    for (const { command, spec } of users) {
      const text = `${describeFor(command, spec)}.${sameDefault ? "" : defaultOf(spec)}`;
      groups.set(text, [...(groups.get(text) ?? []), command]);
    }
    const parts = [...groups].map(([text, commands]) => `For ${listOf(commands)}: ${text}`);
    const first = users[0]!.spec;
    return {
      input,
      description: `${parts.join(" ")} Empty: env ${first.env}.${sameDefault ? defaultOf(first) : ""}`,
    };
  });
}

/** The inputs each action declares: its own settings; the root action every command's, once each. */
export const ACTION_SETTINGS: Record<string, SettingSpec<unknown>[]> = {
  [FILES["backup-db"]]: COMMAND_SETTINGS["backup-db"],
  [FILES["backup-media"]]: COMMAND_SETTINGS["backup-media"],
  [FILES.verify]: COMMAND_SETTINGS.verify,
  [FILES.restore]: COMMAND_SETTINGS.restore,
  "action.yml": [...new Map(COMMANDS.flatMap((c) => COMMAND_SETTINGS[c]).map((s) => [s.input, s])).values()],
};

/** What each action.yml declares, by file. */
export const ACTION_INPUTS: Record<string, InputDoc[]> = {
  [FILES["backup-db"]]: commandInputs("backup-db"),
  [FILES["backup-media"]]: commandInputs("backup-media"),
  [FILES.verify]: commandInputs("verify"),
  [FILES.restore]: commandInputs("restore"),
  "action.yml": rootInputs(),
};

export function inputsBlock(inputs: readonly InputDoc[]): string {
  const lines: string[] = [];
  for (const { input, description } of inputs)
    lines.push(`  ${input}:`, `    description: ${JSON.stringify(description)}`, "    required: false");
  return `${lines.join("\n")}\n`;
}

export const BEGIN = "  # --- settings (generated by scripts/gen-action-inputs.ts) ---\n";
export const END = "  # --- end of settings ---\n";

/** The generated block of `file` as it stands in the file (undefined without markers). */
export function generatedBlock(text: string): string | undefined {
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  return start < 0 || end < 0 ? undefined : text.slice(start + BEGIN.length, end);
}

if (process.argv[1]?.endsWith("gen-action-inputs.ts")) {
  for (const [file, inputs] of Object.entries(ACTION_INPUTS)) {
    const text = readFileSync(file, "utf8");
    const start = text.indexOf(BEGIN);
    const end = text.indexOf(END);
    if (start < 0 || end < 0) throw new Error(`${file}: generated-settings markers not found`);
    writeFileSync(file, text.slice(0, start + BEGIN.length) + inputsBlock(inputs) + text.slice(end));
    console.log(`updated ${file}`);
  }
}
