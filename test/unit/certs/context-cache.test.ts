import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LabCa } from '../../../server/certs/ca.js';
import { CertCache, MINT_CONCURRENCY, SPARE_CONTEXTS } from '../../../server/certs/context-cache.js';
import type { HostName } from '../../../server/certs/hostnames.js';
import type { LeafKey } from '../../../server/certs/leaf-key.js';
import { freshCa, sharedLeafKey } from './fixtures.js';

const DAY = 86_400_000;
const dns = (name: string): HostName => ({ kind: 'dns', name });

let ca: LabCa;
let leafKey: LeafKey;
beforeAll(async () => {
  [ca, leafKey] = await Promise.all([freshCa({ keyType: 'ec' }), sharedLeafKey('ec')]);
});

describe('CertCache', () => {
  it('mints once per name set and returns the cached leaf afterwards', async () => {
    const cache = new CertCache({ ca, leafKey });
    const a = await cache.get([dns('a.test')]);
    const b = await cache.get([dns('a.test')]);
    expect(b).toBe(a);
    expect(cache.size).toBe(1);
    expect(cache.mints).toBe(1);
    expect(a.names).toEqual(['a.test']);
    expect(new X509Certificate(a.certDer).subject).toBe('CN=a.test');
    expect(a.context.context).toBeDefined();
  });

  it('keys by the certificate names, so names that map to the same SAN share a leaf', async () => {
    const cache = new CertCache({ ca, leafKey });
    const a = await cache.get([dns('a_b.example.test')]);
    const b = await cache.get([dns('c_d.example.test')]);
    expect(b).toBe(a);
    expect(a.names).toEqual(['*.example.test']);
    const c = await cache.get([dns('x.test'), dns('y.test')]);
    const d = await cache.get([dns('y.test'), dns('x.test')]);
    expect(d).not.toBe(c); // the first name is the CN: order matters
  });

  it('shares one pending mint between concurrent gets', async () => {
    const cache = new CertCache({ ca, leafKey });
    const results = await Promise.all(Array.from({ length: 20 }, () => cache.get([dns('same.test')])));
    expect(new Set(results).size).toBe(1);
    expect(cache.mints).toBe(1);
  });

  it('runs at most MINT_CONCURRENCY mints at once, also when a new host comes as one ends and a waiting one resumes', async () => {
    const cache = new CertCache({ ca, leafKey });
    const first = ['a', 'b', 'c', 'd'].map((name) => cache.get([dns(`${name}.burst.test`)]));
    // Two mint, two wait. As soon as one ends, a new host asks: the slot it left is already handed to a waiting mint.
    await Promise.race(first);
    const late = cache.get([dns('late.burst.test')]);
    await Promise.all([...first, late]);
    expect(cache.mints).toBe(5);
    expect(cache.peakMinting).toBe(MINT_CONCURRENCY);
  });

  it('keeps keyed contexts ready for the next mints, takes one per mint, and tops them up on later turns', async () => {
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const cache = new CertCache({ ca, leafKey });
    expect(cache.spareContexts).toEqual({ ec: 0 }); // none parsed in the constructor: one per later turn
    for (let i = 0; i < SPARE_CONTEXTS + 1; i++) await turn();
    expect(cache.spareContexts).toEqual({ ec: SPARE_CONTEXTS });
    const leaf = cache.get([dns('spare.test')]);
    expect(cache.spareContexts).toEqual({ ec: SPARE_CONTEXTS - 1 }); // taken synchronously by the mint
    const { context, certDer } = await leaf;
    // The spare became this leaf's context, and holds its certificate.
    const native = (context as unknown as { context: { getCertificate(): Buffer | null } }).context;
    expect(Buffer.from(native.getCertificate()!).equals(certDer)).toBe(true);
    for (let i = 0; i < SPARE_CONTEXTS + 1; i++) await turn();
    expect(cache.spareContexts).toEqual({ ec: SPARE_CONTEXTS });
  });

  it('with an RSA and an EC leaf key, mints per key type and serves the type asked for', async () => {
    const rsaKey = await sharedLeafKey('rsa');
    const cache = new CertCache({ ca, leafKey: [leafKey, rsaKey] });
    expect(cache.keyTypes).toEqual(['ec', 'rsa']);
    const ec = await cache.get([dns('both.test')], 'ec');
    const rsa = await cache.get([dns('both.test')], 'rsa');
    expect([ec.keyType, rsa.keyType]).toEqual(['ec', 'rsa']);
    expect(new X509Certificate(ec.certDer).publicKey.asymmetricKeyType).toBe('ec');
    expect(new X509Certificate(rsa.certDer).publicKey.asymmetricKeyType).toBe('rsa');
    expect(cache.mints).toBe(2);
    expect(await cache.get([dns('both.test')], 'rsa')).toBe(rsa);
    // Without a type, or with one it has no key for, the first key given serves.
    expect(await cache.get([dns('both.test')])).toBe(ec);
    const single = new CertCache({ ca, leafKey });
    expect((await single.get([dns('one.test')], 'rsa')).keyType).toBe('ec');
    expect(() => new CertCache({ ca, leafKey: [leafKey, leafKey] })).toThrow(RangeError);
  });

  it('evicts the least recently used entry beyond max', async () => {
    const cache = new CertCache({ ca, leafKey, max: 2 });
    const a = await cache.get([dns('a.test')]);
    await cache.get([dns('b.test')]);
    expect(await cache.get([dns('a.test')])).toBe(a); // a is now the most recent
    await cache.get([dns('c.test')]); // evicts b
    expect(cache.size).toBe(2);
    expect(await cache.get([dns('a.test')])).toBe(a);
    const mintsBefore = cache.mints;
    await cache.get([dns('b.test')]);
    expect(cache.mints).toBe(mintsBefore + 1);
  });

  it('mints again when an entry is within a day of expiry', async () => {
    let now = Date.now();
    const cache = new CertCache({ ca, leafKey, now: () => new Date(now) });
    const first = await cache.get([dns('exp.test')]);
    now = first.notAfter.getTime() - 2 * DAY;
    expect(await cache.get([dns('exp.test')])).toBe(first);
    now = first.notAfter.getTime() - DAY / 2;
    const second = await cache.get([dns('exp.test')]);
    expect(second).not.toBe(first);
    expect(second.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
    expect(cache.size).toBe(1);
  });

  it('rejects bad names without caching a failure', async () => {
    const cache = new CertCache({ ca, leafKey });
    await expect(cache.get([])).rejects.toMatchObject({ code: 'MINT_NO_NAMES' });
    await expect(cache.get([dns('a/b')])).rejects.toMatchObject({ code: 'MINT_BAD_NAME' });
    expect(cache.size).toBe(0);
  });

  it('rejects when the CA has expired, and caches nothing', async () => {
    const cache = new CertCache({ ca, leafKey, now: () => new Date(ca.notAfter.getTime() + 1000) });
    await expect(cache.get([dns('late.test')])).rejects.toMatchObject({ code: 'CA_EXPIRED' });
    expect(cache.size).toBe(0);
  });

  it('validates max', () => {
    expect(() => new CertCache({ ca, leafKey, max: 0 })).toThrow(RangeError);
  });
});

describe('keyed contexts (attach-cert)', () => {
  it('this Node supports adding the chain after the key, and the context then holds the leaf', async () => {
    const { keyedContext, attachChain } = await import('../../../server/certs/attach-cert.js');
    const { mintLeaf } = await import('../../../server/certs/mint.js');
    const context = keyedContext(leafKey.contextKeyPem);
    expect(context).not.toBeNull();
    const minted = mintLeaf(ca, leafKey, [dns('attach.test')]);
    expect(attachChain(context!, minted.certPem + ca.certPem)).toBe(true);
    const native = (context as unknown as { context: { getCertificate(): Buffer | null } }).context;
    expect(Buffer.from(native.getCertificate()!).equals(minted.certDer)).toBe(true);
  });
});
