// Picking one flow's pieces out of its connection's events (pure; used by the detail tabs).

import { assertNever, type EventOf, type ProxyEvent } from '../../../../server/protocol/events.js';
import type { Leg } from '../../../../server/protocol/tls.js';

export interface FlowPieces {
  request: EventOf<'http-request'> | null;
  response: EventOf<'http-response'> | null;
  secrets: EventOf<'secrets-found'>[];
  wsOpen: EventOf<'ws-open'> | null;
  wsMessages: EventOf<'ws-message'>[];
  wsClose: EventOf<'ws-close'> | null;
  errors: EventOf<'proxy-error'>[];
  tls: TlsPieces;
}

export interface LegPieces {
  clientHello: EventOf<'tls-client-hello'> | null;
  serverHello: EventOf<'tls-server-hello'> | null;
  established: EventOf<'tls-established'> | null;
  transcript: EventOf<'tls-transcript'> | null;
  failed: EventOf<'tls-failed'> | null;
}

export interface TlsPieces {
  client: LegPieces;
  upstream: LegPieces;
  certificates: EventOf<'tls-certificates'> | null;
  connectionOpen: EventOf<'connection-open'> | null;
  connect: EventOf<'connect'> | null;
  /** Set when this connection used an origin connection another one opened (no upstream handshake of its own). */
  reused: EventOf<'upstream-reused'> | null;
  /** The upstream leg shown is that other connection's handshake (from `originEvents`), not this connection's. */
  upstreamIsReused: boolean;
  /** `certificates` are that other connection's: the origin's chain and the forged one were recorded with it. */
  certificatesAreReused: boolean;
}

function emptyLeg(): LegPieces {
  return { clientHello: null, serverHello: null, established: null, transcript: null, failed: null };
}

/**
 * The events of flow `id` (and its connection's TLS) among a connection's events. `originEvents` are the events of
 * the connection whose origin connection this one reused (`upstream-reused`): their upstream leg stands in for the
 * handshake this connection did not make.
 */
export function flowPieces(events: readonly ProxyEvent[], id: string, originEvents: readonly ProxyEvent[] = []): FlowPieces {
  const pieces: FlowPieces = {
    request: null,
    response: null,
    secrets: [],
    wsOpen: null,
    wsMessages: [],
    wsClose: null,
    errors: [],
    tls: { client: emptyLeg(), upstream: emptyLeg(), certificates: null, connectionOpen: null, connect: null, reused: null, upstreamIsReused: false, certificatesAreReused: false },
  };
  const leg = (l: Leg) => pieces.tls[l];
  // A connection that reused an origin connection may open its own later (the origin closed the one it had): that
  // handshake is not the one a request sent before it went over.
  const ownLegLater = (event: ProxyEvent): boolean => 'leg' in event && event.leg === 'upstream' && pieces.tls.reused !== null && pieces.request !== null;
  for (const event of events) {
    if (ownLegLater(event)) continue;
    switch (event.type) {
      case 'http-request':
        if (event.id === id) pieces.request = event;
        break;
      case 'http-response':
        if (event.id === id) pieces.response = event;
        break;
      case 'secrets-found':
        if (event.id === id) pieces.secrets.push(event);
        break;
      case 'ws-open':
        if (event.id === id) pieces.wsOpen = event;
        break;
      case 'ws-message':
        if (event.id === id) pieces.wsMessages.push(event);
        break;
      case 'ws-close':
        if (event.id === id) pieces.wsClose = event;
        break;
      case 'proxy-error':
        if (event.id === id || (event.id === null && id === event.conn)) pieces.errors.push(event);
        break;
      case 'tls-client-hello':
        leg(event.leg).clientHello ??= event;
        break;
      case 'tls-server-hello':
        leg(event.leg).serverHello ??= event;
        break;
      case 'tls-established':
        leg(event.leg).established ??= event;
        break;
      case 'tls-transcript':
        leg(event.leg).transcript = event;
        break;
      case 'tls-failed':
        leg(event.leg).failed ??= event;
        break;
      case 'tls-certificates':
        pieces.tls.certificates ??= event;
        break;
      case 'connection-open':
        pieces.tls.connectionOpen = event;
        break;
      case 'connect':
        pieces.tls.connect = event;
        break;
      case 'upstream-reused':
        pieces.tls.reused = event;
        break;
      // Not part of one flow's detail: byte counts at close, key log lines (exported, not shown), tunnels (no flow)
      // and the store's own errors (the event log shows them).
      case 'connection-close':
      case 'tls-keylog':
      case 'tunnel':
      case 'store-error':
        break;
      default:
        assertNever(event);
    }
  }
  const upstream = pieces.tls.upstream;
  if (pieces.tls.reused && !upstream.clientHello && !upstream.established && !upstream.failed) {
    // The origin connection handed on is the last one that connection opened (it holds one at a time).
    for (const event of originEvents) {
      if (!('leg' in event) || event.leg !== 'upstream' || event.conn !== pieces.tls.reused.from) continue;
      if (event.type === 'tls-client-hello') upstream.clientHello = event;
      else if (event.type === 'tls-server-hello') upstream.serverHello = event;
      else if (event.type === 'tls-established') upstream.established = event;
      else if (event.type === 'tls-transcript') upstream.transcript = event;
    }
    pieces.tls.upstreamIsReused = upstream.established !== null;
  }
  if (pieces.tls.reused && !pieces.tls.certificates) {
    // Both chains were recorded once, with the handshake that opened the origin connection: the same ones apply here
    // (the forged certificate for a name is minted once and kept).
    const from = pieces.tls.reused.from;
    const opened = originEvents.find((event): event is EventOf<'tls-certificates'> => event.type === 'tls-certificates' && event.conn === from);
    if (opened) {
      pieces.tls.certificates = opened;
      pieces.tls.certificatesAreReused = true;
    }
  }
  return pieces;
}

type FoundSecret = EventOf<'secrets-found'>['secrets'][number];

/** Which part of a flow a secret's location belongs to. */
function sideOf(location: FoundSecret['location']): 'request' | 'response' | 'websocket' {
  if (location === 'ws-send' || location === 'ws-receive') return 'websocket';
  return location.startsWith('response-') ? 'response' : 'request';
}

/** The secrets seen in the request (its URL, headers, body), the response (headers, body) or WebSocket messages. */
export function secretsOn(pieces: FlowPieces, side: 'request' | 'response' | 'websocket'): FoundSecret[] {
  return pieces.secrets.flatMap((e) => e.secrets).filter((s) => sideOf(s.location) === side);
}
