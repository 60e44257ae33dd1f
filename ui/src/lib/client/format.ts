// Pure formatting helpers for the views: sizes, durations, times, hex dumps, body classification, masking.

import type { BodyRef } from '../../../../server/protocol/events.js';

/** 1234 → "1.2 kB" (SI units, as browsers' devtools show sizes). */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || n < 0) return '';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = -1;
  do {
    value /= 1000;
    unit++;
  } while (value >= 1000 && unit < units.length - 1);
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** 1234 → "1.23 s", 12 → "12 ms". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Local wall-clock time with milliseconds: 14:03:07.123. */
export function formatTime(at: number): string {
  const d = new Date(at);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/**
 * A date and time in the one format the view uses: 2026-12-03 14:03:07, local time; with `utc`, in UTC and marked so
 * (certificate validity, as openssl x509 prints it). An unreadable date comes back as given.
 */
export function formatDateTime(at: number | string, utc = false): string {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return String(at);
  const pad = (n: number) => String(n).padStart(2, '0');
  const [y, mo, da, h, mi, s] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  return `${y}-${pad(mo)}-${pad(da)} ${pad(h)}:${pad(mi)}:${pad(s)}${utc ? ' UTC' : ''}`;
}

/** Classic 16-bytes-per-line hex dump with an ASCII column, at most `limit` bytes. */
export function hexDump(bytes: Uint8Array, limit = 64 * 1024): string {
  const lines: string[] = [];
  const end = Math.min(bytes.length, limit);
  for (let offset = 0; offset < end; offset += 16) {
    const slice = bytes.subarray(offset, Math.min(offset + 16, end));
    const hex = Array.from(slice, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(slice, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > end) lines.push(`… ${bytes.length - end} more bytes`);
  return lines.join('\n');
}

export type BodyKind = 'json' | 'text' | 'html' | 'image' | 'binary' | 'empty';

/** Raster image types previewed with <img> from a blob: URL. SVG is shown as source: it is a document, not a picture. */
const PREVIEW_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp', 'image/x-icon', 'image/vnd.microsoft.icon']);

/** How to show a body: by media type first, then by sniffing the bytes for text. */
export function classifyBody(mimeType: string | null, bytes: Uint8Array): BodyKind {
  if (bytes.length === 0) return 'empty';
  const mime = (mimeType ?? '').toLowerCase();
  if (PREVIEW_IMAGES.has(mime)) return 'image';
  if (mime === 'application/json' || mime.endsWith('+json')) return 'json';
  if (mime === 'text/html' || mime === 'application/xhtml+xml') return 'html';
  if (mime.startsWith('text/') || /(javascript|xml|x-www-form-urlencoded|graphql|yaml|csv)/.test(mime)) return 'text';
  return looksLikeText(bytes) ? (looksLikeJson(bytes) ? 'json' : 'text') : 'binary';
}

/** UTF-8 without control bytes (other than whitespace) in the first 4 kB. */
export function looksLikeText(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, 4096);
  for (const b of sample) if (b < 0x09 || (b > 0x0d && b < 0x20) || b === 0x7f) return false;
  try {
    // A cut in the middle of a multi-byte character at the sample's end is not an error.
    new TextDecoder('utf-8', { fatal: true }).decode(sample.subarray(0, utf8Boundary(sample)));
    return true;
  } catch {
    return false;
  }
}

function utf8Boundary(bytes: Uint8Array): number {
  let end = bytes.length;
  for (let i = 1; i <= 3 && end - i >= 0; i++) {
    const b = bytes[end - i]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte
    if (b >= 0xc0) end -= i; // a lead byte whose sequence may be cut
    break;
  }
  return end;
}

function looksLikeJson(bytes: Uint8Array): boolean {
  const first = bytes.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  return first === 0x7b || first === 0x5b;
}

/** JSON re-indented for reading, or null when it does not parse (e.g. truncated at --body-cap). */
export function prettyJson(text: string): string | null {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return null;
  }
}

/** A secret masked for the projector: length hint, no characters. */
export function maskSecret(value: string): string {
  return '•'.repeat(Math.min(Math.max(value.length, 6), 24));
}

/** Base64 to bytes (for binary WebSocket messages and raw handshake messages). */
export function base64ToBytes(text: string): Uint8Array {
  try {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  } catch {
    return new Uint8Array(0);
  }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A header value for display. Node hands header bytes over one byte per character (Latin-1), so UTF-8 text arrives
 * as mojibake ("Ã¼" for "ü"). When the bytes are valid UTF-8, that is what the sender meant; otherwise the value is
 * shown as it came. The recorded value is never changed: exports keep the bytes.
 */
export function headerText(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x80-\xff]/.test(value) || /[^\x00-\xff]/.test(value)) return value;
  try {
    return STRICT_UTF8.decode(Uint8Array.from(value, (c) => c.charCodeAt(0)));
  } catch {
    return value;
  }
}

// OpenSSL's SSL_get_shared_sigalgs names ("RSA-PSS+SHA256", "Ed25519+UNDEF") as the IANA TLS SignatureScheme names
// the decoded ClientHello uses (RFC 8446 §4.2.3). OpenSSL gives one name to the rsae and pss variants of RSA-PSS,
// so those read "rsa_pss_…_sha256" and appear once.
const ECDSA_CURVE: Record<string, string> = { SHA256: 'secp256r1_', SHA384: 'secp384r1_', SHA512: 'secp521r1_' };

/** Shared signature algorithms for display: IANA-style names, each once. */
export function sigalgLabels(names: readonly string[]): string[] {
  const labels = names.map((name) => {
    const [sign = '', hash = ''] = name.split('+');
    const h = hash.toLowerCase();
    if (hash === 'UNDEF' && (sign === 'Ed25519' || sign === 'Ed448')) return sign.toLowerCase();
    if (sign === 'RSA-PSS') return `rsa_pss_…_${h}`;
    if (sign === 'RSA') return `rsa_pkcs1_${h}`;
    if (sign === 'ECDSA') return `ecdsa_${ECDSA_CURVE[hash] ?? ''}${h}`;
    return name;
  });
  return [...new Set(labels)];
}

/** What a body heading says of the stored bytes: size, content coding (decoded or not, and why not), the cap. */
export function bodySummary(body: BodyRef): string {
  const parts = [formatBytes(body.size)];
  if (body.encoding && body.decoded) parts.push(`decoded from ${body.encoding} (${formatBytes(body.wireSize)} on the wire)`);
  if (body.encoding && !body.decoded) {
    parts.push(
      body.decodeError
        ? `stored as received: it could not be decoded from ${body.encoding} (${body.decodeError})`
        : `stored as received, still encoded with ${body.encoding}`,
    );
  }
  if (body.truncated) parts.push('truncated at the capture cap');
  return parts.join(', ');
}
