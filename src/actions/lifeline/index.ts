import * as core from "@actions/core";
import { runBackupDb } from "../backup-db/run.js";

/** Commands of the root action; the others arrive with their milestones. */
const COMMANDS: Record<string, () => Promise<void>> = {
  "backup-db": runBackupDb,
};

const command = core.getInput("command").trim();
const run = COMMANDS[command];
if (run) {
  await run();
} else {
  core.setFailed(
    `Invalid input 'command': '${command}'. Expected one of: ${Object.keys(COMMANDS).join(", ")} ` +
      "(backup-media, verify and restore are not available in this version yet)",
  );
}
