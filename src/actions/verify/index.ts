import { runVerify } from "./run.js";

await runVerify();
