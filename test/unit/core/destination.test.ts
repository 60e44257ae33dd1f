// connectTcp's guards, against a real listener on loopback. 192.0.2.10 (TEST-NET-1, RFC 5737) stands for a client
// on another machine: it only appears as the `from` address, no packet is ever sent to it.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTcp, type DestinationOptions } from '../../../server/core/destination.js';
import { failureAnswer } from '../../../server/core/upstream-answer.js';
import { PlainAgent } from '../../../server/core/upstream-agents.js';
import type { ProxyContext } from '../../../server/core/context.js';
import { classifyUpstreamFailure } from '../../../server/tls/failures.js';

let server: net.Server;
let port: number;

beforeAll(async () => {
  server = net.createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const options = (resolve: Array<[string, string]> = []): DestinationOptions => ({
  resolve: new Map(resolve),
  own: { ports: [1], localAddresses: ['10.9.8.7'] },
  connectTimeoutMs: 2_000,
});

describe('connectTcp', () => {
  it('lets a client on this machine reach a service on loopback', async () => {
    for (const from of [undefined, '127.0.0.1', '::ffff:127.0.0.1', '10.9.8.7']) {
      const tcp = await connectTcp('127.0.0.1', port, options(), from);
      tcp.socket.destroy();
    }
  });

  it("refuses a client on another machine a service on mitmlab's own machine, by address or by localhost name", async () => {
    for (const host of ['127.0.0.1', 'localhost', 'db.localhost', '10.9.8.7']) {
      await expect(connectTcp(host, port, options(), '192.0.2.10'), host).rejects.toMatchObject({ code: 'LOCAL_REFUSED' });
    }
  });

  it('lets it through when --resolve names that address on purpose', async () => {
    const tcp = await connectTcp('lab.test', port, options([['lab.test', '127.0.0.1']]), '192.0.2.10');
    tcp.socket.destroy();
  });

  it('tries the next address of a name whose first one refuses: localhost reaches a server on ::1 alone', async () => {
    const v6only = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve) => v6only.listen({ port: 0, host: '::1', ipv6Only: true }, resolve));
    try {
      const v6port = (v6only.address() as AddressInfo).port;
      const tcp = await connectTcp('localhost', v6port, options());
      expect(tcp.address).toBe('::1');
      tcp.socket.destroy();
      // A DNS name with two addresses, the first refusing, is reached at the second.
      const named = await connectTcp('two.test', v6port, { ...options(), lookup: async () => ['127.0.0.1', '::1'] });
      expect(named.address).toBe('::1');
      named.socket.destroy();
      // localhost tries 127.0.0.1 first, as before.
      const first = await connectTcp('localhost', port, options());
      expect(first.address).toBe('127.0.0.1');
      first.socket.destroy();
    } finally {
      await new Promise((resolve) => v6only.close(resolve));
    }
  });

  it('reports the failure when no address of the name answers', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(connectTcp('localhost', closedPort, options())).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('explains the refusal to the browser and in the failure classes', () => {
    const answer = failureAnswer('127.0.0.1', 5432, { code: 'LOCAL_REFUSED' });
    expect(answer).toMatchObject({ code: 'local-refused', status: 403 });
    expect(answer.detail).toContain('--resolve');
    expect(classifyUpstreamFailure({ leg: 'upstream', host: 'db.test', code: 'LOCAL_REFUSED', peerAlert: null }).message).toMatch(/on the machine mitmlab runs on/);
    // A request Node refuses to write is the client's to fix, said as such.
    expect(failureAnswer('a.test', 80, { code: 'UNSENDABLE_REQUEST', message: 'Invalid character' })).toMatchObject({ code: 'bad-request', status: 400, detail: 'mitmlab cannot forward this request to a.test: Invalid character.' });
  });
});

describe("the live view's self-test probe", () => {
  it('is never looked up in DNS, and its failure says what it is', async () => {
    let looked = 0;
    const probe = { ...options(), lookup: async () => (looked++, '127.0.0.1') };
    await expect(connectTcp('0123abcd.selftest.mitmlab.test', port, probe)).rejects.toMatchObject({ code: 'SELF_TEST_PROBE' });
    expect(looked).toBe(0);
    const answer = failureAnswer('0123abcd.selftest.mitmlab.test', 443, { code: 'SELF_TEST_PROBE' });
    expect(answer).toMatchObject({ status: 502, code: 'upstream-unreachable', title: "mitmlab's self-test probe" });
    expect(answer.detail).toMatch(/self-test probe.*nothing was looked up/);
    expect(classifyUpstreamFailure({ leg: 'upstream', host: 'x.selftest.mitmlab.test', code: 'SELF_TEST_PROBE' }).cause).toBe('upstream-unreachable');
  });
});

describe('the plain http:// pool', () => {
  it('never hands a connection opened for a client on another machine to one on this machine, or back', () => {
    const ctx = { config: { upstreamPoolPerHost: 4, timeouts: { idleMs: 1_000 } }, destination: options() } as unknown as ProxyContext;
    const agent = new PlainAgent(ctx);
    const name = (from: string) => agent.getName({ host: 'origin.test', port: 80, mitmlabFrom: from } as Parameters<PlainAgent['getName']>[0]);
    expect(name('127.0.0.1')).toBe(name('10.9.8.7'));
    expect(name('192.0.2.10')).toBe(name('192.0.2.11'));
    expect(name('192.0.2.10')).not.toBe(name('127.0.0.1'));
    agent.destroy();
  });
});
