import { chmodSync, lstatSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";

/**
 * Removes a directory tree. A tree copied from read-only directories (mode 0555) cannot be emptied by
 * its non-root owner: then every directory of it is made writable (u+rwx) and the removal retried, so
 * a snapshot of such a tree can still be removed by retention as the runner's user.
 */
export function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw err;
  }
  makeWritable(dir);
  rmSync(dir, { recursive: true, force: true });
}

function makeWritable(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory()) return;
  chmodSync(dir, (st.mode & 0o7777) | 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) makeWritable(path.join(dir, entry.name));
  }
}
