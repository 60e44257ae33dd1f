// The CA page's self-test: "does this browser send its traffic through mitmlab, and does it trust the lab CA?"
//
// Why not just look at how the page itself arrived: the live view is served on loopback only and the proxy refuses
// to forward to its own ports (CVE-2025-23217), so this page never comes through the proxy, and a loopback peer
// looks the same whether or not the browser is configured to use mitmlab. The answer has to come from a request
// the browser sends *elsewhere*. So the page fetches a probe URL under a reserved name no DNS resolves (RFC 6761
// §6.2, `.test`), unique per test:
//   - not proxied: the browser's own DNS lookup fails and mitmlab sees nothing;
//   - proxied over http://: the proxy receives the request, and the bus shows it;
//   - proxied over https://: the browser sends CONNECT, then the client-leg handshake either completes (the lab CA is
//     trusted: the browser accepted the certificate mitmlab minted for the probe name) or fails with cert-rejected.
// The hub watches its bus for the probe's name; the page asks the hub what it saw. Page scripts cannot read
// certificate errors, so this bus-side view is the only reliable one. Pure: fed with events, no I/O.

import { randomBytes } from 'node:crypto';
import type { ConnId, ProxyEvent } from '../protocol/events.js';
import { SELF_TEST_DOMAIN, type SelfTestResult, type SelfTestStart } from '../protocol/wire.js';

const MAX_TESTS = 64;
const TEST_TTL_MS = 10 * 60_000;

interface Probe {
  result: SelfTestResult;
  createdAt: number;
  conns: Set<ConnId>;
}

export class SelfTests {
  readonly #tests = new Map<string, Probe>();
  readonly #byConn = new Map<ConnId, string>();

  /** Starts a test; the page fetches `probeUrl` (https) and `http:` of the same host through the browser. */
  start(now: number): SelfTestStart {
    this.#expire(now);
    const id = randomBytes(8).toString('hex');
    this.#tests.set(id, {
      createdAt: now,
      conns: new Set(),
      result: { id, viaProxy: false, clientTls: 'none', failure: null, requestSeen: false },
    });
    while (this.#tests.size > MAX_TESTS) this.#forget(this.#tests.keys().next().value as string);
    return { id, probeUrl: `https://${id}.${SELF_TEST_DOMAIN}/` };
  }

  /** What the proxy has shown of a test so far, or null when unknown or expired. */
  result(id: string): SelfTestResult | null {
    return this.#tests.get(id)?.result ?? null;
  }

  /** Feeds one bus event. */
  observe(event: ProxyEvent): void {
    if (this.#tests.size === 0) return;
    // Only what shows how far a probe got; every other type is beside the point here.
    switch (event.type) {
      case 'connect':
      case 'tunnel':
        this.#link(event.conn, event.host);
        break;
      case 'tls-client-hello':
        if (event.leg === 'client') this.#link(event.conn, event.hello.serverName);
        break;
      case 'tls-established': {
        const probe = this.#probeOf(event.conn);
        if (probe && event.leg === 'client') probe.result.clientTls = 'established';
        break;
      }
      case 'tls-failed': {
        const probe = this.#probeOf(event.conn) ?? this.#link(event.conn, event.host);
        if (probe && event.leg === 'client') {
          probe.result.clientTls = 'failed';
          probe.result.failure = { cause: event.cause, message: event.message };
        }
        break;
      }
      case 'http-request': {
        const probe = this.#link(event.conn, hostOf(event.url));
        if (probe) probe.result.requestSeen = true;
        break;
      }
      default:
        break;
    }
  }

  #link(conn: ConnId, host: string | null): Probe | null {
    const id = probeId(host);
    const probe = id === null ? undefined : this.#tests.get(id);
    if (!probe || id === null) return null;
    probe.result.viaProxy = true;
    probe.conns.add(conn);
    this.#byConn.set(conn, id);
    return probe;
  }

  #probeOf(conn: ConnId): Probe | null {
    const id = this.#byConn.get(conn);
    return id === undefined ? null : (this.#tests.get(id) ?? null);
  }

  #expire(now: number): void {
    for (const [id, probe] of this.#tests) if (now - probe.createdAt > TEST_TTL_MS) this.#forget(id);
  }

  #forget(id: string): void {
    const probe = this.#tests.get(id);
    if (!probe) return;
    for (const conn of probe.conns) this.#byConn.delete(conn);
    this.#tests.delete(id);
  }
}

/** The test id in a probe host name (`<id>.selftest.mitmlab.test`), or null. */
export function probeId(host: string | null): string | null {
  if (!host) return null;
  const h = host.toLowerCase().replace(/\.$/, '');
  const suffix = `.${SELF_TEST_DOMAIN}`;
  if (!h.endsWith(suffix)) return null;
  const id = h.slice(0, -suffix.length);
  return /^[0-9a-f]{16}$/.test(id) ? id : null;
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname;
  } catch {
    return null;
  }
}
