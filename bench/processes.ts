// Child processes of the bench: start, wait until ready, read their memory, stop. Every child is tracked so an
// interrupted bench leaves nothing running.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set<ChildProcess>();

/** Spawns a child and remembers it for killAll(). */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Kills every child still running (only ours, by pid). */
export function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. Resolves once it exited. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resolves with the first match of `pattern` in the child's stdout/stderr; rejects on exit or timeout. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen = (seen + chunk.toString('utf8')).slice(-16_384);
      const match = pattern.exec(seen);
      if (match) {
        cleanup();
        resolve(match);
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`${what} exited (${signal ?? code}) before it was ready; it said:\n${seen.trim()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} not ready after ${timeoutMs} ms; it said:\n${seen.trim()}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** A TCP port free on 127.0.0.1 right now (for peers that cannot listen on port 0 and report it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Waits until 127.0.0.1:port accepts a connection. */
export async function waitForPort(port: number, timeoutMs: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.signalCode ?? child.exitCode}) before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${what} not listening on ${port} after ${timeoutMs} ms`);
}

/** Resident set size of `pid` in bytes, from /proc/<pid>/status (VmRSS); null when it is gone. */
export function readRss(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; reports the peak. */
export class RssSampler {
  private readonly timer: NodeJS.Timeout;
  peak: number;
  readonly baseline: number;

  constructor(private readonly pid: number, everyMs = 50) {
    this.baseline = readRss(pid) ?? 0;
    this.peak = this.baseline;
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    const rss = readRss(this.pid);
    if (rss !== null && rss > this.peak) this.peak = rss;
  }

  /** Stops sampling; returns baseline, peak and final RSS in bytes. */
  stop(): { baseline: number; peak: number; end: number } {
    clearInterval(this.timer);
    this.sample();
    return { baseline: this.baseline, peak: this.peak, end: readRss(this.pid) ?? this.peak };
  }
}

const CLOCK_TICKS = 100; // USER_HZ: /proc reports CPU time in 1/100 s on Linux (proc(5), "clock ticks")

/** Busy CPU time of the whole machine, in seconds, from the first line of /proc/stat (all but idle and iowait). */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** CPU time (user + system, all threads) of one process in seconds, from /proc/<pid>/stat; 0 when it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name may hold spaces and parentheses: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** How busy the machine was during a measurement, and how much of that was not the bench's own processes. */
export interface CpuShare {
  seconds: number;
  /** Cores' worth of CPU used by the bench (orchestrator, client, origin, peers). */
  oursCores: number;
  /** Cores' worth of CPU used by everything else on the machine: noise. */
  foreignCores: number;
  /** CPU seconds used by the peer under test (all its threads); null for direct. */
  peerCpuSeconds: number | null;
}

/** Measures CPU use between construction and stop(); `pids` are the bench's own processes. */
export class CpuMeter {
  private readonly started = performance.now();
  private readonly machine0 = machineBusySeconds();
  private readonly ours0: Map<number, number>;

  constructor(private readonly pids: readonly number[], private readonly peerPid: number | null = null) {
    this.ours0 = new Map(pids.map((pid) => [pid, processCpuSeconds(pid)]));
    if (peerPid !== null && !this.ours0.has(peerPid)) this.ours0.set(peerPid, processCpuSeconds(peerPid));
  }

  stop(): CpuShare {
    const seconds = (performance.now() - this.started) / 1000;
    const machine = machineBusySeconds() - this.machine0;
    let ours = 0;
    for (const pid of this.pids) ours += Math.max(0, processCpuSeconds(pid) - (this.ours0.get(pid) ?? 0));
    const peer = this.peerPid === null ? null : Math.max(0, processCpuSeconds(this.peerPid) - (this.ours0.get(this.peerPid) ?? 0));
    return { seconds, oursCores: ours / seconds, foreignCores: Math.max(0, machine - ours) / seconds, peerCpuSeconds: peer };
  }
}

/** Pids of the bench's running children (plus forked ones registered with trackChild) and itself. */
export function ownPids(): number[] {
  return [process.pid, ...[...children].map((c) => c.pid).filter((pid): pid is number => pid !== undefined && pid > 0)];
}

/** Registers a child started elsewhere (fork) so killAll() and ownPids() know it. */
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}
