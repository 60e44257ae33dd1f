// The four outcomes of every TLS parser (DESIGN.md §3): a parser takes bytes, never throws, and says which one it
// reached. `length` is how many input bytes the value used; `need` is a lower bound on how many more bytes must
// arrive before the answer can change; `offset` points at the first byte that made the input invalid.

export type Parsed<T> =
  | { kind: 'ok'; value: T; length: number }
  | { kind: 'incomplete'; need: number }
  | { kind: 'not-tls' }
  | { kind: 'invalid'; reason: string; offset: number };

/** A successful parse. */
export function ok<T>(value: T, length: number): Parsed<T> {
  return { kind: 'ok', value, length };
}

/** More bytes are needed (at least `need`, never less than 1). */
export function incomplete<T>(need: number): Parsed<T> {
  return { kind: 'incomplete', need: Math.max(1, need) };
}

/** The bytes are not TLS at all (plain HTTP, SSH…). */
export function notTls<T>(): Parsed<T> {
  return { kind: 'not-tls' };
}

/** The bytes look like TLS but break a rule at `offset`. */
export function invalid<T>(reason: string, offset: number): Parsed<T> {
  return { kind: 'invalid', reason, offset };
}
