// Prints the `inputs:` block of an action.yml from the settings table, so that the two never drift.
// Usage: npx tsx scripts/gen-action-inputs.ts  (paste into actions/*/action.yml; a unit test checks them)
import { BACKUP_DB_SETTINGS } from "../src/config/backup-db-config.js";
import type { SettingSpec } from "../src/config/settings.js";

for (const spec of Object.values(BACKUP_DB_SETTINGS) as SettingSpec<unknown>[]) {
  const dflt = spec.default !== undefined ? ` Default: ${spec.default}.` : "";
  console.log(`  ${spec.input}:`);
  console.log(
    `    description: "${spec.description[0]!.toUpperCase()}${spec.description.slice(1)}. Empty: env ${spec.env}.${dflt}"`,
  );
  console.log("    required: false");
}
