import { readFileSync, readlinkSync } from "node:fs";

/**
 * Who a process is, in a form that can be stored in a file and judged later by another process: a pid
 * alone is not enough, since runs in other PID namespaces (containers sharing a TMPDIR or a backup
 * directory) have pids that mean nothing here, and pids are reused (every container run may be pid 1).
 */
export interface ProcessIdentity {
  readonly pid: number;
  /** Inode of /proc/self/ns/pid ("pid:[4026531836]"): pids are comparable only within one namespace. */
  readonly pidNamespace?: string;
  /** /proc/sys/kernel/random/boot_id: a different one means the owner's machine rebooted since. */
  readonly bootId?: string;
  /** Kernel start time of the process (/proc/PID/stat field 22): tells the owner from a reused pid. */
  readonly procStart?: string;
}

export function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export function pidNamespace(): string | undefined {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return undefined;
  }
}

export function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** This process, as ProcessIdentity. */
export function ownIdentity(): ProcessIdentity {
  const ns = pidNamespace();
  const boot = bootId();
  const start = procStart(process.pid);
  return {
    pid: process.pid,
    ...(ns ? { pidNamespace: ns } : {}),
    ...(boot ? { bootId: boot } : {}),
    ...(start ? { procStart: start } : {}),
  };
}

/** True while `pid` (of this namespace) runs; a zombie (exited, not yet reaped) counts as gone. */
export function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true; // no /proc (macOS): the signal said it exists
  }
}

/**
 * Whether the process `owner` recorded can be judged from here, and how:
 * - "dead": it ran on an earlier boot of this machine, or in this PID namespace and is gone (or its pid
 *   now belongs to another process, told by its start time);
 * - "alive": it runs in this namespace;
 * - "unknown": another PID namespace, or no namespace/boot recorded (another container, an older
 *   version): nothing here can tell whether it still runs.
 */
export function judgeOwner(owner: ProcessIdentity): "dead" | "alive" | "unknown" {
  const me = ownIdentity();
  if (owner.bootId && me.bootId && owner.bootId !== me.bootId) return "dead";
  if (!owner.pidNamespace || !me.pidNamespace || owner.pidNamespace !== me.pidNamespace) return "unknown";
  if (owner.bootId === undefined || me.bootId === undefined) return "unknown";
  if (owner.pid === process.pid) return owner.procStart === me.procStart ? "alive" : "dead";
  if (!pidRunning(owner.pid)) return "dead";
  const now = procStart(owner.pid);
  if (owner.procStart !== undefined && now !== undefined && now !== owner.procStart) return "dead";
  return "alive";
}
