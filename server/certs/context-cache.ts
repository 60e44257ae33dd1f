// A bounded LRU of minted leaves and their TLS contexts, keyed by the leaf key type and the certificate's name set.
//
// Chain choice: by default each context serves leaf + lab CA. A client that trusts the CA needs only the leaf
// (RFC 8446 §4.4.2 lets a server omit the trust anchor), but with the CA in the chain tools (openssl s_client
// -showcerts, Wireshark, certificate viewers) show where the certificate comes from, and Chromium's
// --ignore-certificate-errors-spki-list can match the CA's SPKI, which it looks for among the certificates the
// server sent; mitmproxy sends it too. The price is about a kilobyte per handshake and ~0.25 ms once per
// certificate (OpenSSL parses and indexes the extra certificate). `chain: 'leaf'` sends the leaf alone.
//
// Cost (bench/mint.js, Node 20 / OpenSSL 3): a tls.SecureContext costs more than the certificate itself (≈0.1 ms
// to build, ≈0.3 ms to sign): ≈0.2 ms for the SSL_CTX, ≈0.4 ms to parse the private key again (Node's API cannot
// share a parsed key between contexts) and ≈0.25 ms per certificate in the chain. So:
// - the leaf key is handed over as PEM already in the form OpenSSL parses fastest (LeafKey.contextKeyPem);
// - each mint overlaps the two: while libuv's thread pool signs the certificate, this thread builds a context
//   holding only the key, then adds the certificate chain once the signature is back (see attach-cert.ts);
// - mints run at most MINT_CONCURRENCY at a time, so a burst of new hosts is spread over many short callbacks
//   instead of one long block of the event loop;
// - a few contexts holding only the key are kept ready (SPARE_CONTEXTS per key type), so a mint usually skips the
//   key parse, which takes longer than an EC signature and so decided how long a first contact waited; the spares are
//   parsed again one per turn of the event loop after a mint ends, between handshakes rather than in one.
// One context per certificate, never per connection.

import tls from 'node:tls';
import { CertError } from './errors.js';
import { hostKey, type HostName } from './hostnames.js';
import type { LeafKey } from './leaf-key.js';
import type { KeyType } from './sign.js';
import { attachChain, keyedContext, LEAF_SECURE_OPTIONS } from './attach-cert.js';
import { leafNames, mintLeafAsync, type MintCa } from './mint.js';

const DAY_MS = 86_400_000;
/** Default number of cached certificates. */
export const DEFAULT_CERT_CACHE_MAX = 1000;
/** Mints under way at once: enough to keep libuv's 4 pool threads signing, few enough to keep callbacks short. */
export const MINT_CONCURRENCY = 2;
/** Keyed contexts kept ready per leaf key type: one for each mint that can run at once. */
export const SPARE_CONTEXTS = MINT_CONCURRENCY;

/** A leaf ready to serve: its TLS context and the certificate itself. */
export interface MintedLeaf {
  context: tls.SecureContext;
  certPem: string;
  certDer: Buffer;
  notAfter: Date;
  /** SAN entries as text, in order. */
  names: string[];
  /** The leaf key it carries. */
  keyType: KeyType;
}

/** What CertCache needs. */
export interface CertCacheOptions {
  ca: MintCa & { certPem: string };
  /** The leaf key, or one per type (RSA and EC): get() then mints with the type asked for. */
  leafKey: LeafKey | readonly LeafKey[];
  /** Most certificates kept (default 1000). */
  max?: number | undefined;
  /** What the server sends: leaf + lab CA (default) or the leaf alone. */
  chain?: 'leaf+ca' | 'leaf' | undefined;
  /** An entry closer than this to its notAfter is minted again (default one day). */
  refreshBeforeMs?: number | undefined;
  /** The clock, for tests. */
  now?: (() => Date) | undefined;
}

/** Bounded LRU of minted leaves; concurrent requests for the same names share one mint. */
export class CertCache {
  readonly #ca: CertCacheOptions['ca'];
  /** The leaf keys by type; the first one given serves a get() without a type. */
  readonly #leafKeys: ReadonlyMap<KeyType, LeafKey>;
  readonly #defaultKey: LeafKey;
  readonly #max: number;
  readonly #chainTail: string;
  readonly #refreshBeforeMs: number;
  readonly #now: () => Date;
  // A Map iterates in insertion order: re-inserting on each hit keeps the least recently used first.
  readonly #entries = new Map<string, MintedLeaf>();
  readonly #pending = new Map<string, Promise<MintedLeaf>>();
  readonly #waiting: Array<() => void> = [];
  /** Slots taken: mints running, and slots handed to a waiting mint that has not resumed yet. */
  #active = 0;
  /** Mints running their code now. */
  #running = 0;
  #peak = 0;
  #mints = 0;
  /** Fresh contexts holding only a leaf key, by key type, for the next mints (see the header). */
  readonly #spare = new Map<KeyType, tls.SecureContext[]>();
  #refillQueued = false;
  /** Set when this Node cannot add a chain to a keyed context: no spares then (see #refillSpares). */
  #noSpares = false;

  constructor(opts: CertCacheOptions) {
    const max = opts.max ?? DEFAULT_CERT_CACHE_MAX;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`CertCache max must be a positive integer (got ${max})`);
    this.#ca = opts.ca;
    const keys = Array.isArray(opts.leafKey) ? (opts.leafKey as readonly LeafKey[]) : [opts.leafKey as LeafKey];
    if (keys.length === 0) throw new RangeError('CertCache needs a leaf key');
    if (new Set(keys.map((key) => key.type)).size !== keys.length) throw new RangeError('CertCache takes at most one leaf key per key type');
    this.#leafKeys = new Map(keys.map((key) => [key.type, key]));
    this.#defaultKey = keys[0]!;
    this.#max = max;
    this.#chainTail = opts.chain === 'leaf' ? '' : opts.ca.certPem;
    this.#refreshBeforeMs = opts.refreshBeforeMs ?? DAY_MS;
    this.#now = opts.now ?? (() => new Date());
    this.#refillSpares();
  }

  /** Keyed contexts ready for the next mints, per key type. */
  get spareContexts(): Record<string, number> {
    return Object.fromEntries([...this.#leafKeys.keys()].map((type) => [type, this.#spare.get(type)?.length ?? 0]));
  }

  /** Number of cached certificates. */
  get size(): number {
    return this.#entries.size;
  }

  /** The most mints that were under way at once (at most MINT_CONCURRENCY). */
  get peakMinting(): number {
    return this.#peak;
  }

  /** How many certificates this cache has minted (hits do not count). */
  get mints(): number {
    return this.#mints;
  }

  /** The key types this cache mints with. */
  get keyTypes(): KeyType[] {
    return [...this.#leafKeys.keys()];
  }

  /**
   * The leaf for these names, with the leaf key of `keyType` when this cache has one (else its first key): cached,
   * shared with a mint under way, or minted now.
   */
  get(names: HostName[], keyType?: KeyType): Promise<MintedLeaf> {
    const leafKey = (keyType && this.#leafKeys.get(keyType)) || this.#defaultKey;
    let key: string;
    try {
      key = `${leafKey.type}|${leafNames(names).map(hostKey).join(',')}`;
    } catch (error) {
      return Promise.reject(error instanceof CertError ? error : new CertError('MINT_BAD_NAME', String(error)));
    }
    const hit = this.#entries.get(key);
    if (hit && !this.#stale(hit)) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return Promise.resolve(hit);
    }
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const minting = this.#mint(names, leafKey).then(
      (leaf) => {
        this.#pending.delete(key);
        this.#entries.delete(key);
        this.#entries.set(key, leaf);
        while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
        return leaf;
      },
      (error: unknown) => {
        this.#pending.delete(key);
        throw error;
      },
    );
    this.#pending.set(key, minting);
    return minting;
  }

  /** Drops every cached certificate (e.g. after the CA changed). */
  clear(): void {
    this.#entries.clear();
  }

  // Stale when close to expiry, unless the CA's own end caps it (a new mint would not last longer).
  #stale(leaf: MintedLeaf): boolean {
    const left = leaf.notAfter.getTime() - this.#now().getTime();
    return left <= 0 || (left < this.#refreshBeforeMs && leaf.notAfter.getTime() < Math.floor(this.#ca.notAfter.getTime() / 1000) * 1000);
  }

  async #mint(names: HostName[], leafKey: LeafKey): Promise<MintedLeaf> {
    // A waiting mint is handed its slot by the one that ends (below), still counted: a get() arriving in between finds
    // no free slot, so no more than MINT_CONCURRENCY run at once.
    if (this.#active >= MINT_CONCURRENCY) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    this.#running++;
    this.#peak = Math.max(this.#peak, this.#running);
    try {
      // Builds the certificate here and starts signing it on the thread pool…
      const signing = mintLeafAsync(this.#ca, leafKey, names, this.#now());
      // …and takes a context that holds the key (or parses the key into a fresh one meanwhile).
      const context = this.#spare.get(leafKey.type)?.pop() ?? keyedContext(leafKey.contextKeyPem);
      const minted = await signing;
      const chain = minted.certPem + this.#chainTail;
      const ready = context && attachChain(context, chain) ? context : tls.createSecureContext({ key: leafKey.contextKeyPem, cert: chain, secureOptions: LEAF_SECURE_OPTIONS, ca: [] });
      this.#mints++;
      return { context: ready, certPem: minted.certPem, certDer: minted.certDer, notAfter: minted.notAfter, names: minted.names, keyType: leafKey.type };
    } finally {
      this.#running--;
      // Hand the slot over on a later turn of the event loop: resumed in this microtask queue, a burst of waiting
      // mints would run their synchronous parts back to back and hold the loop for milliseconds.
      const next = this.#waiting.shift();
      if (next) setImmediate(next);
      else this.#active--;
      this.#refillSpares();
    }
  }

  /**
   * Tops the spare contexts up on later turns of the event loop, one key parse per turn. Stops for good when this
   * Node cannot add a chain to a keyed context (keyedContext gives null): mints then build whole contexts.
   */
  #refillSpares(): void {
    if (this.#refillQueued || this.#noSpares) return;
    this.#refillQueued = true;
    setImmediate(() => {
      this.#refillQueued = false;
      for (const leafKey of this.#leafKeys.values()) {
        const spare = this.#spare.get(leafKey.type) ?? [];
        if (spare.length >= SPARE_CONTEXTS) continue;
        const context = keyedContext(leafKey.contextKeyPem);
        if (!context) {
          this.#noSpares = true;
          return;
        }
        spare.push(context);
        this.#spare.set(leafKey.type, spare);
        this.#refillSpares();
        return;
      }
    });
  }
}
