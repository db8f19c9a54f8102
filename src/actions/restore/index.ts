import { runRestore } from "./run.js";

await runRestore();
