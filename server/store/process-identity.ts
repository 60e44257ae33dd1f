// Who holds a session's lock, told apart from an unrelated process that got the same pid: after a reboot, or in a
// container whose mitmlab was pid 1. On Linux the lock also names the boot (/proc/sys/kernel/random/boot_id) and the
// process's start time (/proc/PID/stat, field 22, proc(5)); elsewhere only the pid is known.

import { readFile } from 'node:fs/promises';

export interface ProcessIdentity {
  pid: number;
  /** The kernel's boot id, when known. */
  boot?: string;
  /** Start time of the process in clock ticks since boot (proc(5) `starttime`), when known. */
  started?: string;
}

/** This process's identity, as written into a lock. */
export async function ownIdentity(): Promise<ProcessIdentity> {
  const [boot, stat] = await Promise.all([bootId(), processStat(process.pid)]);
  const started = stat?.started;
  return { pid: process.pid, ...(boot ? { boot } : {}), ...(started ? { started } : {}) };
}

/** True when the process a lock names still runs: same boot, same pid, same start time (when the lock has them). */
export async function identityAlive(holder: ProcessIdentity): Promise<boolean> {
  if (!pidAlive(holder.pid)) return false;
  if (holder.boot !== undefined) {
    const boot = await bootId();
    if (boot !== null && boot !== holder.boot) return false; // written before a reboot
  }
  const stat = await processStat(holder.pid);
  // A zombie (Z) or dead (X) process holds nothing: it was killed and only waits for its parent to reap it.
  if (stat && (stat.state === 'Z' || stat.state === 'X')) return false;
  if (holder.started !== undefined && stat && stat.started !== holder.started) return false; // the pid is another process now
  return true;
}

/** Parses a lock file's content; null when it is not one. */
export function parseIdentity(text: string): ProcessIdentity | null {
  try {
    const value = JSON.parse(text) as { pid?: unknown; boot?: unknown; started?: unknown };
    if (!Number.isInteger(value.pid)) return null;
    return {
      pid: value.pid as number,
      ...(typeof value.boot === 'string' ? { boot: value.boot } : {}),
      ...(typeof value.started === 'string' ? { started: value.started } : {}),
    };
  } catch {
    return null;
  }
}

/** Whether a process exists (EPERM means it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function bootId(): Promise<string | null> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim() || null;
  } catch {
    return null;
  }
}

/**
 * Fields 3 (state) and 22 (start time) of /proc/PID/stat; the command name (field 2) may hold spaces and
 * parentheses, so fields are counted from its end. Null where there is no /proc.
 */
async function processStat(pid: number): Promise<{ state: string; started: string } | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[3 - 3];
    const started = fields[22 - 3];
    return state && started ? { state, started } : null;
  } catch {
    return null;
  }
}
