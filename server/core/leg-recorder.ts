// Records one TLS leg: feeds the raw bytes the tee sees into the pure transcript, and turns what it learns into
// events (hellos, alerts, the ladder, raw bytes for export). One per leg per TCP connection.

import type { EventBus } from '../events/bus.js';
import type { BlobSink } from '../events/blob-sink.js';
import type { ClientHello, Leg } from '../protocol/tls.js';
import { fingerprints } from '../tls/fingerprint.js';
import { parseClientHello } from '../tls/client-hello.js';
import { parseServerHello } from '../tls/server-hello.js';
import { TlsTranscript } from '../tls/transcript.js';
import type { TeeObserver } from './tee-socket.js';

export class LegRecorder implements TeeObserver {
  readonly transcript: TlsTranscript;
  readonly #started = performance.now();
  #helloSent = false;
  #serverHelloSent = false;
  #finished = false;

  constructor(
    private readonly bus: EventBus,
    private readonly blobs: BlobSink,
    readonly conn: string,
    readonly leg: Leg,
    budgetBytes: number,
  ) {
    this.transcript = new TlsTranscript({ budgetBytes });
  }

  onIn(chunk: Buffer): void {
    this.transcript.feed('in', chunk, performance.now() - this.#started);
  }

  onOut(chunk: Buffer): void {
    this.transcript.feed('out', chunk, performance.now() - this.#started);
  }

  /** The alert the peer sent, if any (the most precise failure signal). */
  peerAlert(): string | null {
    const alert = this.transcript.alerts.find((a) => a.direction === 'in');
    return alert ? alert.name : null;
  }

  /** Emits tls-client-hello for a hello already parsed (the client leg's, read while sniffing). */
  emitClientHello(hello: ClientHello, message: Buffer): void {
    if (this.#helloSent) return;
    this.#helloSent = true;
    this.bus.emit({
      type: 'tls-client-hello',
      conn: this.conn,
      leg: this.leg,
      hello,
      fingerprints: fingerprints(hello),
      raw: message.toString('base64'),
      at: Date.now(),
    });
  }

  /** Emits tls-client-hello / tls-server-hello once the transcript has them. Safe to call repeatedly. */
  emitHellos(): void {
    const now = Date.now();
    const clientHelloMessage = this.transcript.clientHelloMessage;
    if (!this.#helloSent && clientHelloMessage) {
      const parsed = parseClientHello(clientHelloMessage);
      if (parsed.kind === 'ok') this.emitClientHello(parsed.value, clientHelloMessage);
    }
    const serverHelloMessage = this.transcript.serverHelloMessage;
    if (!this.#serverHelloSent && serverHelloMessage) {
      const parsed = parseServerHello(serverHelloMessage);
      if (parsed.kind === 'ok') {
        this.#serverHelloSent = true;
        this.bus.emit({
          type: 'tls-server-hello',
          conn: this.conn,
          leg: this.leg,
          hello: parsed.value,
          raw: serverHelloMessage.toString('base64'),
          at: now,
        });
      }
    }
  }

  /** Key-exchange group chosen in the ServerHello, for the client leg (Node reports it only for clients). */
  serverHelloGroup(): number | null {
    const message = this.transcript.serverHelloMessage;
    if (!message) return null;
    const parsed = parseServerHello(message);
    return parsed.kind === 'ok' ? parsed.value.keyShareGroup : null;
  }

  /** Emits the ladder and stores the raw bytes; called once when the leg closes. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.emitHellos();
    const t = this.transcript;
    const rawIn = t.rawIn();
    const rawOut = t.rawOut();
    this.bus.emit({
      type: 'tls-transcript',
      conn: this.conn,
      leg: this.leg,
      steps: t.steps,
      rawIn: rawIn.length > 0 ? this.blobs.put(rawIn) : null,
      rawOut: rawOut.length > 0 ? this.blobs.put(rawOut) : null,
      truncated: t.truncated,
      appRecords: t.appRecords,
      appBytes: t.appBytes,
      at: Date.now(),
    });
  }
}
