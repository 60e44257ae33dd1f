// Synthetic Ethernet/IP/TCP framing for captured TLS bytes, so packet tools see an ordinary TCP connection:
// a three-way handshake, data segments with consistent seq/ack, and a FIN exchange. Pure.
//
// IPv4: RFC 791 (header checksum §3.1); IPv6: RFC 8200; TCP: RFC 9293 (checksum over the pseudo-header §3.1);
// Ethernet II framing with EtherType 0x0800 / 0x86DD.

import { isIP } from 'node:net';

export interface TcpEndpoint {
  /** IPv4 or IPv6 literal; both ends of a stream must be the same family. */
  address: string;
  port: number;
  /** 6-byte MAC. */
  mac: Buffer;
}

export interface SynthPacket {
  /** Microseconds since the Unix epoch. */
  timeMicros: number;
  frame: Buffer;
}

/** Largest TCP payload per segment: fits a 1500-byte Ethernet MTU with room for options (RFC 9293 §3.7.1). */
export const MSS = 1400;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;

/** The RFC 1071 Internet checksum of `parts` concatenated (one's complement of the one's complement sum). */
export function internetChecksum(...parts: Buffer[]): number {
  let sum = 0;
  let odd: number | null = null;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      if (odd === null) odd = part[i]!;
      else {
        sum += (odd << 8) | part[i]!;
        odd = null;
      }
    }
  }
  if (odd !== null) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The bytes of an IPv4 or IPv6 literal; IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as IPv4. */
export function addressBytes(address: string): Buffer | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return addressBytes(mapped[1]!);
  const family = isIP(address);
  if (family === 4) return Buffer.from(address.split('.').map(Number));
  if (family !== 6) return null;
  const [head, tail] = address.includes('::') ? address.split('::') : [address, null];
  const groups = (text: string | null | undefined) => (text ? text.split(':') : []);
  let left = groups(head);
  let right = groups(tail);
  // An embedded IPv4 tail (e.g. 64:ff9b::192.0.2.1) is two groups.
  const expand = (list: string[]) =>
    list.flatMap((group) => {
      if (!group.includes('.')) return [group];
      const b = group.split('.').map(Number);
      return [((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16)];
    });
  left = expand(left);
  right = expand(right);
  const all = tail === null ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((group, i) => out.writeUInt16BE(parseInt(group || '0', 16), i * 2));
  return out;
}

/** Normalises an address for framing: IPv4-mapped IPv6 becomes IPv4; returns null for non-literals. */
export function normalizeAddress(address: string): string | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const stripped = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  return isIP(stripped) ? stripped : null;
}

function tcpHeader(src: TcpEndpoint, dst: TcpEndpoint, seq: number, ack: number, flags: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(src.port, 0);
  header.writeUInt16BE(dst.port, 2);
  header.writeUInt32BE(seq >>> 0, 4);
  header.writeUInt32BE(flags & TCP_ACK ? ack >>> 0 : 0, 8);
  header[12] = 5 << 4; // data offset: 5 words, no options
  header[13] = flags;
  header.writeUInt16BE(65535, 14); // window
  const srcBytes = addressBytes(src.address)!;
  const dstBytes = addressBytes(dst.address)!;
  const length = header.length + payload.length;
  let pseudo: Buffer;
  if (srcBytes.length === 4) {
    pseudo = Buffer.alloc(12);
    srcBytes.copy(pseudo, 0);
    dstBytes.copy(pseudo, 4);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(length, 10);
  } else {
    pseudo = Buffer.alloc(40);
    srcBytes.copy(pseudo, 0);
    dstBytes.copy(pseudo, 16);
    pseudo.writeUInt32BE(length, 32);
    pseudo[39] = 6;
  }
  header.writeUInt16BE(internetChecksum(pseudo, header, payload), 16);
  return header;
}

/** An IPv4 header (no options) with its checksum, or an IPv6 header, for a TCP segment. */
export function ipHeader(src: string, dst: string, payloadLength: number, id: number): Buffer {
  const srcBytes = addressBytes(src)!;
  const dstBytes = addressBytes(dst)!;
  if (srcBytes.length === 4) {
    const header = Buffer.alloc(20);
    header[0] = 0x45; // version 4, IHL 5
    header.writeUInt16BE(20 + payloadLength, 2);
    header.writeUInt16BE(id & 0xffff, 4);
    header.writeUInt16BE(0x4000, 6); // don't fragment
    header[8] = 64; // TTL
    header[9] = 6; // TCP
    srcBytes.copy(header, 12);
    dstBytes.copy(header, 16);
    header.writeUInt16BE(internetChecksum(header), 10);
    return header;
  }
  const header = Buffer.alloc(40);
  header.writeUInt32BE(0x60000000, 0); // version 6
  header.writeUInt16BE(payloadLength, 4);
  header[6] = 6; // next header: TCP
  header[7] = 64; // hop limit
  srcBytes.copy(header, 8);
  dstBytes.copy(header, 24);
  return header;
}

/** One TCP connection's packets, built as the conversation is replayed. */
export class TcpStreamSynth {
  readonly #client: TcpEndpoint;
  readonly #server: TcpEndpoint;
  #clientSeq: number;
  #serverSeq: number;
  #ipId = 1;

  /** `isn` seeds both initial sequence numbers (deterministic output for tests). */
  constructor(client: TcpEndpoint, server: TcpEndpoint, isn: number) {
    const clientBytes = addressBytes(client.address);
    const serverBytes = addressBytes(server.address);
    if (!clientBytes || !serverBytes || clientBytes.length !== serverBytes.length) {
      throw new Error(`TcpStreamSynth needs two IP literals of one family, got ${client.address} and ${server.address}`);
    }
    this.#client = { ...client, address: normalizeAddress(client.address)! };
    this.#server = { ...server, address: normalizeAddress(server.address)! };
    this.#clientSeq = isn >>> 0;
    this.#serverSeq = (isn * 7 + 0x1000) >>> 0;
  }

  #packet(fromClient: boolean, flags: number, payload: Buffer, timeMicros: number): SynthPacket {
    const src = fromClient ? this.#client : this.#server;
    const dst = fromClient ? this.#server : this.#client;
    const seq = fromClient ? this.#clientSeq : this.#serverSeq;
    const ack = fromClient ? this.#serverSeq : this.#clientSeq;
    const tcp = tcpHeader(src, dst, seq, ack, flags, payload);
    const ip = ipHeader(src.address, dst.address, tcp.length + payload.length, this.#ipId++);
    const ethertype = Buffer.alloc(2);
    ethertype.writeUInt16BE(ip.length === 20 ? 0x0800 : 0x86dd);
    // SYN and FIN each consume one sequence number (RFC 9293 §3.4).
    const advance = payload.length + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
    if (fromClient) this.#clientSeq = (this.#clientSeq + advance) >>> 0;
    else this.#serverSeq = (this.#serverSeq + advance) >>> 0;
    return { timeMicros, frame: Buffer.concat([dst.mac, src.mac, ethertype, ip, tcp, payload]) };
  }

  /** SYN, SYN-ACK, ACK. */
  open(timeMicros: number): SynthPacket[] {
    return [
      this.#packet(true, TCP_SYN, Buffer.alloc(0), timeMicros),
      this.#packet(false, TCP_SYN | TCP_ACK, Buffer.alloc(0), timeMicros + 1),
      this.#packet(true, TCP_ACK, Buffer.alloc(0), timeMicros + 2),
    ];
  }

  /** Data from one side, cut into segments of at most MSS bytes. */
  send(fromClient: boolean, data: Buffer, timeMicros: number): SynthPacket[] {
    const packets: SynthPacket[] = [];
    for (let offset = 0, i = 0; offset < data.length; offset += MSS, i++) {
      packets.push(this.#packet(fromClient, TCP_PSH | TCP_ACK, data.subarray(offset, offset + MSS), timeMicros + i));
    }
    return packets;
  }

  /** FIN from the client, FIN from the server, last ACK. */
  close(timeMicros: number): SynthPacket[] {
    return [
      this.#packet(true, TCP_FIN | TCP_ACK, Buffer.alloc(0), timeMicros),
      this.#packet(false, TCP_FIN | TCP_ACK, Buffer.alloc(0), timeMicros + 1),
      this.#packet(true, TCP_ACK, Buffer.alloc(0), timeMicros + 2),
    ];
  }
}
