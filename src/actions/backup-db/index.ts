import { runBackupDb } from "./run.js";

await runBackupDb();
