// Records one TLS leg: feeds the raw bytes the tee sees into the pure transcript, and turns what it learns into
// events (hellos, alerts, the ladder, raw bytes for export). One per leg per TCP connection.

import type { EventBus } from '../events/bus.js';
import type { BlobSink } from '../events/blob-sink.js';
import type { ClientHello, Leg } from '../protocol/tls.js';
import { fingerprints } from '../tls/fingerprint.js';
import { TlsTranscript } from '../tls/transcript.js';
import type { TeeObserver } from './tee-socket.js';
import type { Unfinished } from './unfinished.js';

export class LegRecorder implements TeeObserver {
  transcript: TlsTranscript;
  #helloSent = false;
  #serverHelloSent = false;
  #finished = false;

  constructor(
    private readonly bus: EventBus,
    private readonly blobs: BlobSink,
    readonly conn: string,
    readonly leg: Leg,
    budgetBytes: number,
    /**
     * When the leg's TCP connection started (performance.now()): the browser's accept, or the start of mitmlab's
     * connect to the origin. Ladder times count from it, as the live view draws them.
     */
    private readonly started: number = performance.now(),
    /** A stop waits for this leg's transcript (emitted when the leg closes). */
    unfinished?: Unfinished,
  ) {
    this.transcript = new TlsTranscript({ budgetBytes });
    this.#done = unfinished?.begin() ?? null;
  }

  #done: (() => void) | null;

  /** Told about each alert the peer sends in the clear (a fatal one ends the session). */
  onPeerAlert: ((alert: { level: string; name: string }) => void) | null = null;

  onIn(chunk: Buffer): void {
    const before = this.transcript.alerts.length;
    this.transcript.feed('in', chunk, performance.now() - this.started);
    const alerts = this.transcript.alerts;
    if (alerts.length > before && this.onPeerAlert) {
      for (let i = before; i < alerts.length; i++) if (alerts[i]!.direction === 'in') this.onPeerAlert(alerts[i]!);
    }
  }

  onOut(chunk: Buffer): void {
    this.transcript.feed('out', chunk, performance.now() - this.started);
  }

  /** What the transcript knows about a failed handshake, for its classification (server/tls/failures.ts). */
  failureFacts(): { peerAlert: string | null; sentAlert: string | null; notTls: boolean; clientCertRequested: boolean } {
    const sent = this.transcript.alerts.find((a) => a.direction === 'out');
    return {
      peerAlert: this.peerAlert(),
      sentAlert: sent ? sent.name : null,
      notTls: this.transcript.brokenIn,
      clientCertRequested: this.transcript.steps.some((step) => step.direction === 'in' && step.label === 'CertificateRequest'),
    };
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
    // The transcript parsed both hellos with their record headers (record version included).
    const clientHelloMessage = this.transcript.clientHelloMessage;
    const clientHello = this.transcript.clientHello;
    if (!this.#helloSent && clientHelloMessage && clientHello) this.emitClientHello(clientHello, clientHelloMessage);
    const serverHelloMessage = this.transcript.serverHelloMessage;
    const serverHello = this.transcript.serverHello;
    if (!this.#serverHelloSent && serverHelloMessage && serverHello) {
      this.#serverHelloSent = true;
      this.bus.emit({
        type: 'tls-server-hello',
        conn: this.conn,
        leg: this.leg,
        hello: serverHello,
        raw: serverHelloMessage.toString('base64'),
        at: now,
      });
    }
  }

  /**
   * A TLS 1.3 client that closes after our server flight without an alert and without its Finished: that is how
   * Chromium refuses a certificate it does not trust (seen on loopback; OpenSSL-based clients send unknown_ca).
   */
  silentlyRejected(): boolean {
    const t = this.transcript;
    return t.negotiatedVersion === 0x0304 && !t.handshakeDone && t.alerts.length === 0 && t.serverHelloMessage !== undefined;
  }

  /** Key-exchange group chosen in the ServerHello, for the client leg (Node reports it only for clients). */
  serverHelloGroup(): number | null {
    return this.transcript.serverHello?.keyShareGroup ?? null;
  }

  /**
   * Lets go of the bytes kept (up to the capture budget) once they are on record, for a leg whose connection lives on
   * unrecorded (an origin connection kept in the pool: origin-pool.ts). Call after finish(), and only when nothing
   * will be fed any more.
   */
  release(): void {
    if (this.#finished) this.transcript = new TlsTranscript({ budgetBytes: 0 });
  }

  /** Emits the ladder and stores the raw bytes; called once when the leg closes. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#done?.();
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
      order: t.order,
      at: Date.now(),
    });
  }
}
