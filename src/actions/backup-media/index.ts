import { runBackupMedia } from "./run.js";

await runBackupMedia();
