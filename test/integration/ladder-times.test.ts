// The two legs' ladders on one clock, as the live view draws them: the client leg counts from the accept
// (connection-open), the upstream leg from the start of mitmlab's connect (tls-established: at - handshakeMs -
// connectMs). The browser's ClientHello is what makes mitmlab reach the origin, so on that common clock it must come
// before the origin's handshake is over; it used to be stamped only once the origin had answered and the
// certificate was minted.

import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';

const HOST = 'origin.test';
let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
});

afterAll(async () => {
  await mitm?.close();
  await origin?.close();
});

describe('ladder times', () => {
  it('the browser ClientHello comes before the origin handshake ends, on the live view\'s common clock', async () => {
    const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca: await readFile(mitm.caPath, 'utf8') });
    const conn = mitm.ofType('connect').at(-1)!.conn;
    expect((await requestOver(socket, '/hello', HOST)).status).toBe(200);
    socket.destroy();
    const client = await mitm.waitFor('tls-transcript', (e) => e.conn === conn && e.leg === 'client');
    const upstream = await mitm.waitFor('tls-transcript', (e) => e.conn === conn && e.leg === 'upstream');
    const opened = mitm.ofType('connection-open').find((e) => e.conn === conn)!;
    const established = mitm.ofType('tls-established').find((e) => e.conn === conn && e.leg === 'upstream')!;
    const upstreamStart = established.at - established.handshakeMs - (established.connectMs ?? 0);

    const clientHello = opened.at + client.steps.find((s) => s.label === 'ClientHello')!.atMs;
    const upstreamSteps = upstream.steps.filter((s) => s.label !== 'Application data');
    const upstreamHandshakeEnd = upstreamStart + upstreamSteps.at(-1)!.atMs;
    // The browser's hello arrived before mitmlab began to connect to the origin. The two bases are wall-clock
    // times in whole milliseconds, so up to 2 ms of rounding; stamped late, the hello came 4–7 ms after here.
    expect(clientHello).toBeLessThanOrEqual(upstreamStart + 2);
    expect(clientHello).toBeLessThan(upstreamHandshakeEnd);
  });
});
