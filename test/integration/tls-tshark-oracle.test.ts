// tshark, an independent dissector, reads a loopback capture of the same connections mitmlab parsed: the cipher
// suites, extension types and JA3 must agree, and our key log must let it decrypt both legs.

import { afterAll, beforeAll, expect, it } from 'vitest';
import path from 'node:path';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { curl } from '../helpers/curl.js';
import { requireTools } from '../helpers/tools.js';
import { captureLoopback, tsharkFields } from '../helpers/tshark.js';

const HOST = 'origin.test';
let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;
let capture: string;
let keylog: string;
const haveTools = requireTools('curl', 'tshark');

beforeAll(async () => {
  if (!haveTools) return;
  pki = await createTestPki({ names: [HOST] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  // Every connection makes its own origin handshake here (--no-origin-reuse): tshark checks each against the record.
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], originReuse: false });
  capture = path.join(mitm.dir, 'loopback.pcapng');
  keylog = path.join(mitm.dir, 'keys.log');
  const live = await captureLoopback(capture, [mitm.proxyPort, origin.port]);
  for (const args of [['--tlsv1.3'], ['--tlsv1.2', '--tls-max', '1.2']]) {
    const result = await curl(`https://${HOST}:${origin.port}/hello?${args[0]}`, { proxy: mitm.proxyUrl, cacert: mitm.caPath, extra: args });
    expect(result.status).toBe(200);
  }
  await live.stop();
  await mitm.waitFor('tls-transcript', () => mitm.ofType('tls-transcript').length >= 4);
  const lines = mitm.ofType('tls-keylog').map((e) => e.line);
  await (await import('node:fs/promises')).writeFile(keylog, `${lines.join('\n')}\n`);
}, 120_000);

afterAll(async () => {
  await mitm?.close();
  await origin?.close();
});

/** tshark's view of every ClientHello in the capture, keyed by client random. */
async function tsharkHellos() {
  const rows = await tsharkFields(capture, [
    '-d', `tcp.port==${mitm.proxyPort},http`,
    '-Y', 'tls.handshake.type == 1',
    '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
    '-e', 'tls.handshake.random', '-e', 'tls.handshake.ciphersuite', '-e', 'tls.handshake.extension.type', '-e', 'tls.handshake.ja3_full', '-e', 'tls.handshake.ja3',
  ]);
  return new Map(
    rows.map((row) => {
      const [random, suites, extensions, ja3Full, ja3] = row.split('|') as [string, string, string, string, string];
      return [random.replace(/:/g, ''), { suites: suites.split(',').map((s) => Number(s)), extensions: extensions.split(',').map(Number), ja3Full, ja3 }];
    }),
  );
}

it.skipIf(!haveTools)('cipher suites, extension types and JA3 equal tshark\'s, for both legs of both connections', async () => {
  const theirs = await tsharkHellos();
  const ours = mitm.ofType('tls-client-hello');
  expect(ours).toHaveLength(4);
  expect(new Set(ours.map((h) => h.leg))).toEqual(new Set(['client', 'upstream']));
  for (const hello of ours) {
    const seen = theirs.get(hello.hello.random);
    expect(seen, `tshark saw the ${hello.leg} ClientHello ${hello.hello.random}`).toBeDefined();
    expect(hello.hello.cipherSuites).toEqual(seen!.suites);
    expect(hello.hello.extensions.map((e) => e.type)).toEqual(seen!.extensions);
    expect(hello.fingerprints.ja3).toBe(seen!.ja3Full);
    expect(hello.fingerprints.ja3Hash).toBe(seen!.ja3);
  }
});

it.skipIf(!haveTools)('tshark decrypts both legs with our key log and shows the HTTP requests', async () => {
  const rows = await tsharkFields(capture, [
    '-d', `tcp.port==${mitm.proxyPort},http`,
    '-o', `tls.keylog_file:${keylog}`,
    '-Y', 'http.request && tls',
    '-T', 'fields', '-E', 'separator=|', '-e', 'tcp.dstport', '-e', 'http.request.uri',
  ]);
  const byPort = (port: number) => rows.filter((row) => row.startsWith(`${port}|`)).map((row) => row.split('|')[1]);
  // Client leg: curl → mitmlab (inside the CONNECT tunnel); upstream leg: mitmlab → origin.
  expect(byPort(mitm.proxyPort).sort()).toEqual(['/hello?--tlsv1.2', '/hello?--tlsv1.3']);
  expect(byPort(origin.port).sort()).toEqual(['/hello?--tlsv1.2', '/hello?--tlsv1.3']);
});
