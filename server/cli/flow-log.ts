// One terminal line per finished flow and per failure, like a proxy access log. Off with --quiet.

import type { EventBus } from '../events/bus.js';
import type { ProxyEvent } from '../protocol/events.js';

/** Prints flows and failures as they happen. */
export function attachFlowLog(bus: EventBus, print: (line: string) => void): () => void {
  const requests = new Map<string, { method: string; url: string }>();
  return bus.subscribe((event: ProxyEvent) => {
    switch (event.type) {
      case 'http-request':
        requests.set(event.id, { method: event.method, url: event.url });
        if (requests.size > 10_000) requests.delete(requests.keys().next().value!);
        break;
      case 'http-response': {
        const request = requests.get(event.id);
        requests.delete(event.id);
        if (!request) break;
        const size = event.body ? event.body.wireSize : 0;
        print(`${request.method} ${request.url} → ${event.status}${event.synthetic ? ' (mitmlab)' : ''} ${size}B ${Math.round(event.timings.total)}ms`);
        break;
      }
      case 'tls-failed':
        print(`TLS ${event.leg} leg failed: ${event.message}`);
        break;
      case 'store-error':
        print(`store: ${event.message}`);
        break;
      default:
        break;
    }
  });
}
