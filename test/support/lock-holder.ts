// A run holding a DirectoryLock on argv[2], for lock tests: prints "LOCKED <pid>", keeps the lock until
// its stdin closes, then releases it and exits.
import { DirectoryLock } from "../../src/fs/dir-lock.js";
import { Logger } from "../../src/log/logger.js";

const lock = await DirectoryLock.acquire(process.argv[2]!, "backup-db", new Logger());
process.stdout.write(`LOCKED ${process.pid}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void lock.release().then(() => process.exit(0));
});
