// pcapng block encoders, little-endian (draft-ietf-opsawg-pcapng, https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng).
// Pure: each function returns the bytes of one block.
//
// Every block is: type (u32), total length (u32), body padded to 32 bits, total length again (u32).

/** LINKTYPE_ETHERNET (https://www.tcpdump.org/linktypes.html). */
export const LINKTYPE_ETHERNET = 1;

const SHB_TYPE = 0x0a0d0d0a;
const IDB_TYPE = 0x00000001;
const EPB_TYPE = 0x00000006;
/** Decryption Secrets Block (draft §4.7). */
const DSB_TYPE = 0x0000000a;
/** Secrets type "TLSK": an NSS key log (draft §4.7). */
export const SECRETS_TYPE_TLS_KEYLOG = 0x544c534b;

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_TSRESOL = 9;

function pad4(length: number): number {
  return (4 - (length % 4)) % 4;
}

/** Encodes options (code, length, value padded to 4) followed by opt_endofopt; empty when there are none. */
function encodeOptions(options: Array<[code: number, value: Buffer]>): Buffer {
  if (options.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const [code, value] of options) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(code, 0);
    head.writeUInt16LE(value.length, 2);
    parts.push(head, value, Buffer.alloc(pad4(value.length)));
  }
  const end = Buffer.alloc(4);
  end.writeUInt16LE(OPT_ENDOFOPT, 0);
  parts.push(end);
  return Buffer.concat(parts);
}

function block(type: number, body: Buffer): Buffer {
  const padded = body.length + pad4(body.length);
  const total = 12 + padded;
  const out = Buffer.alloc(total);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(total, 4);
  body.copy(out, 8);
  out.writeUInt32LE(total, total - 4);
  return out;
}

function commentOption(comment: string | undefined): Array<[number, Buffer]> {
  return comment ? [[OPT_COMMENT, Buffer.from(comment, 'utf8')]] : [];
}

/** Section Header Block: byte-order magic, version 1.0, section length unknown (-1). */
export function sectionHeaderBlock(options: { application?: string; comment?: string } = {}): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(0x1a2b3c4d, 0);
  fixed.writeUInt16LE(1, 4);
  fixed.writeUInt16LE(0, 6);
  fixed.writeBigInt64LE(-1n, 8);
  const opts = encodeOptions([
    ...commentOption(options.comment),
    ...(options.application ? [[SHB_USERAPPL, Buffer.from(options.application, 'utf8')] as [number, Buffer]] : []),
  ]);
  return block(SHB_TYPE, Buffer.concat([fixed, opts]));
}

/** Interface Description Block with microsecond timestamps (if_tsresol 6, the default, stated explicitly). */
export function interfaceDescriptionBlock(linkType: number, options: { name?: string; snapLen?: number } = {}): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(linkType, 0);
  fixed.writeUInt16LE(0, 2);
  fixed.writeUInt32LE(options.snapLen ?? 0, 4);
  const opts = encodeOptions([
    ...(options.name ? [[IF_NAME, Buffer.from(options.name, 'utf8')] as [number, Buffer]] : []),
    [IF_TSRESOL, Buffer.from([6])],
  ]);
  return block(IDB_TYPE, Buffer.concat([fixed, opts]));
}

/** Enhanced Packet Block; `timeMicros` is microseconds since the Unix epoch. */
export function enhancedPacketBlock(interfaceId: number, timeMicros: number, packet: Buffer, comment?: string): Buffer {
  const fixed = Buffer.alloc(20);
  const time = BigInt(Math.max(0, Math.round(timeMicros)));
  fixed.writeUInt32LE(interfaceId, 0);
  fixed.writeUInt32LE(Number(time >> 32n), 4);
  fixed.writeUInt32LE(Number(time & 0xffffffffn), 8);
  fixed.writeUInt32LE(packet.length, 12);
  fixed.writeUInt32LE(packet.length, 16);
  return block(EPB_TYPE, Buffer.concat([fixed, packet, Buffer.alloc(pad4(packet.length)), encodeOptions(commentOption(comment))]));
}

/** Decryption Secrets Block carrying NSS key log lines; readers apply it to the packets that follow it. */
export function decryptionSecretsBlock(keylogLines: readonly string[]): Buffer {
  const secrets = Buffer.from(keylogLines.map((line) => `${line}\n`).join(''), 'utf8');
  const fixed = Buffer.alloc(8);
  fixed.writeUInt32LE(SECRETS_TYPE_TLS_KEYLOG, 0);
  fixed.writeUInt32LE(secrets.length, 4);
  return block(DSB_TYPE, Buffer.concat([fixed, secrets, Buffer.alloc(pad4(secrets.length))]));
}
