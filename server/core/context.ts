// Everything the connection handlers share, passed explicitly (no globals): configuration, the event bus, the blob
// sink, certificates and the upstream trust settings.

import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { LabCa } from '../certs/ca.js';
import type { CertCache } from '../certs/context-cache.js';
import type { BlobSink } from '../events/blob-sink.js';
import type { EventBus } from '../events/bus.js';
import type { TrustStore } from '../tls/verification.js';
import type { CertMemo } from './cert-memo.js';
import type { ProxyConfig } from './config.js';
import type { DestinationOptions } from './destination.js';
import type { OriginNames } from './origin-names.js';
import type { OriginPool } from './origin-pool.js';
import type { RecentUse } from './recent-use.js';
import type { UpstreamSessions } from './upstream-sessions.js';
import type { Unfinished } from './unfinished.js';

export interface ProxyContext {
  config: ProxyConfig;
  bus: EventBus;
  blobs: BlobSink;
  certs: CertCache;
  /** The lab CA certificate (DER), shown as the forged chain's root. */
  caDer: Buffer;
  /** The lab CA's --ca-permit limits, to explain a certificate refused for a name outside them. */
  caLimits: Pick<LabCa, 'permits' | 'nameConstraints'>;
  /** Trust anchors for origins, parsed once, for the four-check verification. */
  trust: TrustStore;
  /** Certificate summaries and verdicts, computed once per distinct certificate. */
  certMemo: CertMemo;
  /** Per port, the names each host's origin certificate carried: lets the browser's handshake start at once. */
  originNames: OriginNames;
  /** Resumable sessions towards origins, with the chain and verdict of their full handshake. */
  upstreamSessions: UpstreamSessions;
  /** One SecureContext for every upstream connection (building one with ~150 roots costs milliseconds). */
  upstreamTls: SecureContext;
  /** Resolution, loop guard and connect timeout. The guard's ports are filled in once listeners are bound. */
  destination: DestinationOptions;
  nextConnId(): string;
  /**
   * Values no recorded request may show: the live view's token, which a browser sends through the proxy when it opens
   * the token URL with the proxy set. Filled in once the token is known.
   */
  hiddenValues: string[];
  /** Recent requests per (client, host), to tell a browser's idle spare connection from a silent rejection. */
  recentUse: RecentUse;
  /** Recording still under way, which a stop waits for before the session log closes. */
  unfinished: Unfinished;
  /** Set when mitmlab is stopping: exchanges it cuts short are reported as stopped, not as the client leaving. */
  stopping: boolean;
  /** Idle verified origin connections, handed from a closed browser connection to the next one. */
  originPool: OriginPool;
  /** Origin TCP connections of intercepted legs (pooled ones included), closed by a stop. */
  upstreamSockets: Set<Socket>;
  /**
   * Open WebSocket relays: a stop calls each, which sends both peers a close frame (1001) and resolves once the frames
   * left (within a bound), before the sockets are destroyed.
   */
  openWebSockets: Set<() => Promise<void>>;
}
