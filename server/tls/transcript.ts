// A pure, incremental tracker of one TLS leg: the adapter feeds it the raw bytes of both directions as they pass,
// and it reframes records across chunk boundaries, names each handshake step for the ladder diagram, decodes the
// hellos and plaintext alerts, keeps the raw bytes an export needs, and only counts records once the handshake is
// over (so a long download costs a few header reads per 16 KiB, nothing more). Never throws.
//
// What can be seen without keys (and the approximations this makes):
// - TLS 1.2 (RFC 5246 §7.4): everything up to each side's ChangeCipherSpec is plaintext; the next handshake record
//   from that side is its (encrypted) Finished. The handshake is done when both Finished records were seen.
// - TLS 1.3 (RFC 8446 §2, §5): everything after the ServerHello is encrypted and sent as application_data records.
//   Server records before the client's Finished are labelled "Encrypted handshake" (EncryptedExtensions,
//   Certificate, CertificateVerify, Finished). The client's first encrypted record is labelled "Finished" and ends
//   the handshake; with client certificates that record is really the client's Certificate (approximation). A
//   19-byte first record (2-byte alert + content type + 16-byte AEAD tag) is labelled "Alert (encrypted)": a peer
//   that protects its alert. (Observed on loopback: OpenSSL's TLS 1.3 client sends its unknown_ca refusal as a
//   plaintext 2-byte alert, decoded below; Chromium 156 sends its refusal encrypted — certificate_unknown, which
//   only OpenSSL's error code reveals — and some builds just close, which leg-recorder.ts classifies.)
//   NewSessionTicket after the handshake counts as application data.
// - ChangeCipherSpec in TLS 1.3 is the middlebox-compatibility record (RFC 8446 §D.4) and changes nothing.
//
// Raw bytes: every record is kept while the leg's kept bytes stay within `budgetBytes`; records of the handshake
// phase (up to the first application data record in each direction after the handshake) are kept up to
// `handshakeCapBytes` even past the budget, so an export can always decrypt the handshake. Once a record is refused
// its direction keeps nothing more (each direction's raw stream stays a prefix of whole records), and `truncated`
// is set.

import type { ClientHello, HandshakeStep, ServerHello } from '../protocol/tls.js';
import { parseClientHello } from './client-hello.js';
import { HandshakeType, parseAlert, readHandshakeMessage } from './handshake-messages.js';
import { handshakeTypeName } from './iana.js';
import { ContentType, MAX_FRAGMENT_LENGTH, RECORD_HEADER_LENGTH, isKnownContentType } from './records.js';
import { parseServerHello } from './server-hello.js';

export type Direction = 'in' | 'out';

/** An alert seen on the wire in plaintext. */
export interface TranscriptAlert {
  direction: Direction;
  level: 'warning' | 'fatal';
  description: number;
  name: string;
}

export interface TranscriptOptions {
  /** Raw bytes (both directions together) kept for export; records past it are only counted. */
  budgetBytes: number;
  /** Ceiling for the handshake phase's raw bytes, which are kept even past the budget (default 256 KiB). */
  handshakeCapBytes?: number;
  /** Steps kept for the ladder (default 256); later records are still counted. */
  maxSteps?: number;
}

/** Alerts kept (a peer may send warnings forever; the first ones are the ones that explain a failure). */
const MAX_ALERTS = 64;

/** A handshake message larger than this cannot be reassembled (real certificate chains are < 64 KiB). */
const MAX_HANDSHAKE_BUFFER = 256 * 1024;
/** RFC 8446 §5.2: a 2-byte alert + 1 content-type byte + a 16-byte AEAD tag (AES-GCM, ChaCha20-Poly1305, AES-CCM). */
const ENCRYPTED_ALERT_LENGTH = 19;
const TLS13 = 0x0304;

interface CurrentRecord {
  type: number;
  version: number;
  length: number;
  remaining: number;
  /** Fragment pieces, when this record's content is needed (plaintext handshake, alert, CCS). */
  parts: Buffer[] | null;
  keep: boolean;
}

class DirectionState {
  readonly header = Buffer.alloc(RECORD_HEADER_LENGTH);
  headerFill = 0;
  record: CurrentRecord | null = null;
  /** Plaintext handshake bytes not yet framed into whole messages. */
  handshake: Buffer = Buffer.alloc(0);
  handshakeOverflow = false;
  role: 'client' | 'server' | null = null;
  /** Records from this side are encrypted from here on. */
  encrypted = false;
  /** TLS 1.2: this side sent ChangeCipherSpec, so its next handshake record is Finished. */
  changedCipherSpec = false;
  finished = false;
  sawAppData = false;
  /** Not a TLS record stream (or a framing error): no more parsing, bytes are only kept/counted. */
  broken = false;
  keeping = true;
  readonly raw: Buffer[] = [];

  constructor(readonly direction: Direction) {}
}

/** Incremental handshake tracker for one TLS leg (one TCP connection). */
export class TlsTranscript {
  readonly #budget: number;
  readonly #handshakeCap: number;
  readonly #maxSteps: number;
  readonly #in = new DirectionState('in');
  readonly #out = new DirectionState('out');
  readonly #steps: HandshakeStep[] = [];
  /** The order the kept records came in, as runs: +n is n records 'in', -n is n records 'out'. */
  readonly #order: number[] = [];
  readonly #alerts: TranscriptAlert[] = [];
  #kept = 0;
  #truncated = false;
  #appRecords = 0;
  #appBytes = 0;
  #handshakeDone = false;
  #phaseOver = false;
  #version: number | null = null;
  /** A HelloRetryRequest selected TLS 1.3: the client's CCS before its second ClientHello is the compat no-op. */
  #retryTls13 = false;
  #serverHelloSeen = false;
  #clientHello: ClientHello | undefined;
  #clientHelloMessage: Buffer | undefined;
  #serverHello: ServerHello | undefined;
  #serverHelloMessage: Buffer | undefined;

  constructor(opts: TranscriptOptions) {
    this.#budget = Math.max(0, opts.budgetBytes);
    this.#handshakeCap = Math.max(this.#budget, opts.handshakeCapBytes ?? 256 * 1024);
    this.#maxSteps = opts.maxSteps ?? 256;
  }

  /**
   * The order the kept records arrived in, both directions: runs, +n for n records 'in', -n for n 'out'. Each
   * direction's bytes are kept apart, so this is what puts a response after its request again (pcapng export).
   * Empty when a direction stopped framing as TLS (its loose bytes are not records).
   */
  get order(): number[] {
    return this.#in.broken || this.#out.broken ? [] : this.#order;
  }

  /** Ladder steps in the order they were seen. */
  get steps(): HandshakeStep[] {
    return this.#steps;
  }
  /** Plaintext alerts, both directions (the first 64). */
  get alerts(): TranscriptAlert[] {
    return this.#alerts;
  }
  /** The first ClientHello, decoded (with the version of the record that carried it). */
  get clientHello(): ClientHello | undefined {
    return this.#clientHello;
  }
  /** The first ClientHello's handshake message (header included). */
  get clientHelloMessage(): Buffer | undefined {
    return this.#clientHelloMessage;
  }
  /** The latest ServerHello (a HelloRetryRequest until the real ServerHello arrives), decoded. */
  get serverHello(): ServerHello | undefined {
    return this.#serverHello;
  }
  /** The latest ServerHello's handshake message (header included). */
  get serverHelloMessage(): Buffer | undefined {
    return this.#serverHelloMessage;
  }
  /** Version the ServerHello selected (supported_versions, else legacy_version), once seen. */
  get negotiatedVersion(): number | null {
    return this.#version;
  }
  /** Some raw bytes were not kept (budget reached). */
  get truncated(): boolean {
    return this.#truncated;
  }
  /** Application data records after the handshake, both directions. */
  get appRecords(): number {
    return this.#appRecords;
  }
  /** Fragment bytes of those records. */
  get appBytes(): number {
    return this.#appBytes;
  }
  /** Both sides' Finished were seen (TLS 1.3: approximated by the client's first encrypted record). */
  /** The bytes arriving ('in') stopped framing as TLS records: the peer sent something that is not TLS. */
  get brokenIn(): boolean {
    return this.#in.broken;
  }

  get handshakeDone(): boolean {
    return this.#handshakeDone;
  }

  /** Raw bytes kept from the 'in' direction (towards mitmlab). */
  rawIn(): Buffer {
    return Buffer.concat(this.#in.raw);
  }

  /** Raw bytes kept from the 'out' direction (from mitmlab). */
  rawOut(): Buffer {
    return Buffer.concat(this.#out.raw);
  }

  /** Feeds bytes seen in one direction; `atMs` is the time since the leg's TCP connection started. */
  feed(direction: Direction, chunk: Buffer, atMs: number): void {
    const d = direction === 'in' ? this.#in : this.#out;
    try {
      this.#feed(d, chunk, atMs);
    } catch (error) {
      // Unreachable by construction; a bug must not take the proxy down with it.
      if (!d.broken) this.#breakStream(d, `Internal error: ${(error as Error).message}`, 0, atMs);
    }
  }

  #feed(d: DirectionState, chunk: Buffer, atMs: number): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (d.broken) {
        this.#keepLoose(d, chunk.subarray(pos));
        return;
      }
      const rec = d.record;
      if (rec === null) {
        const take = Math.min(RECORD_HEADER_LENGTH - d.headerFill, chunk.length - pos);
        chunk.copy(d.header, d.headerFill, pos, pos + take);
        d.headerFill += take;
        pos += take;
        if (!isKnownContentType(d.header[0]!) || (d.headerFill >= 2 && d.header[1] !== 3)) {
          this.#breakStream(d, 'Not TLS', d.headerFill, atMs);
          this.#keepLoose(d, Buffer.from(d.header.subarray(0, d.headerFill)));
          continue;
        }
        if (d.headerFill < RECORD_HEADER_LENGTH) return;
        d.headerFill = 0;
        const length = d.header.readUInt16BE(3);
        if (length > MAX_FRAGMENT_LENGTH) {
          this.#breakStream(d, 'Invalid record (too long)', RECORD_HEADER_LENGTH, atMs);
          this.#keepLoose(d, Buffer.from(d.header));
          continue;
        }
        const type = d.header[0]!;
        const next: CurrentRecord = {
          type,
          version: d.header.readUInt16BE(1),
          length,
          remaining: length,
          parts: this.#wantsContent(d, type, length) ? [] : null,
          keep: this.#decideKeep(d, RECORD_HEADER_LENGTH + length),
        };
        if (next.keep) {
          this.#keep(d, Buffer.from(d.header));
          this.#noteOrder(d.direction);
        }
        d.record = next;
        if (length === 0) this.#endRecord(d, next, atMs);
        continue;
      }
      const take = Math.min(rec.remaining, chunk.length - pos);
      const piece = chunk.subarray(pos, pos + take);
      pos += take;
      rec.remaining -= take;
      if (rec.parts) rec.parts.push(Buffer.from(piece));
      if (rec.keep) this.#keep(d, Buffer.from(piece));
      if (rec.remaining === 0) this.#endRecord(d, rec, atMs);
    }
  }

  /** Whether a record's content must be collected: only plaintext handshake, alerts and CCS, only while they matter. */
  #wantsContent(d: DirectionState, type: number, length: number): boolean {
    switch (type) {
      case ContentType.handshake:
        return !d.encrypted && !d.handshakeOverflow;
      case ContentType.alert:
        return length <= 64;
      case ContentType.changeCipherSpec:
        return length <= 8;
      default:
        return false;
    }
  }

  #decideKeep(d: DirectionState, bytes: number): boolean {
    if (!d.keeping) return false;
    const limit = this.#phaseOver ? this.#budget : this.#handshakeCap;
    if (this.#kept + bytes <= limit) return true;
    d.keeping = false;
    this.#truncated = true;
    return false;
  }

  #noteOrder(direction: Direction): void {
    const sign = direction === 'in' ? 1 : -1;
    const last = this.#order.length - 1;
    if (last >= 0 && Math.sign(this.#order[last]!) === sign) this.#order[last]! += sign;
    else this.#order.push(sign);
  }

  #keep(d: DirectionState, bytes: Buffer): void {
    d.raw.push(bytes);
    this.#kept += bytes.length;
  }

  /** Keeps unframed bytes (a broken stream) within the budget. */
  #keepLoose(d: DirectionState, bytes: Buffer): void {
    if (!d.keeping || bytes.length === 0) return;
    const room = Math.max(0, this.#budget - this.#kept);
    if (bytes.length > room) {
      d.keeping = false;
      this.#truncated = true;
      if (room > 0) this.#keep(d, Buffer.from(bytes.subarray(0, room)));
      return;
    }
    this.#keep(d, Buffer.from(bytes));
  }

  #breakStream(d: DirectionState, label: string, length: number, atMs: number): void {
    d.broken = true;
    d.record = null;
    this.#step(d, label, length, atMs);
  }

  #step(d: DirectionState, label: string, length: number, atMs: number): void {
    if (this.#steps.length < this.#maxSteps) this.#steps.push({ direction: d.direction, label, length, atMs });
  }

  #other(d: DirectionState): DirectionState {
    return d === this.#in ? this.#out : this.#in;
  }

  #endRecord(d: DirectionState, rec: CurrentRecord, atMs: number): void {
    d.record = null;
    const fragment = rec.parts ? (rec.parts.length === 1 ? rec.parts[0]! : Buffer.concat(rec.parts)) : null;
    switch (rec.type) {
      case ContentType.handshake:
        this.#handshakeRecord(d, rec, fragment, atMs);
        return;
      case ContentType.changeCipherSpec:
        this.#step(d, 'ChangeCipherSpec', rec.length, atMs);
        // RFC 8446 §D.4: in TLS 1.3 this is a compatibility no-op; in TLS 1.2 the sender's next records are encrypted.
        if (!this.#isTls13()) {
          d.encrypted = true;
          d.changedCipherSpec = true;
        }
        return;
      case ContentType.alert: {
        // A 2-byte alert record is plaintext whatever the state: any protected record is longer (MAC or AEAD tag).
        // OpenSSL's TLS 1.3 client sends its certificate refusal this way, before switching its write keys.
        const parsed = fragment?.length === 2 ? parseAlert(fragment) : null;
        if (parsed?.kind === 'ok') {
          const { level, description, name } = parsed.value;
          if (this.#alerts.length < MAX_ALERTS) this.#alerts.push({ direction: d.direction, level, description, name });
          this.#step(d, `Alert: ${name}`, rec.length, atMs);
        } else {
          this.#step(d, 'Alert (encrypted)', rec.length, atMs);
        }
        return;
      }
      case ContentType.applicationData:
        this.#applicationRecord(d, rec.length, atMs);
        return;
      default:
        this.#step(d, 'Heartbeat', rec.length, atMs);
    }
  }

  #isTls13(): boolean {
    return this.#version === TLS13 || (this.#version === null && this.#retryTls13);
  }

  /** The handshake phase (kept past the budget) ends with the first application data each way after it. */
  #checkPhase(): void {
    if (!this.#phaseOver && this.#handshakeDone && this.#in.sawAppData && this.#out.sawAppData) this.#phaseOver = true;
  }

  #handshakeRecord(d: DirectionState, rec: CurrentRecord, fragment: Buffer | null, atMs: number): void {
    if (d.encrypted) {
      // TLS 1.2: the first handshake record after this side's ChangeCipherSpec is its Finished (RFC 5246 §7.4.9).
      if (d.changedCipherSpec && !d.finished) {
        d.finished = true;
        this.#step(d, 'Finished', rec.length, atMs);
        if (this.#in.finished && this.#out.finished) {
          this.#handshakeDone = true;
          this.#checkPhase();
        }
      } else {
        this.#step(d, 'Encrypted handshake', rec.length, atMs);
      }
      return;
    }
    if (fragment === null) {
      this.#step(d, 'Handshake', rec.length, atMs);
      return;
    }
    d.handshake = d.handshake.length === 0 ? fragment : Buffer.concat([d.handshake, fragment]);
    let offset = 0;
    for (;;) {
      const msg = readHandshakeMessage(d.handshake, offset);
      if (msg.kind !== 'ok') break;
      offset += msg.length;
      this.#handshakeMessage(d, msg.value.type, msg.value.message, rec.version, atMs);
      // A ServerHello that switches this side to encryption ends its plaintext (TLS 1.3).
      if (d.encrypted) {
        offset = d.handshake.length;
        break;
      }
    }
    d.handshake = offset === 0 ? d.handshake : d.handshake.subarray(offset);
    if (d.handshake.length > MAX_HANDSHAKE_BUFFER) {
      d.handshakeOverflow = true;
      d.handshake = Buffer.alloc(0);
      this.#step(d, 'Handshake message too large', rec.length, atMs);
    }
  }

  #handshakeMessage(d: DirectionState, type: number, message: Buffer, recordVersion: number, atMs: number): void {
    const other = this.#other(d);
    if (type === HandshakeType.clientHello) {
      d.role = 'client';
      other.role = 'server';
      if (this.#clientHelloMessage === undefined) {
        const copy = Buffer.from(message);
        const parsed = parseClientHello(copy, recordVersion);
        this.#clientHelloMessage = copy;
        if (parsed.kind === 'ok') this.#clientHello = parsed.value;
      }
      this.#step(d, 'ClientHello', message.length, atMs);
      return;
    }
    if (type === HandshakeType.serverHello) {
      d.role = 'server';
      other.role = 'client';
      const copy = Buffer.from(message);
      const parsed = parseServerHello(copy);
      this.#serverHelloMessage = copy;
      const hello = parsed.kind === 'ok' ? parsed.value : undefined;
      if (hello) this.#serverHello = hello;
      if (hello?.helloRetryRequest) {
        if (hello.selectedVersion === TLS13) this.#retryTls13 = true;
        this.#step(d, 'HelloRetryRequest', message.length, atMs);
        return;
      }
      this.#serverHelloSeen = true;
      this.#step(d, 'ServerHello', message.length, atMs);
      if (hello) this.#version = hello.selectedVersion;
      // RFC 8446 §2: after a TLS 1.3 ServerHello every handshake message, both ways, is encrypted.
      if (this.#isTls13()) {
        d.encrypted = true;
        other.encrypted = true;
      }
      return;
    }
    this.#step(d, handshakeTypeName(type), message.length, atMs);
  }

  #applicationRecord(d: DirectionState, length: number, atMs: number): void {
    if (this.#isTls13() && !this.#handshakeDone) {
      if (d.role === 'client') {
        if (length === ENCRYPTED_ALERT_LENGTH) {
          this.#step(d, 'Alert (encrypted)', length, atMs);
          return;
        }
        d.finished = true;
        this.#handshakeDone = true;
        this.#step(d, 'Finished', length, atMs);
        return;
      }
      this.#step(d, 'Encrypted handshake', length, atMs);
      return;
    }
    this.#appRecords++;
    this.#appBytes += length;
    // Before any ServerHello, a client's application_data is 0-RTT early data (RFC 8446 §2.3).
    if (!this.#serverHelloSeen && d.role === 'client') {
      this.#step(d, 'Early data', length, atMs);
      return;
    }
    if (!d.sawAppData) {
      d.sawAppData = true;
      this.#step(d, 'Application data', length, atMs);
      this.#checkPhase();
    }
  }
}
