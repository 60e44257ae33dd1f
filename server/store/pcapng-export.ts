// pcapng export: both legs of every intercepted connection as synthetic TCP streams carrying the real TLS bytes,
// each preceded by a Decryption Secrets Block with that leg's key log lines, so Wireshark and tshark decrypt the
// file with no settings. Streams connection by connection (bounded memory).
//
// Addresses: the client leg keeps the browser's real address and port, facing mitmlab at 192.0.2.1 (IPv4) or
// 2001:db8::1 (IPv6); the upstream leg goes from mitmlab at 192.0.2.2 / 2001:db8::2 to the origin's IP literal, or
// to a stand-in from 198.51.100.0/24 and 203.0.113.0/24 when the origin was named by host (the resolved address is
// not recorded). All stand-ins are documentation ranges (RFC 5737, RFC 3849), so they never collide with real ones.

import type { Writable } from 'node:stream';
import type { ConnId, Endpoint, ProxyEvent } from '../protocol/events.js';
import type { Leg } from '../protocol/tls.js';
import { writeOut, type Inclusion } from './export-io.js';
import {
  decryptionSecretsBlock,
  enhancedPacketBlock,
  interfaceDescriptionBlock,
  LINKTYPE_ETHERNET,
  sectionHeaderBlock,
} from './pcapng-blocks.js';
import type { LoadedSession } from './sessions.js';
import type { ReadLogOptions } from './session-reader.js';
import { normalizeAddress, TcpStreamSynth, type SynthPacket } from './tcp-synth.js';
import { interleaveTls, type LadderStep } from './tls-interleave.js';

/** One leg ready to be written: endpoints resolved, bytes read back. */
export interface LegCapture {
  conn: ConnId;
  leg: Leg;
  /** The TLS client of this leg (the browser, or mitmlab towards the origin). */
  client: { address: string; port: number };
  server: { address: string; port: number };
  /** Bytes the TLS client sent, and bytes the TLS server sent. */
  clientBytes: Buffer;
  serverBytes: Buffer;
  keylog: readonly string[];
  startMicros: number;
  endMicros: number;
  /** Seeds the TCP sequence numbers. */
  isn: number;
  /** Said on the first packet (Wireshark shows it as the frame comment). */
  comment: string;
  /** The capture budget cut the bytes short. */
  truncated: boolean;
  /** The transcript's ladder, as an ordering and timing hint (may be empty). */
  ladder: readonly LadderStep[];
  /** The records' arrival order as runs, +n from the TLS client and -n from the server (empty when unknown). */
  order: readonly number[];
}

const MAC = {
  client: Buffer.from('020000000001', 'hex'),
  mitmlabFront: Buffer.from('020000000002', 'hex'),
  mitmlabBack: Buffer.from('020000000003', 'hex'),
  origin: Buffer.from('020000000004', 'hex'),
};

/** The pcapng blocks of one leg: its secrets, then its packets. Pure. */
export function legBlocks(capture: LegCapture): Buffer[] {
  const blocks: Buffer[] = [];
  if (capture.keylog.length > 0) blocks.push(decryptionSecretsBlock(capture.keylog));
  const upstream = capture.leg === 'upstream';
  const synth = new TcpStreamSynth(
    { ...capture.client, mac: upstream ? MAC.mitmlabBack : MAC.client },
    { ...capture.server, mac: upstream ? MAC.origin : MAC.mitmlabFront },
    capture.isn,
  );
  const chunks = interleaveTls(capture.clientBytes, capture.serverBytes, capture.ladder, capture.order);
  const start = capture.startMicros;
  const span = Math.max(0, capture.endMicros - start);
  // The ladder's times where it placed a record, else spread over the leg's lifetime; always 1 µs or more apart.
  const slot = (i: number) => start + Math.floor((span * (i + 1)) / (chunks.length + 2));
  const packets: SynthPacket[] = [...synth.open(start)];
  let last = start + 2;
  chunks.forEach((chunk, i) => {
    const at = chunk.atMs !== undefined ? start + Math.round(chunk.atMs * 1000) : slot(i);
    for (const packet of synth.send(chunk.fromClient, chunk.bytes, Math.max(at, last + 1))) {
      packets.push(packet);
      last = packet.timeMicros;
    }
  });
  packets.push(...synth.close(Math.max(start + span, last + 1)));
  packets.forEach((packet, i) => {
    let comment: string | undefined;
    if (i === 0) comment = capture.comment;
    if (i === packets.length - 3 && capture.truncated) comment = 'mitmlab: the capture budget (--tls-capture) was reached; later TLS records of this leg were not kept.';
    blocks.push(enhancedPacketBlock(0, packet.timeMicros, packet.frame, comment));
  });
  return blocks;
}

export interface PcapngExportOptions extends Pick<ReadLogOptions, 'onWarning' | 'onProgress'> {
  include?: Inclusion;
}

interface ConnState {
  n: number;
  client: Endpoint | null;
  openedAt: number | null;
  host: string | null;
  port: number | null;
  keylog: { client: string[]; upstream: string[] };
  helloAt: { client: number | null; upstream: number | null };
  /** When mitmlab began to connect to the origin (tls-established: at - handshakeMs - connectMs), the leg's start. */
  upstreamStartedAt: number | null;
  legsDone: number;
  closed: boolean;
}

const MAX_CONNS = 100_000;

/** Writes the session as pcapng; resolves with the number of legs written. */
export async function writePcapng(session: LoadedSession, out: Writable, options: PcapngExportOptions = {}): Promise<number> {
  await writeOut(out, sectionHeaderBlock({ application: 'mitmlab', comment: `mitmlab session ${session.id}: synthetic TCP framing around the real TLS bytes of both legs` }));
  await writeOut(out, interfaceDescriptionBlock(LINKTYPE_ETHERNET, { name: 'mitmlab' }));
  const conns = new Map<ConnId, ConnState>();
  const origins = new OriginAddresses();
  let counter = 0;
  let legs = 0;
  const stateOf = (conn: ConnId): ConnState => {
    let state = conns.get(conn);
    if (!state) {
      state = {
        n: ++counter,
        client: null,
        openedAt: null,
        host: null,
        port: null,
        keylog: { client: [], upstream: [] },
        helloAt: { client: null, upstream: null },
        upstreamStartedAt: null,
        legsDone: 0,
        closed: false,
      };
      conns.set(conn, state);
      if (conns.size > MAX_CONNS) conns.delete(conns.keys().next().value as ConnId);
    }
    return state;
  };
  const types = new Set<ProxyEvent['type']>(['connection-open', 'connection-close', 'connect', 'tls-client-hello', 'tls-established', 'tls-keylog', 'tls-transcript', 'http-request']);
  const reader = await session.open({ onWarning: options.onWarning, onProgress: options.onProgress, types });
  for await (const event of reader.events) {
    if ('conn' in event && typeof event.conn === 'string' && options.include && !options.include.conn(event.conn)) continue;
    // Only the types read above (`types`): the packets are built from connections, handshakes and key log lines.
    switch (event.type) {
      case 'connection-open': {
        const state = stateOf(event.conn);
        state.client = event.client;
        state.openedAt = event.at;
        break;
      }
      case 'connect': {
        const state = stateOf(event.conn);
        state.host = event.host;
        state.port = event.port;
        break;
      }
      case 'http-request': {
        // Transparent mode has no CONNECT: the request names the origin.
        const state = stateOf(event.conn);
        if (state.host === null) {
          try {
            const url = new URL(event.url);
            state.host = url.hostname.replace(/^\[|\]$/g, '');
            state.port = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
          } catch {
            // keep unknown
          }
        }
        break;
      }
      case 'tls-client-hello': {
        const state = stateOf(event.conn);
        state.helloAt[event.leg] ??= event.at;
        if (state.host === null && event.hello.serverName) state.host = event.hello.serverName;
        break;
      }
      case 'tls-established':
        // The same clock as the live view's ladder; the upstream hello event itself is sent after the handshake.
        if (event.leg === 'upstream') stateOf(event.conn).upstreamStartedAt ??= event.at - event.handshakeMs - (event.connectMs ?? 0);
        break;
      case 'tls-keylog':
        stateOf(event.conn).keylog[event.leg].push(event.line.trim());
        break;
      case 'tls-transcript': {
        const state = stateOf(event.conn);
        const rawIn = event.rawIn ? await session.blob(event.rawIn).catch(() => null) : null;
        const rawOut = event.rawOut ? await session.blob(event.rawOut).catch(() => null) : null;
        if ((event.rawIn && !rawIn) || (event.rawOut && !rawOut)) {
          options.onWarning?.(`connection ${event.conn}, ${event.leg} leg: raw TLS bytes not stored; left out of the pcapng`);
        } else if (rawIn || rawOut) {
          const capture = legCapture(event, state, origins, rawIn ?? Buffer.alloc(0), rawOut ?? Buffer.alloc(0));
          for (const block of legBlocks(capture)) await writeOut(out, block);
          legs++;
        }
        state.legsDone++;
        if (state.closed && state.legsDone >= 2) conns.delete(event.conn);
        break;
      }
      case 'connection-close': {
        const state = stateOf(event.conn);
        state.closed = true;
        if (state.legsDone >= 2) conns.delete(event.conn);
        break;
      }
      default:
        break;
    }
  }
  return legs;
}

function legCapture(
  event: Extract<ProxyEvent, { type: 'tls-transcript' }>,
  state: ConnState,
  origins: OriginAddresses,
  rawIn: Buffer,
  rawOut: Buffer,
): LegCapture {
  const port = state.port ?? 443;
  const host = state.host ?? 'unknown';
  const realClient = state.client ? normalizeAddress(state.client.address) : null;
  const v6Client = realClient?.includes(':') ?? false;
  let client: LegCapture['client'];
  let server: LegCapture['server'];
  let startMs: number;
  if (event.leg === 'client') {
    client = realClient && state.client ? { address: realClient, port: state.client.port } : { address: '192.0.2.10', port: 40000 + (state.n % 20000) };
    server = { address: v6Client ? '2001:db8::1' : '192.0.2.1', port };
    startMs = state.openedAt ?? state.helloAt.client ?? event.at;
  } else {
    const origin = normalizeAddress(host) ?? origins.get(host);
    client = { address: origin.includes(':') ? '2001:db8::2' : '192.0.2.2', port: 49152 + (state.n % 16384) };
    server = { address: origin, port };
    const hello = state.helloAt.upstream;
    // A leg that never completed its handshake has no tls-established: its hello is the best start known.
    startMs = state.upstreamStartedAt ?? hello ?? state.openedAt ?? event.at;
  }
  // On the client leg the browser is the TLS client, so its bytes are the ones towards mitmlab (rawIn); upstream,
  // mitmlab is the client and its bytes are rawOut.
  const clientBytes = event.leg === 'client' ? rawIn : rawOut;
  const serverBytes = event.leg === 'client' ? rawOut : rawIn;
  return {
    conn: event.conn,
    leg: event.leg,
    client,
    server,
    clientBytes,
    serverBytes,
    keylog: state.keylog[event.leg],
    startMicros: Math.min(startMs, event.at) * 1000,
    endMicros: event.at * 1000,
    isn: (state.n * 0x9e3779b1 + (event.leg === 'client' ? 0 : 0x5bd1e995)) >>> 0,
    comment: `mitmlab ${event.conn}, ${event.leg} leg: ${event.leg === 'client' ? 'browser ↔ mitmlab' : 'mitmlab ↔ origin'} for ${host}:${port}`,
    truncated: event.truncated,
    // 'in' is towards mitmlab: from the browser on the client leg, from the origin upstream.
    ladder: event.steps.map((step) => ({ fromClient: (step.direction === 'in') === (event.leg === 'client'), atMs: step.atMs })),
    order: event.leg === 'client' ? (event.order ?? []) : (event.order ?? []).map((run) => -run),
  };
}

/** Stand-in addresses for origins known only by name, stable within one export (bounded). */
class OriginAddresses {
  readonly #byHost = new Map<string, string>();

  get(host: string): string {
    let address = this.#byHost.get(host);
    if (address === undefined) {
      const n = this.#byHost.size % 508;
      address = n < 254 ? `198.51.100.${n + 1}` : `203.0.113.${n - 253}`;
      if (this.#byHost.size >= 10_000) this.#byHost.clear();
      this.#byHost.set(host, address);
    }
    return address;
  }
}
