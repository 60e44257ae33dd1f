// The live view's state over the shared reducer: snapshot + batches give the rows, the log and the secrets.

import { describe, expect, it } from 'vitest';
import type { ProxyEvent } from '../../../server/protocol/events.js';
import { parseFilter } from '../../../server/protocol/filter.js';
import { applyEvent, createFlowIndex, flowList } from '../../../server/protocol/flow-reducer.js';
import { FlowModel, visibleRows } from '../../../ui/src/lib/state/flow-model.js';
import { exchange } from '../hub/fixture.js';

const refused = (n: number): ProxyEvent[] => [
  { type: 'connection-open', conn: `c${n}`, client: { address: '127.0.0.1', port: 1 }, mode: 'explicit', at: n },
  { type: 'connect', conn: `c${n}`, host: 'bank.lab.test', port: 443, at: n },
  { type: 'tls-failed', conn: `c${n}`, leg: 'client', host: 'bank.lab.test', cause: 'cert-rejected', message: 'The browser refused…', alert: 'bad_certificate', at: n + 1 },
];
const secret = (n: number): ProxyEvent => ({
  type: 'secrets-found',
  id: `c${n}.1`,
  conn: `c${n}`,
  secrets: [
    { kind: 'form-field', name: 'password', value: 'hunter2', location: 'request-body' },
    { kind: 'cookie', name: 'sid', value: 'x', location: 'request-header' },
  ],
  at: n,
});

describe('FlowModel', () => {
  it('builds rows, the log and the secrets from batches, in order', () => {
    const model = new FlowModel();
    const touched = model.applyEvents([...exchange(1), ...refused(2), exchange(3)[0]!, secret(3)]);
    expect([...touched].sort()).toEqual(['c1', 'c2', 'c3']);
    expect(model.rows().map((r) => [r.id, r.state])).toEqual([
      ['c1.1', 'done'],
      ['c2', 'failed'],
      ['c3.1', 'pending'],
    ]);
    expect(model.log.map((e) => e.type)).toEqual(['tls-failed']);
    expect(model.secrets.map((s) => [s.flowId, s.host, s.secret.name])).toEqual([
      ['c3.1', 'site3.lab.test', 'password'],
      ['c3.1', 'site3.lab.test', 'sid'],
    ]);
    expect(model.flow('c3.1')?.flags.secret).toBe(true);
  });

  it('agrees with the reducer run over the whole stream when starting from a snapshot midway', () => {
    const all = [...Array.from({ length: 50 }, (_, i) => exchange(i + 1)).flat(), ...refused(60), secret(7)];
    const server = createFlowIndex();
    for (const event of all.slice(0, 40)) applyEvent(server, event);
    const model = new FlowModel();
    model.applyEvents([exchange(999)[0]!]); // stale state, replaced by the snapshot
    model.applySnapshot({ type: 'snapshot', seq: 40, flows: flowList(server), log: [], secrets: [] });
    model.applyEvents(all.slice(40));
    const whole = createFlowIndex();
    for (const event of all) applyEvent(whole, event);
    expect(model.rows()).toEqual(flowList(whole));
  });

  it('keeps its bounds', () => {
    const model = new FlowModel({ flows: 10, logEntries: 3, secrets: 4 });
    for (let n = 1; n <= 30; n++) model.applyEvents([...exchange(n), ...refused(100 + n), secret(n)]);
    expect(model.rows().length).toBeLessThanOrEqual(10);
    expect(model.log).toHaveLength(3);
    expect(model.secrets).toHaveLength(4);
    expect(model.secrets.at(-1)?.flowId).toBe('c30.1');
  });

  it('clears rows, log and secrets but remembers connections for later rows', () => {
    const model = new FlowModel();
    model.applyEvents([
      { type: 'tls-established', conn: 'c5', leg: 'client', version: 'TLSv1.2', cipher: 'x', alpn: null, sni: null, resumed: false, group: null, groupBits: null, sharedSigalgs: [], connectMs: null, handshakeMs: 1, at: 1 },
      ...exchange(5),
      ...refused(6),
    ]);
    const before = model.version;
    model.clear();
    expect(model.version).toBeGreaterThan(before);
    expect(model.rows()).toEqual([]);
    expect(model.log).toEqual([]);
    const [request] = exchange(5, 99);
    model.applyEvents([{ ...request!, id: 'c5.2' } as ProxyEvent]);
    expect(model.rows()).toHaveLength(1);
    expect(model.rows()[0]?.tlsVersion).toBe('TLSv1.2');
  });

  it('filters rows with the shared filter language', () => {
    const model = new FlowModel();
    model.applyEvents([...exchange(1), ...exchange(2), ...refused(3)]);
    const parsed = parseFilter('~failed | ~d site2');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(visibleRows(model.rows(), parsed.match).map((r) => r.id)).toEqual(['c2.1', 'c3']);
    expect(visibleRows(model.rows(), null)).toHaveLength(3);
  });
});
