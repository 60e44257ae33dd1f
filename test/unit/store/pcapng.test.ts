import { describe, expect, it } from 'vitest';
import {
  decryptionSecretsBlock,
  enhancedPacketBlock,
  interfaceDescriptionBlock,
  LINKTYPE_ETHERNET,
  SECRETS_TYPE_TLS_KEYLOG,
  sectionHeaderBlock,
} from '../../../server/store/pcapng-blocks.js';
import { addressBytes, internetChecksum, MSS, TcpStreamSynth } from '../../../server/store/tcp-synth.js';
import { interleaveTls, selectedVersion, splitRecords } from '../../../server/store/tls-interleave.js';

function blockShape(block: Buffer): { type: number; length: number } {
  const length = block.readUInt32LE(4);
  expect(length % 4).toBe(0);
  expect(length).toBe(block.length);
  expect(block.readUInt32LE(length - 4)).toBe(length);
  return { type: block.readUInt32LE(0), length };
}

const mac = (n: number) => Buffer.from([2, 0, 0, 0, 0, n]);

describe('pcapng blocks', () => {
  it('writes a section header with the byte-order magic and an unknown section length', () => {
    const shb = sectionHeaderBlock({ application: 'mitmlab', comment: 'x' });
    expect(blockShape(shb).type).toBe(0x0a0d0d0a);
    expect(shb.readUInt32LE(8)).toBe(0x1a2b3c4d);
    expect([shb.readUInt16LE(12), shb.readUInt16LE(14)]).toEqual([1, 0]);
    expect(shb.readBigInt64LE(16)).toBe(-1n);
    expect(shb.includes(Buffer.from('mitmlab'))).toBe(true);
  });

  it('writes an Ethernet interface with microsecond resolution', () => {
    const idb = interfaceDescriptionBlock(LINKTYPE_ETHERNET, { name: 'mitmlab' });
    expect(blockShape(idb).type).toBe(1);
    expect(idb.readUInt16LE(8)).toBe(1);
    // if_tsresol (9), length 1, value 6
    const at = idb.indexOf(Buffer.from([9, 0, 1, 0, 6]));
    expect(at).toBeGreaterThan(0);
  });

  it('writes enhanced packets with 64-bit microsecond timestamps and padding', () => {
    const packet = Buffer.from([1, 2, 3, 4, 5]);
    const time = Date.UTC(2026, 10, 22) * 1000 + 123;
    const epb = enhancedPacketBlock(0, time, packet, 'hello');
    expect(blockShape(epb).type).toBe(6);
    const stamp = (BigInt(epb.readUInt32LE(12)) << 32n) | BigInt(epb.readUInt32LE(16));
    expect(stamp).toBe(BigInt(time));
    expect(epb.readUInt32LE(20)).toBe(5);
    expect(epb.readUInt32LE(24)).toBe(5);
    expect(epb.subarray(28, 33)).toEqual(packet);
  });

  it('writes a decryption secrets block of type TLS key log', () => {
    const lines = ['CLIENT_RANDOM ' + 'a'.repeat(64) + ' ' + 'b'.repeat(96)];
    const dsb = decryptionSecretsBlock(lines);
    expect(blockShape(dsb).type).toBe(0x0a);
    expect(dsb.readUInt32LE(8)).toBe(SECRETS_TYPE_TLS_KEYLOG);
    const size = dsb.readUInt32LE(12);
    expect(dsb.subarray(16, 16 + size).toString()).toBe(`${lines[0]}\n`);
  });
});

describe('TCP synthesis', () => {
  it('computes the RFC 1071 checksum (example from RFC 1071 §3)', () => {
    // 0001 f203 f4f5 f6f7: the folded one's complement sum is 0xddf2, so the checksum is its complement, 0x220d.
    expect(internetChecksum(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0x220d);
    // Odd length: the last byte is padded with a zero byte.
    expect(internetChecksum(Buffer.from([0x01]))).toBe(~0x0100 & 0xffff);
  });

  it('parses IPv4, IPv6 and IPv4-mapped literals', () => {
    expect(addressBytes('192.0.2.1')).toEqual(Buffer.from([192, 0, 2, 1]));
    expect(addressBytes('::ffff:127.0.0.1')).toEqual(Buffer.from([127, 0, 0, 1]));
    expect(addressBytes('2001:db8::1')!.toString('hex')).toBe('20010db8000000000000000000000001');
    expect(addressBytes('::1')!.toString('hex')).toBe('00000000000000000000000000000001');
    expect(addressBytes('fe80::1:2')!.toString('hex')).toBe('fe800000000000000000000000010002');
    expect(addressBytes('example.test')).toBeNull();
  });

  it('frames a connection with valid IPv4 checksums and consistent seq/ack', () => {
    const synth = new TcpStreamSynth({ address: '127.0.0.1', port: 50000, mac: mac(1) }, { address: '192.0.2.1', port: 443, mac: mac(2) }, 1000);
    const packets = [...synth.open(0), ...synth.send(true, Buffer.alloc(3000, 1), 10), ...synth.send(false, Buffer.alloc(10, 2), 20), ...synth.close(30)];
    const tcp = packets.map(({ frame }) => {
      const ip = frame.subarray(14, 34);
      expect(frame.readUInt16BE(12)).toBe(0x0800);
      expect(internetChecksum(ip)).toBe(0); // a header including its checksum sums to zero
      const segment = frame.subarray(34);
      const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 6]), Buffer.from([segment.length >> 8, segment.length & 0xff])]);
      expect(internetChecksum(pseudo, segment)).toBe(0);
      return { seq: segment.readUInt32BE(4), ack: segment.readUInt32BE(8), flags: segment[13]!, len: segment.length - 20, src: segment.readUInt16BE(0) };
    });
    const serverIsn = (1000 * 7 + 0x1000) >>> 0;
    expect(tcp.slice(0, 3)).toEqual([
      { seq: 1000, ack: 0, flags: 0x02, len: 0, src: 50000 },
      { seq: serverIsn, ack: 1001, flags: 0x12, len: 0, src: 443 },
      { seq: 1001, ack: serverIsn + 1, flags: 0x10, len: 0, src: 50000 },
    ]);
    const data = tcp.slice(3, 6);
    expect(data.map((p) => p.len)).toEqual([MSS, MSS, 200]);
    expect(data.map((p) => p.seq)).toEqual([1001, 1001 + MSS, 1001 + 2 * MSS]);
    expect(tcp[6]).toMatchObject({ seq: serverIsn + 1, ack: 4001, len: 10 });
    expect(tcp.slice(7)).toEqual([
      { seq: 4001, ack: serverIsn + 11, flags: 0x11, len: 0, src: 50000 },
      { seq: serverIsn + 11, ack: 4002, flags: 0x11, len: 0, src: 443 },
      { seq: 4002, ack: serverIsn + 12, flags: 0x10, len: 0, src: 50000 },
    ]);
  });

  it('frames IPv6 endpoints with an IPv6 header', () => {
    const synth = new TcpStreamSynth({ address: '::1', port: 50000, mac: mac(1) }, { address: '2001:db8::1', port: 443, mac: mac(2) }, 1);
    const [syn] = synth.open(0);
    expect(syn!.frame.readUInt16BE(12)).toBe(0x86dd);
    expect(syn!.frame[14]! >> 4).toBe(6);
    expect(syn!.frame.length).toBe(14 + 40 + 20);
  });

  it('refuses mixed address families', () => {
    expect(() => new TcpStreamSynth({ address: '::1', port: 1, mac: mac(1) }, { address: '192.0.2.1', port: 2, mac: mac(2) }, 1)).toThrow(/one family/);
  });
});

function record(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeUInt16BE(0x0303, 1);
  head.writeUInt16BE(body.length, 3);
  return Buffer.concat([head, body]);
}
function handshake(type: number, body: Buffer = Buffer.alloc(4)): Buffer {
  const head = Buffer.alloc(4);
  head[0] = type;
  head.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([head, body]);
}
function serverHello(options: { version?: number; hrr?: boolean } = {}): Buffer {
  const random = options.hrr ? Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex') : Buffer.alloc(32, 7);
  const ext = options.version ? Buffer.from([0, 43, 0, 2, options.version >> 8, options.version & 0xff]) : Buffer.alloc(0);
  const body = Buffer.concat([Buffer.from([3, 3]), random, Buffer.from([0]), Buffer.from([0x13, 0x01, 0]), Buffer.from([0, ext.length]), ext]);
  return record(22, handshake(2, body));
}
const clientHelloRecord = record(22, handshake(1, Buffer.alloc(40)));
const app = (n: number) => record(23, Buffer.alloc(n));
const ccs = record(20, Buffer.from([1]));
const fin13 = app(53);

describe('TLS interleaving', () => {
  it('splits records and keeps a partial tail', () => {
    const bytes = Buffer.concat([app(10), app(3), Buffer.from([23, 3, 3, 0, 50, 1])]);
    expect(splitRecords(bytes).map((r) => r.length)).toEqual([15, 8, 6]);
    expect(splitRecords(Buffer.alloc(0))).toEqual([]);
  });

  it('reads the selected version from supported_versions', () => {
    expect(selectedVersion(serverHello({ version: 0x0304 }))).toBe(0x0304);
    expect(selectedVersion(serverHello())).toBe(0x0303);
    expect(selectedVersion(app(10))).toBeNull();
  });

  it('orders a TLS 1.3 exchange by flights: server flight through Finished, then the client, then turns', () => {
    const client = Buffer.concat([clientHelloRecord, ccs, fin13, app(100)]);
    const server = Buffer.concat([serverHello({ version: 0x0304 }), ccs, app(20), app(900), app(80), fin13, app(200), app(300)]);
    const order = interleaveTls(client, server).map((c) => `${c.fromClient ? 'C' : 'S'}${c.bytes.length - 5}`);
    expect(order).toEqual(['C44', `S${serverHello({ version: 0x0304 }).length - 5}`, 'S1', 'S20', 'S900', 'S80', 'S53', 'C1', 'C53', 'C100', 'S200', 'S300']);
  });

  it('replays a HelloRetryRequest round before the real ServerHello', () => {
    const client = Buffer.concat([clientHelloRecord, clientHelloRecord, fin13]);
    const server = Buffer.concat([serverHello({ hrr: true, version: 0x0304 }), serverHello({ version: 0x0304 }), fin13]);
    const order = interleaveTls(client, server).map((c) => (c.fromClient ? 'C' : 'S'));
    expect(order).toEqual(['C', 'S', 'C', 'S', 'S', 'C']);
  });

  it('follows the records\' arrival order when the transcript kept it, timing the ones the ladder placed', () => {
    // Keep-alive after the handshake: two requests, then their two responses (alternating would pair them wrongly).
    const client = Buffer.concat([clientHelloRecord, fin13, app(31), app(32)]);
    const server = Buffer.concat([serverHello({ version: 0x0304 }), fin13, app(41), app(42), app(43)]);
    const chunks = interleaveTls(client, server, [{ fromClient: true, atMs: 1 }, { fromClient: false, atMs: 2 }], [1, -2, 3, -3]);
    expect(chunks.map((c) => `${c.fromClient ? 'C' : 'S'}${c.bytes.length - 5}`)).toEqual(['C44', `S${serverHello({ version: 0x0304 }).length - 5}`, 'S53', 'C53', 'C31', 'C32', 'S41', 'S42', 'S43']);
    expect(chunks.slice(0, 3).map((c) => c.atMs)).toEqual([1, 2, undefined]);
  });

  it('ignores an arrival order that does not account for every record', () => {
    const client = Buffer.concat([clientHelloRecord, app(31)]);
    const server = Buffer.concat([serverHello({ version: 0x0304 }), app(41)]);
    const flights = interleaveTls(client, server).map((c) => c.fromClient);
    expect(interleaveTls(client, server, [], [2, -1]).map((c) => c.fromClient)).toEqual(flights);
    expect(interleaveTls(client, server, [], [1, 0, -2, 1]).map((c) => c.fromClient)).toEqual(flights);
  });

  it('follows the ladder when it lines up, with its times', () => {
    const client = Buffer.concat([clientHelloRecord, app(30)]);
    const server = Buffer.concat([serverHello({ version: 0x0304 }), app(40), app(50)]);
    const chunks = interleaveTls(client, server, [
      { fromClient: true, atMs: 1 },
      { fromClient: false, atMs: 2 },
      { fromClient: false, atMs: 3 },
      { fromClient: true, atMs: 4 },
      { fromClient: false, atMs: 5 },
    ]);
    expect(chunks.map((c) => [c.fromClient, c.bytes.length - 5, c.atMs])).toEqual([
      [true, 44, 1],
      [false, serverHello({ version: 0x0304 }).length - 5, 2],
      [false, 40, 3],
      [true, 30, 4],
      [false, 50, 5],
    ]);
  });

  it('ignores a ladder that would put encrypted records before the ServerHello', () => {
    const client = Buffer.concat([clientHelloRecord, app(30)]);
    const server = Buffer.concat([serverHello({ version: 0x0304 }), app(40)]);
    const chunks = interleaveTls(client, server, [
      { fromClient: true, atMs: 1 },
      { fromClient: true, atMs: 2 },
      { fromClient: false, atMs: 3 },
    ]);
    expect(chunks.map((c) => c.bytes.length - 5)).toEqual([44, serverHello({ version: 0x0304 }).length - 5, 30, 40]);
  });

  it('never loses or reorders bytes within a direction, whatever the input', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let round = 0; round < 200; round++) {
      const gen = () => Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
      const mixed = () => Buffer.concat(Array.from({ length: Math.floor(rand() * 6) }, () => (rand() < 0.5 ? app(Math.floor(rand() * 60)) : gen())));
      const client = rand() < 0.5 ? Buffer.concat([clientHelloRecord, mixed()]) : mixed();
      const server = rand() < 0.5 ? Buffer.concat([serverHello({ version: rand() < 0.5 ? 0x0304 : undefined }), mixed()]) : mixed();
      const ladder = Array.from({ length: Math.floor(rand() * 5) }, (_, i) => ({ fromClient: rand() < 0.5, atMs: i }));
      const chunks = interleaveTls(client, server, ladder);
      expect(Buffer.concat(chunks.filter((c) => c.fromClient).map((c) => c.bytes))).toEqual(client);
      expect(Buffer.concat(chunks.filter((c) => !c.fromClient).map((c) => c.bytes))).toEqual(server);
    }
  });
});
