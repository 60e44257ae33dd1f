// One live-view client's bounded send queue. The hub never lets a slow reader make it buffer without limit:
// messages wait here while the socket's own buffer (ws.bufferedAmount) is above a high-water mark, and when this
// queue passes its byte or message bound it is dropped whole, the client gets a `reset`, and it is sent a fresh
// snapshot once its socket has drained. A client that stops reading therefore costs at most
// highWaterBytes + maxQueueBytes + one message (plus the kernel's socket buffers). No I/O beyond the socket given.

import type { Reset, ResetReason } from '../protocol/wire.js';

/** The part of a WebSocket the queue needs (ws.WebSocket satisfies it). */
export interface QueueSocket {
  readonly bufferedAmount: number;
  send(data: string): void;
}

export interface QueueLimits {
  /** Messages are handed to the socket only while its buffer holds less than this. */
  highWaterBytes: number;
  /** Bytes waiting in the queue before the client counts as fallen behind. */
  maxQueueBytes: number;
  /** Messages waiting in the queue before the client counts as fallen behind. */
  maxQueueMessages: number;
}

export const DEFAULT_QUEUE_LIMITS: QueueLimits = {
  highWaterBytes: 1024 * 1024,
  maxQueueBytes: 8 * 1024 * 1024,
  maxQueueMessages: 512,
};

/**
 * - live: batches are queued as they come;
 * - paused: the client asked for no batches (its position is kept);
 * - resetting: the queue overflowed; a snapshot is due once the socket drains.
 */
export type ClientState = 'live' | 'paused' | 'resetting';

export class ClientQueue {
  state: ClientState = 'live';
  /** Sequence number of the last event queued for (or covered by a snapshot sent to) this client. */
  sentSeq = 0;
  resets = 0;
  #queue: string[] = [];
  #head = 0;
  #bytes = 0;
  /** Largest queue size seen, in bytes: for tests and diagnostics. */
  peakQueuedBytes = 0;

  constructor(
    readonly socket: QueueSocket,
    readonly limits: QueueLimits = DEFAULT_QUEUE_LIMITS,
  ) {}

  get queuedBytes(): number {
    return this.#bytes;
  }

  get queuedMessages(): number {
    return this.#queue.length - this.#head;
  }

  /** Queues a message covering events up to `toSeq` and sends what the socket can take. False when it overflowed. */
  enqueue(message: string, toSeq: number | null = null): boolean {
    this.#queue.push(message);
    this.#bytes += message.length;
    if (toSeq !== null) this.sentSeq = toSeq;
    this.peakQueuedBytes = Math.max(this.peakQueuedBytes, this.#bytes);
    if (this.#bytes > this.limits.maxQueueBytes || this.queuedMessages > this.limits.maxQueueMessages) {
      this.fallBehind('slow-consumer', 'The live view fell behind; reloading the current state.');
      return false;
    }
    this.pump();
    return true;
  }

  /** Hands queued messages to the socket while its buffer is below the high-water mark. */
  pump(): void {
    while (this.queuedMessages > 0 && this.socket.bufferedAmount < this.limits.highWaterBytes) {
      const message = this.#queue[this.#head]!;
      this.#queue[this.#head++] = '';
      this.#bytes -= message.length;
      this.socket.send(message);
    }
    if (this.queuedMessages === 0) {
      this.#queue = [];
      this.#head = 0;
    }
  }

  /** Drops the queue and tells the client to start over; the hub sends a snapshot when `readyForSnapshot`. */
  fallBehind(reason: ResetReason, message: string): void {
    this.#queue = [];
    this.#head = 0;
    this.#bytes = 0;
    this.state = 'resetting';
    this.resets++;
    const reset: Reset = { type: 'reset', reason, message };
    // The reset itself bypasses the queue: it is small, and it must not wait behind what it cancels.
    this.socket.send(JSON.stringify(reset));
  }

  /** True when a resetting client's socket has drained enough to take a snapshot. */
  get readyForSnapshot(): boolean {
    return this.state === 'resetting' && this.socket.bufferedAmount < this.limits.highWaterBytes;
  }
}
