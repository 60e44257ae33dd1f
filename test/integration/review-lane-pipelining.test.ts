// Regression: pipelined requests on one intercepted connection share the upstream lane one at a time, in order, over
// a single origin connection (RFC 9112 §9.3.2: responses in the order the requests arrived), and the lane socket
// does not collect listeners across keep-alive requests.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { tlsThroughProxy } from '../helpers/proxy-client.js';
import { UpstreamLane } from '../../server/core/upstream-lane.js';

const HOST = 'origin.test';
let pki: TestPki;
let origin: https.Server;
let originPort: number;
let originConnections = 0;
let mitm: TestMitmlab;
let caPem: string;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST, '127.0.0.1'] });
  origin = https.createServer({ cert: pki.valid.chainPem, key: pki.valid.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = `body of ${req.method} ${req.url} (${Buffer.concat(chunks).toString()})`;
      // The first request answers late, so the later ones queue behind it on the lane.
      setTimeout(() => res.end(body), req.url === '/first' ? 300 : 0);
    });
  });
  origin.on('secureConnection', () => originConnections++);
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as AddressInfo).port;
  mitm = await startMitmlab({ ui: false, upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
  caPem = await readFile(mitm.caPath, 'utf8');
});

afterAll(async () => {
  await mitm?.close();
  origin?.closeAllConnections();
  await new Promise((resolve) => origin?.close(resolve));
  await pki?.dispose();
});

describe('the upstream lane under pipelining', () => {
  it('answers five pipelined requests (one with a body) in order, over one origin connection', async () => {
    const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${originPort}`, servername: HOST, ca: caPem });
    let received = '';
    const done = new Promise<void>((resolve) =>
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (received.includes('body of GET /last')) resolve();
      }),
    );
    socket.write(
      `GET /first HTTP/1.1\r\nhost: ${HOST}\r\n\r\n` +
        `GET /second HTTP/1.1\r\nhost: ${HOST}\r\n\r\n` +
        `POST /post HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 5\r\n\r\nhello` +
        `GET /fourth HTTP/1.1\r\nhost: ${HOST}\r\n\r\n` +
        `GET /last HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`,
    );
    await done;
    socket.destroy();
    expect(received.match(/body of [A-Z]+ \S+ \([^)]*\)/g)).toEqual([
      'body of GET /first ()',
      'body of GET /second ()',
      'body of POST /post (hello)',
      'body of GET /fourth ()',
      'body of GET /last ()',
    ]);
    expect(originConnections).toBe(1);
    const conn = mitm.ofType('http-request').find((e) => e.url.endsWith('/first'))!.conn;
    await mitm.waitFor('http-response', (e) => e.id === `${conn}.5`);
    const responses = mitm.ofType('http-response').filter((e) => e.conn === conn);
    expect(responses.map((e) => [e.id, e.status, e.synthetic])).toEqual([1, 2, 3, 4, 5].map((n) => [`${conn}.${n}`, 200, false]));
  });

  it('keeps the lane socket\'s listener counts flat across 40 keep-alive requests', async () => {
    // Spy on the lane's release, where the socket changes hands, to read its listener counts.
    const counts: number[] = [];
    const release = UpstreamLane.prototype.release;
    UpstreamLane.prototype.release = function (this: UpstreamLane, socket: Duplex | null, reusable: boolean) {
      if (socket) counts.push(socket.eventNames().reduce((sum, name) => sum + socket.listenerCount(name), 0));
      return release.call(this, socket, reusable);
    };
    try {
      const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${originPort}`, servername: HOST, ca: caPem });
      for (let i = 0; i < 40; i++) {
        const answered = new Promise<void>((resolve) => {
          let text = '';
          const onData = (chunk: Buffer): void => {
            text += chunk.toString('latin1');
            if (text.includes(`/n${i} (`)) {
              socket.off('data', onData);
              resolve();
            }
          };
          socket.on('data', onData);
        });
        socket.write(`GET /n${i} HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
        await answered;
      }
      socket.destroy();
    } finally {
      UpstreamLane.prototype.release = release;
    }
    expect(counts.length).toBe(40);
    expect(new Set(counts.slice(1)).size).toBe(1);
  });
});
