import { describe, expect, it } from 'vitest';
import { MemoryBlobSink } from '../../../server/events/blob-sink.js';
import { applyEvent, createFlowIndex, flowList, urlParts } from '../../../server/protocol/flow-reducer.js';
import type { ProxyEvent } from '../../../server/protocol/events.js';
import { failureLabel } from '../../../server/protocol/flows.js';
import { request, response, sampleSession, tlsSetup } from '../store/sample-events.js';

function reduce(events: ProxyEvent[], cap?: number) {
  const index = createFlowIndex(cap);
  for (const event of events) applyEvent(index, event);
  return index;
}

describe('flow reducer', () => {
  it('builds one row per flow, tunnel and failed handshake of a session', () => {
    const index = reduce(sampleSession(new MemoryBlobSink()));
    const rows = flowList(index);
    expect(rows.map((r) => [r.id, r.kind, r.state])).toEqual([
      ['c1.1', 'http', 'done'],
      ['c1.2', 'http', 'done'],
      ['c1.3', 'http', 'done'],
      ['c1.4', 'http', 'done'],
      ['c2.1', 'websocket', 'done'],
      ['c3', 'tls-failure', 'failed'],
      ['c4', 'tunnel', 'done'],
    ]);
    expect(index.created).toBe(7);
  });

  it('fills an HTTP row from request, response and the connection facts', () => {
    const index = reduce(sampleSession(new MemoryBlobSink()));
    const row = index.flows.get('c1.1')!;
    expect(row).toMatchObject({
      method: 'GET',
      url: 'https://example.test/api?x=1&y=two',
      host: 'example.test',
      port: 443,
      path: '/api?x=1&y=two',
      status: 200,
      mimeType: 'application/json',
      responseBytes: 17,
      durationMs: 11,
      tlsVersion: 'TLSv1.3',
      upstreamTlsVersion: 'TLSv1.3',
      client: { address: '127.0.0.1', port: 50000 },
      flags: { secret: true, upstreamCertProblem: false, tlsFailed: false, synthetic: false },
    });
    expect(index.flows.get('c1.3')!.requestBytes).toBe(8);
  });

  it('turns a handshake that fails before any request into a tls-failure row keyed by connection', () => {
    const index = reduce(sampleSession(new MemoryBlobSink()));
    const row = index.flows.get('c3')!;
    expect(row).toMatchObject({ kind: 'tls-failure', host: 'refused.test', port: 443, state: 'failed', flags: { tlsFailed: true } });
    expect(row.error).toContain('does not trust the lab CA');
    expect(row.durationMs).toBe(5);
  });

  it('names an origin that was never reached as such: a failed row, but no failed TLS handshake', () => {
    const failed = (conn: string, host: string, cause: 'upstream-unreachable' | 'upstream-dns'): ProxyEvent[] => [
      { type: 'connection-open', conn, client: { address: '127.0.0.1', port: 50100 }, mode: 'explicit', at: 1 },
      { type: 'connect', conn, host, port: 8443, at: 1 },
      { type: 'tls-failed', conn, leg: 'upstream', host, cause, message: `mitmlab could not reach ${host}`, alert: null, at: 3 },
      { type: 'connection-close', conn, bytesIn: 0, bytesOut: 0, at: 4 },
    ];
    const index = reduce([...failed('c1', 'down.test', 'upstream-unreachable'), ...failed('c2', 'nxdomain.test', 'upstream-dns')]);
    expect(index.flows.get('c1')).toMatchObject({ kind: 'tls-failure', state: 'failed', failure: 'upstream-unreachable', port: 8443, flags: { tlsFailed: false } });
    expect(index.flows.get('c2')).toMatchObject({ failure: 'upstream-dns', flags: { tlsFailed: false } });
    // A refused forged certificate is a failed handshake, and says which.
    const refused = reduce(sampleSession(new MemoryBlobSink())).flows.get('c3');
    expect(refused).toMatchObject({ failure: 'cert-rejected', flags: { tlsFailed: true } });
    expect([index.flows.get('c1')!, index.flows.get('c2')!, refused!].map((row) => failureLabel(row.failure))).toEqual(['unreachable', 'DNS failed', 'TLS failed']);
  });

  it('records tunnels with their byte counts once closed', () => {
    const index = reduce(sampleSession(new MemoryBlobSink()));
    expect(index.flows.get('c4')).toMatchObject({ kind: 'tunnel', host: 'bank.test', port: 443, requestBytes: 4000, responseBytes: 9000, state: 'done', durationMs: 100 });
  });

  it('counts WebSocket messages and keeps the row open until ws-close', () => {
    const events = sampleSession(new MemoryBlobSink());
    const index = createFlowIndex();
    for (const event of events) {
      applyEvent(index, event);
      if (event.type === 'ws-message' && event.direction === 'send') {
        expect(index.flows.get('c2.1')).toMatchObject({ kind: 'websocket', state: 'pending', status: 101, wsMessages: 1 });
      }
    }
    expect(index.flows.get('c2.1')).toMatchObject({ wsMessages: 2, state: 'done' });
  });

  it('flags rows of a connection whose origin certificate was not trusted, even when the cert came first', () => {
    const events: ProxyEvent[] = [
      { type: 'connection-open', conn: 'c9', client: { address: '::1', port: 1 }, mode: 'explicit', at: 0 },
      ...tlsSetup('c9', 'expired.test', 0, false),
      request('c9.1', 'c9', 'https://expired.test/', 10),
    ];
    const index = reduce(events);
    expect(index.flows.get('c9.1')!.flags.upstreamCertProblem).toBe(true);
  });

  it('marks a request whose connection closed without a response as failed', () => {
    const index = reduce([
      request('c5.1', 'c5', 'http://plain.test:8000/x', 0),
      { type: 'connection-close', conn: 'c5', bytesIn: 0, bytesOut: 0, at: 50 },
    ]);
    expect(index.flows.get('c5.1')).toMatchObject({ state: 'failed', port: 8000, durationMs: 50 });
  });

  it('accepts a response that arrives after its connection closed (bodies are decoded first)', () => {
    const index = reduce([
      request('c8.1', 'c8', 'https://a.test/gz', 0),
      { type: 'connection-close', conn: 'c8', bytesIn: 0, bytesOut: 0, at: 10 },
      response('c8.1', 'c8', 12),
    ]);
    expect(index.flows.get('c8.1')).toMatchObject({ state: 'done', status: 200, error: null });
  });

  it('applies proxy errors to their flow', () => {
    const index = reduce([
      request('c6.1', 'c6', 'https://down.test/', 0),
      { type: 'proxy-error', conn: 'c6', id: 'c6.1', code: 'upstream-unreachable', status: 502, message: 'down.test refused the connection.', at: 7 },
      response('c6.1', 'c6', 8, { status: 502, synthetic: true }),
    ]);
    expect(index.flows.get('c6.1')).toMatchObject({ state: 'done', status: 502, error: 'down.test refused the connection.', flags: { synthetic: true } });
  });

  it('returns a new object on every change and null for events that touch no row', () => {
    const index = createFlowIndex();
    const first = applyEvent(index, request('c7.1', 'c7', 'https://a.test/', 0));
    const second = applyEvent(index, response('c7.1', 'c7', 5));
    expect(first).not.toBe(second);
    expect(first!.state).toBe('pending');
    expect(second!.state).toBe('done');
    expect(applyEvent(index, { type: 'tls-keylog', conn: 'c7', leg: 'client', line: 'x', at: 0 })).toBeNull();
    expect(applyEvent(index, { type: 'store-error', code: 'write-failed', message: 'x', at: 0 })).toBeNull();
    expect(applyEvent(index, response('unknown.1', 'c7', 5))).toBeNull();
  });

  it('evicts the oldest rows and connection facts beyond the cap', () => {
    const index = createFlowIndex(10);
    for (let i = 0; i < 100; i++) {
      applyEvent(index, { type: 'connection-open', conn: `c${i}`, client: { address: '127.0.0.1', port: i }, mode: 'explicit', at: i });
      applyEvent(index, request(`c${i}.1`, `c${i}`, 'https://a.test/', i));
      applyEvent(index, response(`c${i}.1`, `c${i}`, i + 1));
    }
    expect(index.flows.size).toBe(10);
    expect(index.conns.size).toBeLessThanOrEqual(10);
    expect([...index.flows.keys()][0]).toBe('c90.1');
    expect(index.created).toBe(100);
    expect(index.evicted).toBe(90);
    // An event for an evicted flow does not resurrect a partial row.
    expect(applyEvent(index, response('c0.1', 'c0', 500))).toBeNull();
    expect(index.flows.size).toBe(10);
  });

  it('splits URLs into host, port and path, tolerating garbage', () => {
    expect(urlParts('https://[::1]:8443/a?b')).toEqual({ url: 'https://[::1]:8443/a?b', host: '::1', port: 8443, path: '/a?b' });
    expect(urlParts('http://EXAMPLE.test/')).toMatchObject({ host: 'example.test', port: 80 });
    expect(urlParts('not a url')).toEqual({ url: 'not a url', host: '', port: null, path: null });
  });
});
