// A live-view hub on 127.0.0.1:0 for tests, without a proxy: a bus the test emits on, a reducer-backed flow list,
// a memory blob sink, a temp static dir and placeholder CA files (no keys).

import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { MemoryBlobSink } from '../../../server/events/blob-sink.js';
import { EventBus } from '../../../server/events/bus.js';
import { startHub, type Hub, type HubOptions } from '../../../server/hub/hub.js';
import { loadOrCreateToken } from '../../../server/hub/token.js';
import type { ProxyEvent } from '../../../server/protocol/events.js';
import { applyEvent, createFlowIndex, flowList } from '../../../server/protocol/flow-reducer.js';
import type { ServerMessage } from '../../../server/protocol/wire.js';

export interface TestHub {
  hub: Hub;
  bus: EventBus;
  blobs: MemoryBlobSink;
  token: string;
  dir: string;
  base: string;
  close(): Promise<void>;
}

export async function startTestHub(overrides: Partial<HubOptions> = {}): Promise<TestHub> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-hub-'));
  const staticDir = path.join(dir, 'ui');
  await mkdir(path.join(staticDir, 'assets'), { recursive: true });
  await writeFile(path.join(staticDir, 'index.html'), '<!doctype html><title>mitmlab</title><script type="module" src="/assets/app.js"></script>');
  await writeFile(path.join(staticDir, 'assets', 'app.js'), 'console.log("app");');
  const token = await loadOrCreateToken(path.join(dir, 'data'));
  const bus = new EventBus();
  const index = createFlowIndex(50_000);
  bus.subscribe((event) => void applyEvent(index, event));
  const blobs = new MemoryBlobSink();
  const hub = await startHub({
    host: '127.0.0.1',
    port: 0,
    token,
    bus,
    blobs,
    staticDir,
    flows: () => flowList(index),
    caFiles: { pem: '-----BEGIN CERTIFICATE-----\nTUlUTUxBQg==\n-----END CERTIFICATE-----\n', der: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), sha256: 'AA:BB', spki: 'c3BraQ==' },
    proxyPorts: [8080],
    ...overrides,
  });
  return {
    hub,
    bus,
    blobs,
    token,
    dir,
    base: `http://127.0.0.1:${hub.port}`,
    close: async () => {
      await hub.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A WebSocket client that records every server message in order. */
export interface WireClient {
  ws: WebSocket;
  messages: ServerMessage[];
  /** Resolves when `predicate` holds for the messages received so far. */
  until(predicate: (messages: ServerMessage[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

export function connectWire(t: TestHub, query = '', headers: Record<string, string> = {}): Promise<WireClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${t.hub.port}/ws${query}`, { headers: { 'x-mitmlab-token': t.token, ...headers } });
  const messages: ServerMessage[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    messages.push(JSON.parse(data.toString()) as ServerMessage);
    for (const waiter of [...waiters]) waiter();
  });
  const until = (predicate: (m: ServerMessage[]) => boolean, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      if (predicate(messages)) return resolve();
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out; got ${messages.length} messages: ${messages.map((m) => m.type).slice(-10).join(',')}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate(messages)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
    });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, until, close: () => ws.close() }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** The highest sequence number a client has seen (snapshot or batch), checking that batches are gap-free. */
export function lastSeq(messages: ServerMessage[]): number {
  let seq = 0;
  for (const m of messages) {
    if (m.type === 'snapshot') seq = m.seq;
    else if (m.type === 'batch') {
      if (m.fromSeq !== seq + 1) throw new Error(`gap: expected batch from ${seq + 1}, got ${m.fromSeq}`);
      seq = m.fromSeq + m.events.length - 1;
    }
  }
  return seq;
}

/** A plausible request/response pair for flow `c<n>.1`. */
export function exchange(n: number, at = 1_700_000_000_000 + n): ProxyEvent[] {
  const conn = `c${n}`;
  const id = `${conn}.1`;
  return [
    {
      type: 'http-request',
      id,
      conn,
      method: 'GET',
      url: `https://site${n % 7}.lab.test/item/${n}`,
      httpVersion: '1.1',
      headers: [['host', `site${n % 7}.lab.test`]],
      body: null,
      client: { address: '127.0.0.1', port: 40000 + (n % 1000) },
      at,
    },
    {
      type: 'http-response',
      id,
      conn,
      status: 200,
      statusText: 'OK',
      httpVersion: '1.1',
      headers: [['content-type', 'text/plain']],
      body: null,
      timings: { startedAt: at, connect: -1, send: 0, wait: 1, receive: 0, total: 1 },
      synthetic: false,
      at: at + 1,
    },
  ];
}
