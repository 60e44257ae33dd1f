// Which cached origin session a connection may offer: its own name's, or (TLS 1.3, same server, a certificate that
// covers the name) another name's.

import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { UpstreamSessions, type CachedSession } from '../../../server/core/upstream-sessions.js';
import { nameCheck } from '../../../server/tls/verification.js';
import { createTestPki } from '../../helpers/test-pki.js';

let wildcard: X509Certificate;
let other: X509Certificate;

beforeAll(async () => {
  const pki = await createTestPki({ names: ['other.test'] });
  wildcard = new X509Certificate((await pki.issue({ names: ['*.sib.test'] })).certPem);
  other = new X509Certificate(pki.valid.certPem);
  await pki.dispose();
});

function entry(leaf: X509Certificate, overrides: Partial<CachedSession> = {}): CachedSession {
  return {
    session: Buffer.from('ticket'),
    chain: [leaf],
    verification: { trusted: true } as CachedSession['verification'],
    address: '127.0.0.1',
    port: 443,
    tls13: true,
    ...overrides,
  };
}

const covers = (name: string) => (e: CachedSession) => nameCheck(e.chain[0], name).ok;

describe('UpstreamSessions.sibling', () => {
  it('finds a trusted TLS 1.3 session of the same server whose certificate covers the name', () => {
    const sessions = new UpstreamSessions();
    const a = entry(wildcard);
    sessions.set(UpstreamSessions.key('a.sib.test', 443, 'a.sib.test'), a);
    sessions.set(UpstreamSessions.key('other.test', 443, 'other.test'), entry(other));
    expect(sessions.sibling('127.0.0.1', 443, covers('b.sib.test'))).toBe(a);
    expect(sessions.sibling('127.0.0.2', 443, covers('b.sib.test'))).toBeUndefined(); // another server
    expect(sessions.sibling('127.0.0.1', 8443, covers('b.sib.test'))).toBeUndefined(); // another port
    expect(sessions.sibling('127.0.0.1', 443, covers('c.example.test'))).toBeUndefined(); // not covered
  });

  it('never offers a TLS 1.2 session or an untrusted one under another name, nor one the origin declined', () => {
    const sessions = new UpstreamSessions();
    sessions.set(UpstreamSessions.key('a.sib.test', 443, 'a.sib.test'), entry(wildcard, { tls13: false }));
    sessions.set(UpstreamSessions.key('x.sib.test', 443, 'x.sib.test'), entry(wildcard, { verification: { trusted: false } as CachedSession['verification'] }));
    expect(sessions.sibling('127.0.0.1', 443, covers('b.sib.test'))).toBeUndefined();
    const good = UpstreamSessions.key('y.sib.test', 443, 'y.sib.test');
    sessions.set(good, entry(wildcard));
    expect(sessions.sibling('127.0.0.1', 443, covers('b.sib.test'))).toBeDefined();
    sessions.delete(good);
    expect(sessions.sibling('127.0.0.1', 443, covers('b.sib.test'))).toBeUndefined();
  });

  it('keeps the newest session per certificate', () => {
    const sessions = new UpstreamSessions();
    const first = entry(wildcard);
    const second = entry(new X509Certificate(wildcard.raw)); // the same certificate, parsed again
    sessions.set(UpstreamSessions.key('a.sib.test', 443, 'a.sib.test'), first);
    sessions.set(UpstreamSessions.key('b.sib.test', 443, 'b.sib.test'), second);
    expect(sessions.sibling('127.0.0.1', 443, covers('c.sib.test'))).toBe(second);
  });
});
