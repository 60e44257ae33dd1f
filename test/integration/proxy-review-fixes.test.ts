// Regression tests for defects a code review found: a process crash from an origin's status line or a WebSocket
// subprotocol list, an origin connection left open when the browser leaves early, chunked framing sent to an
// HTTP/1.0 client, and tunnels that ignored --idle-timeout. mitmlab runs as its own process so a crash is an exit.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startCli, type CliProcess } from '../helpers/cli-process.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../helpers/hostile-origin.js';
import { rawExchange, statusOf } from '../helpers/raw-http.js';

let dir: string;
let cli: CliProcess;
let origin: ScriptedOrigin;
let openOriginSockets = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-review-'));
  origin = await startScriptedOrigin((socket, head) => {
    const target = head.split(' ')[1] ?? '/';
    if (target.endsWith('/bad-reason')) socket.write('HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok');
    else if (target.endsWith('/status-zero')) socket.write('HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok');
    else if (target.endsWith('/chunked')) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\npart1-\r\n5\r\npart2\r\n0\r\n\r\n');
    else if (target.endsWith('/slow')) {
      openOriginSockets++;
      socket.once('close', () => openOriginSockets--);
    } else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  cli = await startCli(['start', '--listen-port', '0', '--no-ui', '--quiet', '--idle-timeout', '1500', '--data-dir', path.join(dir, 'data'), '--ca-dir', path.join(dir, 'ca')]);
});

afterAll(async () => {
  await cli?.stop();
  await origin?.close();
  await rm(dir, { recursive: true, force: true });
});

const alive = () => cli.child.exitCode === null;

describe('origins that break the response line', () => {
  it('a control character in the reason phrase is dropped, the response forwarded, and mitmlab keeps running', async () => {
    const response = await rawExchange(cli.proxyPort, `GET http://127.0.0.1:${origin.port}/bad-reason HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(response.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(alive()).toBe(true);
  });

  it('status 000 → 502, and mitmlab keeps running', async () => {
    const response = await rawExchange(cli.proxyPort, `GET http://127.0.0.1:${origin.port}/status-zero HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(response)).toBe(502);
    expect(alive()).toBe(true);
  });
});

describe('WebSocket upgrades with a bad subprotocol list', () => {
  it.each(['chat, chat', 'a b'])('Sec-WebSocket-Protocol: %s → 400, and mitmlab keeps running', async (protocols) => {
    const response = await rawExchange(
      cli.proxyPort,
      `GET http://127.0.0.1:${origin.port}/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocols}\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(400);
    expect(alive()).toBe(true);
  });
});

describe('a browser that leaves before the response', () => {
  it('closes the origin connection at once', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: cli.proxyPort });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET http://127.0.0.1:${origin.port}/slow HTTP/1.1\r\nHost: x\r\n\r\n`);
    for (let i = 0; i < 40 && openOriginSockets === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(openOriginSockets).toBe(1);
    socket.destroy();
    // Well under --idle-timeout (1.5 s): the origin side goes with the browser.
    for (let i = 0; i < 20 && openOriginSockets > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(openOriginSockets).toBe(0);
  });
});

describe('framing', () => {
  it('an HTTP/1.0 client never gets chunked framing (RFC 9112 §6.1)', async () => {
    const response = await rawExchange(cli.proxyPort, `GET http://127.0.0.1:${origin.port}/chunked HTTP/1.0\r\nHost: x\r\n\r\n`);
    expect(statusOf(response)).toBe(200);
    expect(response.toLowerCase()).not.toContain('transfer-encoding: chunked');
    expect(response.endsWith('part1-part2')).toBe(true);
  });
});

describe('tunnels', () => {
  it('a silent CONNECT tunnel is closed after --idle-timeout', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: cli.proxyPort });
    await new Promise((resolve) => socket.once('connect', resolve));
    const closed = new Promise<number>((resolve) => {
      const started = Date.now();
      socket.once('close', () => resolve(Date.now() - started));
    });
    socket.on('data', () => {});
    socket.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    const after = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10_000))]);
    socket.destroy();
    // 3 s of silence makes it a raw tunnel (server-speaks-first), then 1.5 s idle closes it.
    expect(after).toBeGreaterThan(0);
  });
});
