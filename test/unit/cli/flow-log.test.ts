// The terminal's access-log lines: a finished exchange, and one cut short, which says so.

import { describe, expect, it } from 'vitest';
import { attachFlowLog } from '../../../server/cli/flow-log.js';
import { EventBus } from '../../../server/events/bus.js';
import { request, response } from '../store/sample-events.js';

describe('flow log', () => {
  it('prints each exchange once, and says when one was cut short', async () => {
    const bus = new EventBus();
    const lines: string[] = [];
    attachFlowLog(bus, (line) => lines.push(line));
    bus.emit(request('c1.1', 'c1', 'https://a.test/slow', 1));
    bus.emit({ type: 'proxy-error', conn: 'c1', id: 'c1.1', code: 'client-aborted', status: null, message: 'The client disconnected before receiving the whole response.', at: 2 });
    bus.emit(response('c1.1', 'c1', 3));
    bus.emit(request('c1.2', 'c1', 'https://a.test/fine', 4));
    bus.emit(response('c1.2', 'c1', 5));
    await bus.flushed();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^GET https:\/\/a\.test\/slow → 200 .*\(cut short: The client disconnected before receiving the whole response\.\)$/);
    expect(lines[1]).toMatch(/^GET https:\/\/a\.test\/fine → 200 \d+B \d+ms$/);
  });

  it('prints passthrough tunnels and origins let through by --upstream-insecure', async () => {
    const bus = new EventBus();
    const lines: string[] = [];
    attachFlowLog(bus, (line) => lines.push(line));
    bus.emit({ type: 'tunnel', conn: 'c1', host: 'bank.test', port: 443, reason: 'passthrough', at: 1 });
    bus.emit({ type: 'tunnel', conn: 'c2', host: 'ssh.test', port: 22, reason: 'not-tls', at: 2 });
    const verification = { trusted: false, errorCode: 'DEPTH_ZERO_SELF_SIGNED_CERT', reason: 'self-signed certificate', checks: [] };
    bus.emit({ type: 'tls-certificates', conn: 'c3', host: 'self.test', upstream: [], forged: [], verification, insecureAllowed: true, at: 3 });
    bus.emit({ type: 'tls-certificates', conn: 'c4', host: 'fine.test', upstream: [], forged: [], verification: { ...verification, trusted: true }, insecureAllowed: false, at: 4 });
    await bus.flushed();
    expect(lines).toEqual([
      'CONNECT bank.test:443 → tunnel, relayed unread (--passthrough)',
      'CONNECT ssh.test:22 → tunnel, relayed unread (it did not open with a TLS ClientHello)',
      'TLS self.test: untrusted origin let through by --upstream-insecure (self-signed certificate); the browser was not told',
    ]);
  });
});
