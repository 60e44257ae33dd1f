// UTF-8 helpers shared by the proxy, the exports and the live view (pure; no node: imports).

/** A decoder that refuses invalid UTF-8 instead of putting U+FFFD in its place. */
export const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The largest length ≤ `limit` that does not cut a UTF-8 character of `bytes` in two: a continuation byte (10xxxxxx)
 * never starts one (RFC 3629 §3), so the cut moves back past at most three of them.
 */
export function utf8Cut(bytes: Uint8Array, limit: number): number {
  let cut = Math.min(limit, bytes.length);
  while (cut > 0 && cut < bytes.length && limit - cut < 3 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return cut;
}
