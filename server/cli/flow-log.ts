// One terminal line per finished flow and per failure, like a proxy access log. Off with --quiet.
// It reads a few event types only, so it tests for them rather than switching over the whole union.

import type { EventBus } from '../events/bus.js';
import type { ProxyEvent } from '../protocol/events.js';

const MAX_PENDING = 10_000;

/** Prints flows and failures as they happen; returns the unsubscribe function. */
export function attachFlowLog(bus: EventBus, print: (line: string) => void): () => void {
  const requests = new Map<string, { method: string; url: string; cut?: string }>();
  return bus.subscribe((event: ProxyEvent) => {
    if (event.type === 'http-request') {
      requests.set(event.id, { method: event.method, url: event.url });
      // Requests whose response never comes (aborted clients) must not accumulate.
      if (requests.size > MAX_PENDING) requests.delete(requests.keys().next().value!);
    } else if (event.type === 'http-response') {
      const request = requests.get(event.id);
      requests.delete(event.id);
      if (!request) return;
      const size = event.body ? event.body.wireSize : 0;
      const cut = request.cut ? ` (cut short: ${request.cut})` : '';
      print(`${request.method} ${request.url} → ${event.status}${event.synthetic ? ' (mitmlab)' : ''} ${size}B ${Math.round(event.timings.total)}ms${cut}`);
    } else if (event.type === 'proxy-error' && event.id !== null && event.status === null) {
      // An exchange broken off (the client left, the origin cut the body, mitmlab stopped): its response, recorded
      // next if one had begun, says so.
      const request = requests.get(event.id);
      if (request) request.cut = event.message;
    } else if (event.type === 'tls-failed') {
      print(`TLS ${event.leg} leg failed: ${event.message}`);
    } else if (event.type === 'tunnel') {
      // Bytes that pass unread: the log says so, or a passthrough host would seem to have had no traffic at all.
      const why = event.reason === 'passthrough' ? '--passthrough' : 'it did not open with a TLS ClientHello';
      print(`CONNECT ${event.host}:${event.port} → tunnel, relayed unread (${why})`);
    } else if (event.type === 'tls-certificates' && event.insecureAllowed) {
      // The browser sees a valid forged certificate: this line is where a user learns the origin's was not.
      print(`TLS ${event.host}: untrusted origin let through by --upstream-insecure (${event.verification.reason ?? event.verification.errorCode ?? 'not trusted'}); the browser was not told`);
    } else if (event.type === 'store-error') {
      print(`store: ${event.message}`);
    }
  });
}
