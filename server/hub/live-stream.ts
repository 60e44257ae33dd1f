// The live stream: every bus event gets a sequence number and reaches every client in order, batched every
// `batchIntervalMs` (~50 ms) or every `batchMaxEvents`, through each client's bounded queue (client-queue.ts).
// A new client gets hello + snapshot; a reconnecting one resumes from its last sequence number while the ring
// still holds it. Access checks happen before a socket gets here (hub.ts).

import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EventBus } from '../events/bus.js';
import type { FlowSummary } from '../protocol/flows.js';
import {
  parseClientMessage,
  WIRE_VERSION,
  type CaInfo,
  type HubHello,
  type ResetReason,
  type Snapshot,
} from '../protocol/wire.js';
import { ClientQueue, DEFAULT_QUEUE_LIMITS, type QueueLimits } from './client-queue.js';
import { EventRing, type EventRingLimits, type Sequenced } from './event-ring.js';

export interface LiveStreamOptions {
  bus: EventBus;
  /** The flow rows as of now; must reflect every event the bus has delivered (a synchronous bus listener). */
  flows(): FlowSummary[];
  sessionId: string | null;
  proxyPorts: number[];
  ca: CaInfo;
  batchIntervalMs?: number;
  batchMaxEvents?: number;
  /** Newest rows sent in a snapshot; older ones stay in the store and the exports. */
  snapshotMaxFlows?: number;
  queue?: Partial<QueueLimits>;
  ring?: Partial<EventRingLimits>;
  /** A WebSocket message larger than this from a client closes it (clients only send tiny control messages). */
  maxClientMessageBytes?: number;
}

export interface ClientStats {
  state: ClientQueue['state'];
  sentSeq: number;
  queuedBytes: number;
  queuedMessages: number;
  peakQueuedBytes: number;
  bufferedAmount: number;
  resets: number;
}

export class LiveStream {
  readonly hubId = randomBytes(8).toString('hex');
  readonly ring: EventRing;
  readonly wss: WebSocketServer;
  readonly #options: LiveStreamOptions;
  readonly #clients = new Map<WebSocket, ClientQueue>();
  readonly #queueLimits: QueueLimits;
  readonly #batchMax: number;
  readonly #snapshotMax: number;
  /** Sequence number of the last event handed to clients. */
  #flushedSeq = 0;
  #timer: NodeJS.Timeout;
  #immediate: NodeJS.Immediate | null = null;
  readonly #unsubscribe: () => void;

  constructor(options: LiveStreamOptions) {
    this.#options = options;
    this.ring = new EventRing(options.ring);
    this.#queueLimits = { ...DEFAULT_QUEUE_LIMITS, ...options.queue };
    this.#batchMax = options.batchMaxEvents ?? 500;
    this.#snapshotMax = options.snapshotMaxFlows ?? 20_000;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxClientMessageBytes ?? 4096,
      // Batches are JSON and compress well, but per-message deflate costs CPU and memory per client (ws docs warn
      // about its memory fragmentation); loopback bandwidth is not the bottleneck.
      perMessageDeflate: false,
    });
    this.#unsubscribe = options.bus.subscribe((event) => {
      this.ring.push(event);
      if (this.ring.seq - this.#flushedSeq >= this.#batchMax && this.#immediate === null) {
        this.#immediate = setImmediate(() => {
          this.#immediate = null;
          this.#flush();
        });
      }
    });
    // One timer drives batching and draining; unref'd so a forgotten hub never keeps a process alive.
    this.#timer = setInterval(() => this.#tick(), options.batchIntervalMs ?? 50);
    this.#timer.unref();
  }

  /** Takes over an authenticated upgrade; `resume` comes from the URL's `hub`/`after` parameters. */
  accept(ws: WebSocket, resume: { hubId: string; lastSeq: number } | null): void {
    // Flush first, before this client is listed, so "already flushed" means the same for it as for everyone else.
    this.#flush();
    const client = new ClientQueue(ws, this.#queueLimits);
    this.#clients.set(ws, client);
    ws.on('close', () => this.#clients.delete(ws));
    ws.on('error', () => ws.terminate());
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const message = parseClientMessage(data.toString());
      if (message?.type === 'pause') {
        client.state = client.state === 'resetting' ? 'resetting' : 'paused';
      } else if (message?.type === 'resume') {
        if (client.state === 'resetting') return; // a snapshot is on its way anyway
        client.state = 'live';
        this.#catchUp(client, message.lastSeq);
      }
    });
    const canResume = resume !== null && resume.hubId === this.hubId && this.ring.since(resume.lastSeq) !== null;
    this.#send(ws, this.#hello(canResume));
    if (canResume) {
      this.#catchUp(client, resume.lastSeq);
    } else {
      this.#sendSnapshot(client);
    }
  }

  /** Per-client queue figures, for tests and diagnostics. */
  stats(): { seq: number; ring: EventRing['ringStats']; clients: ClientStats[] } {
    return {
      seq: this.ring.seq,
      ring: this.ring.ringStats,
      clients: [...this.#clients.values()].map((c) => ({
        state: c.state,
        sentSeq: c.sentSeq,
        queuedBytes: c.queuedBytes,
        queuedMessages: c.queuedMessages,
        peakQueuedBytes: c.peakQueuedBytes,
        bufferedAmount: c.socket.bufferedAmount,
        resets: c.resets,
      })),
    };
  }

  /** Stops listening to the bus and closes every client (1001 going away). */
  close(): void {
    this.#unsubscribe();
    clearInterval(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    for (const ws of this.#clients.keys()) ws.close(1001, 'mitmlab is stopping');
    this.#clients.clear();
    this.wss.close();
  }

  #tick(): void {
    this.#flush();
    for (const client of this.#clients.values()) {
      if (client.readyForSnapshot) this.#sendSnapshot(client);
      else client.pump();
    }
  }

  /** Hands the events since the last flush to every live client: shared strings for clients that are in step. */
  #flush(): void {
    const from = this.#flushedSeq;
    const to = this.ring.seq;
    if (to === from) return;
    this.#flushedSeq = to;
    const fresh = this.ring.since(from);
    let shared: Array<{ message: string; toSeq: number }> | null = null;
    for (const client of this.#clients.values()) {
      if (client.state !== 'live' || client.sentSeq >= to) continue;
      if (client.sentSeq === from && fresh !== null) {
        shared ??= batches(fresh, this.#batchMax);
        for (const batch of shared) if (!client.enqueue(batch.message, batch.toSeq)) break;
      } else {
        this.#catchUp(client, client.sentSeq);
      }
    }
  }

  /** Queues every event after `lastSeq` that has been flushed; a gap means reset + snapshot. */
  #catchUp(client: ClientQueue, lastSeq: number): void {
    const events = this.ring.since(lastSeq);
    if (events === null) {
      this.#reset(client, 'resume-gap', 'The live view missed events it can no longer get; reloading the current state.');
      return;
    }
    client.sentSeq = lastSeq;
    const flushed = events.filter((entry) => entry.seq <= this.#flushedSeq);
    for (const batch of batches(flushed, this.#batchMax)) if (!client.enqueue(batch.message, batch.toSeq)) return;
  }

  #reset(client: ClientQueue, reason: ResetReason, message: string): void {
    client.fallBehind(reason, message);
    if (client.readyForSnapshot) this.#sendSnapshot(client);
  }

  #sendSnapshot(client: ClientQueue): void {
    // The snapshot covers every event the bus delivered (flows() is a synchronous listener's state), so it is
    // exact at ring.seq, including events not flushed yet; the client continues after it.
    const all = this.#options.flows();
    const snapshot: Snapshot = {
      type: 'snapshot',
      seq: this.ring.seq,
      flows: all.length > this.#snapshotMax ? all.slice(all.length - this.#snapshotMax) : all,
      log: this.ring.log(),
      secrets: this.ring.secrets(),
    };
    client.state = 'live';
    client.sentSeq = snapshot.seq;
    // Later events reach this client with the next flush, like everyone else.
    this.#send(client.socket as WebSocket, JSON.stringify(snapshot));
  }

  #hello(resumed: boolean): string {
    const hello: HubHello = {
      type: 'hello',
      version: WIRE_VERSION,
      hubId: this.hubId,
      sessionId: this.#options.sessionId,
      seq: this.ring.seq,
      resumed,
      proxyPorts: this.#options.proxyPorts,
      ca: this.#options.ca,
    };
    return JSON.stringify(hello);
  }

  #send(ws: WebSocket, message: string): void {
    if (ws.readyState === ws.OPEN) ws.send(message);
  }
}

/** Consecutive events as batch messages of at most `max` events each. */
function batches(events: Sequenced[], max: number): Array<{ message: string; toSeq: number }> {
  const out: Array<{ message: string; toSeq: number }> = [];
  for (let i = 0; i < events.length; i += max) {
    const chunk = events.slice(i, i + max);
    const fromSeq = chunk[0]!.seq;
    out.push({
      message: `{"type":"batch","fromSeq":${fromSeq},"events":[${chunk.map((e) => e.json).join(',')}]}`,
      toSeq: chunk[chunk.length - 1]!.seq,
    });
  }
  return out;
}
