// mitmlab as a child process for robustness tests: a crash is visible as an exit, and the events are read back from
// the session log it writes (README "events.jsonl"), so the tests see exactly what was recorded on disk.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EventOf, ProxyEvent, ProxyEventType } from '../../server/protocol/events.js';
import { startCli, type CliProcess } from './cli-process.js';

export interface HostileCli extends CliProcess {
  dir: string;
  caPath: string;
  /** Port of the live view, or 0 when started with --no-ui. */
  uiPort: number;
  /** True while the process has not exited. */
  alive(): boolean;
  /** Every whole event line recorded so far in the session log (the header line is skipped). */
  events(): ProxyEvent[];
  /** Polls the session log until an event of `type` matching `predicate` is there; rejects after `timeoutMs`. */
  waitForEvent<T extends ProxyEventType>(type: T, predicate?: (event: EventOf<T>) => boolean, timeoutMs?: number): Promise<EventOf<T>>;
  /**
   * The connection id mitmlab gave the client whose local TCP port is `localPort` (from its connection-open event).
   * Call it while the client is still connected (see the implementation).
   */
  connOf(localPort: number): Promise<string>;
  /** Events of one connection, in order. */
  eventsOf(conn: string): ProxyEvent[];
  /** Sends SIGTERM; resolves with the exit code, or 'hung' (after a SIGKILL) when it did not exit within `timeoutMs`. */
  terminate(timeoutMs?: number): Promise<number | null | 'hung'>;
  /** Stops the process (SIGKILL if SIGTERM does not end it) and removes its temp folder. */
  dispose(): Promise<void>;
}

/** Starts `mitmlab start` with temp data and CA folders, port 0 everywhere, plus `args`. */
export async function startHostileCli(args: readonly string[]): Promise<HostileCli> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-robust-'));
  const dataDir = path.join(dir, 'data');
  const cli = await startCli([
    'start', '--listen-port', '0', '--ui-port', '0', '--quiet',
    '--data-dir', dataDir, '--ca-dir', path.join(dir, 'ca'),
    ...args,
  ]);
  const uiMatch = /live view http:\/\/[^:]+:(\d+)\//.exec(cli.output());
  const logPath = (): string | null => {
    const sessions = path.join(dataDir, 'sessions');
    if (!existsSync(sessions)) return null;
    const ids = readdirSync(sessions).sort();
    return ids.length > 0 ? path.join(sessions, ids[ids.length - 1]!, 'events.jsonl') : null;
  };
  const events = (): ProxyEvent[] => {
    const file = logPath();
    if (!file || !existsSync(file)) return [];
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.pop(); // the last element is '' or a line still being written
    return lines.slice(1).map((line) => JSON.parse(line) as ProxyEvent);
  };
  const waitForEvent = async <T extends ProxyEventType>(
    type: T,
    predicate: (event: EventOf<T>) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<EventOf<T>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events().find((e): e is EventOf<T> => e.type === type && predicate(e as EventOf<T>));
      if (found) return found;
      if (Date.now() > deadline || cli.child.exitCode !== null) {
        const seen = events().map((e) => e.type).join(', ');
        // The last few events of the type asked for, in full: what did come instead is what a failure needs to show.
        const sameType = JSON.stringify(events().filter((e) => e.type === type).slice(-3));
        throw new Error(
          `no matching ${type} event in the session log (process ${cli.child.exitCode === null ? 'alive' : `exited ${cli.child.exitCode}`}); last ${type} events: ${sameType.slice(-2000)}; saw: ${seen.slice(-1500)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const terminate = async (timeoutMs = 10_000): Promise<number | null | 'hung'> => {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      cli.stop('SIGTERM'),
      new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome === 'hung') await cli.stop('SIGKILL');
    return outcome;
  };
  return {
    ...cli,
    dir,
    caPath: path.join(dir, 'ca', 'mitmlab-ca.pem'),
    uiPort: uiMatch ? Number(uiMatch[1]) : 0,
    alive: () => cli.child.exitCode === null && cli.child.signalCode === null,
    events,
    waitForEvent,
    // Called while the client is connected: an earlier connection from the same local port (ports are reused) is
    // closed by then, and left out; this one cannot be closed yet.
    connOf: async (localPort) => {
      const logged = events();
      const closed = new Set(logged.flatMap((e) => (e.type === 'connection-close' ? [e.conn] : [])));
      const earlier = new Set(logged.flatMap((e) => (e.type === 'connection-open' && e.client.port === localPort && closed.has(e.conn) ? [e.conn] : [])));
      return (await waitForEvent('connection-open', (e) => e.client.port === localPort && !earlier.has(e.conn))).conn;
    },
    eventsOf: (conn) => events().filter((e) => 'conn' in e && e.conn === conn),
    terminate,
    dispose: async () => {
      await terminate();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
