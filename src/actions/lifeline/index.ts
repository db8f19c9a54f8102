import * as core from "@actions/core";
import { EXIT } from "../../process/exit-status.js";
import { runBackupDb } from "../backup-db/run.js";
import { runRestore } from "../restore/run.js";
import { runVerify } from "../verify/run.js";

/** Commands of the root action; the others arrive with their milestones. */
const COMMANDS: Record<string, () => Promise<void>> = {
  "backup-db": runBackupDb,
  verify: runVerify,
  restore: runRestore,
};

const command = core.getInput("command").trim();
const run = COMMANDS[command];
if (run) {
  await run();
} else {
  core.setFailed(
    `Invalid input 'command': '${command}'. Expected one of: ${Object.keys(COMMANDS).join(", ")} ` +
      "(backup-media is not available in this version yet)",
  );
  process.exitCode = EXIT.config; // an invalid input, like every configuration error
}
