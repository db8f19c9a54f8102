import * as core from "@actions/core";
import { EXIT } from "../../process/exit-status.js";
import { runBackupDb } from "../backup-db/run.js";
import { runBackupMedia } from "../backup-media/run.js";
import { runRestore } from "../restore/run.js";
import { runVerify } from "../verify/run.js";

/** Commands of the root action, each the same as its own action under actions/. */
const COMMANDS: Record<string, () => Promise<void>> = {
  "backup-db": runBackupDb,
  "backup-media": runBackupMedia,
  verify: runVerify,
  restore: runRestore,
};

const command = core.getInput("command").trim();
const run = COMMANDS[command];
if (run) {
  await run();
} else {
  core.setFailed(
    `Invalid input 'command': '${command}'. Expected one of: ${Object.keys(COMMANDS).join(", ")}`,
  );
  process.exitCode = EXIT.config; // an invalid input, like every configuration error
}
