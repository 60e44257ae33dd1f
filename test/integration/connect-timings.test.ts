// The connect and ssl timings of requests that opened an upstream connection, as recorded and as exported to HAR
// (HAR 1.2 §timings: `ssl` is the TLS handshake and is also counted in `connect`; -1 when it does not apply).

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HarEntry } from '../../server/store/har-entry.js';
import { harEntries } from '../helpers/har.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';

const HOST = 'origin.test';
let pki: TestPki;
let tlsOrigin: Origin;
let plainOrigin: Origin;
let mitm: TestMitmlab;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST] });
  tlsOrigin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  plainOrigin = await startOrigin();
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
});

afterAll(async () => {
  await mitm?.close();
  await tlsOrigin?.close();
  await plainOrigin?.close();
});


const sumOf = (t: HarEntry['timings']): number =>
  [t.blocked, t.dns, t.connect, t.send, t.wait, t.receive].filter((v) => v >= 0).reduce((a, b) => a + b, 0);

describe('connect and ssl timings', () => {
  it('inside a tunnel: -1 on the connection opened at CONNECT, measured when the origin closed it and a request reopened it', async () => {
    const caPem = await readFile(mitm.caPath, 'utf8');
    const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${tlsOrigin.port}`, servername: HOST, ca: caPem });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agent.createConnection = () => socket;
    for (const path of ['/hello?t=first', '/close?t=closing', '/hello?t=reopened']) {
      const response = await requestOver(socket, path, `${HOST}:${tlsOrigin.port}`, { agent });
      expect(response.status).toBe(200);
    }
    agent.destroy();
    socket.destroy();

    const requests = mitm.ofType('http-request').filter((e) => e.url.includes('?t='));
    expect(new Set(requests.map((e) => e.conn)).size).toBe(1);
    const timingsOf = async (tag: string) => {
      const id = requests.find((e) => e.url.endsWith(`?t=${tag}`))!.id;
      return (await mitm.waitFor('http-response', (e) => e.id === id)).timings;
    };
    expect(await timingsOf('first')).toMatchObject({ connect: -1, ssl: -1 });
    expect(await timingsOf('closing')).toMatchObject({ connect: -1, ssl: -1 });
    const reopened = await timingsOf('reopened');
    const handshakes = mitm.ofType('tls-established').filter((e) => e.conn === requests[0]!.conn && e.leg === 'upstream');
    expect(handshakes).toHaveLength(2);
    expect(reopened.ssl).toBe(handshakes[1]!.handshakeMs);
    expect(reopened.ssl!).toBeGreaterThan(0);
    expect(reopened.connect).toBeGreaterThanOrEqual(reopened.ssl!);
    // The request went out before the response came: waiting for it took time.
    for (const tag of ['first', 'closing', 'reopened']) expect((await timingsOf(tag)).wait, tag).toBeGreaterThan(0);

    const entries = await harEntries(mitm);
    const har = (tag: string) => entries.find((e) => e.request.url.endsWith(`?t=${tag}`))!;
    expect(har('first').timings).toMatchObject({ connect: -1, ssl: -1 });
    expect(har('reopened').timings).toMatchObject({ connect: reopened.connect, ssl: reopened.ssl });
    expect(har('reopened').time).toBeCloseTo(sumOf(har('reopened').timings), 6);
  });

  it('plain http://: the request that opened a pool connection has its connect time, the next one on it -1', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (const tag of ['fresh', 'kept']) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: mitm.proxyPort, path: `http://${HOST}:${plainOrigin.port}/hello?p=${tag}`, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
      });
      expect(status).toBe(200);
    }
    agent.destroy();
    const timingsOf = async (tag: string) => {
      const request = await mitm.waitFor('http-request', (e) => e.url.endsWith(`?p=${tag}`));
      return (await mitm.waitFor('http-response', (e) => e.id === request.id)).timings;
    };
    const fresh = await timingsOf('fresh');
    expect(fresh.connect).toBeGreaterThan(0);
    expect(fresh.ssl).toBe(-1);
    expect(await timingsOf('kept')).toMatchObject({ connect: -1, ssl: -1 });

    const entry = (await harEntries(mitm)).find((e) => e.request.url.endsWith('?p=fresh'))!;
    expect(entry.timings).toMatchObject({ connect: fresh.connect, ssl: -1 });
  });
});
