// A run holding a temporary gpg home with a live agent, for sweep tests: prints "READY <home>", keeps
// the home until its stdin closes, then disposes of it (agent included) and exits.
import { execFileSync } from "node:child_process";
import { TemporaryGpgHome } from "../../src/crypto/gpg-home.js";

const home = await TemporaryGpgHome.create();
execFileSync("gpg-connect-agent", ["--homedir", home.path, "/bye"], { stdio: "ignore" });
process.stdout.write(`READY ${home.path} ${process.pid}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void home.dispose().then(() => process.exit(0));
});
