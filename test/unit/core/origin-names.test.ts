import { describe, expect, it } from 'vitest';
import type { X509Certificate } from 'node:crypto';
import { forgedNames, OriginNames, originSans, withinCaPermit } from '../../../server/core/origin-names.js';
import type { HostName } from '../../../server/certs/hostnames.js';

const dns = (name: string): HostName => ({ kind: 'dns', name });
/** Node's X509Certificate.subjectAltName text is all originSans reads (the integration tests use real certificates). */
const leaf = (subjectAltName: string | undefined) => ({ subjectAltName }) as X509Certificate;

describe('originSans', () => {
  it('keeps DNS names, wildcards and IP addresses in the origin order, normalized and without duplicates', () => {
    expect(originSans(leaf('DNS:Example.COM, DNS:*.example.com, IP Address:127.0.0.1, DNS:example.com, URI:https://x'))).toEqual([
      dns('example.com'),
      dns('*.example.com'),
      { kind: 'ip', address: '127.0.0.1', version: 4 },
    ]);
  });

  it('gives nothing without a certificate or SANs, and copies at most 100 names', () => {
    expect(originSans(undefined)).toEqual([]);
    expect(originSans(leaf(undefined))).toEqual([]);
    const many = Array.from({ length: 150 }, (_, i) => `DNS:h${i}.example.com`).join(', ');
    expect(originSans(leaf(many))).toHaveLength(100);
  });
});

describe('forgedNames', () => {
  it('is the origin list alone when it covers the host (RFC 6125 §6.4.3), else the host first', () => {
    const copied = [dns('example.com'), dns('*.example.com')];
    expect(forgedNames('a.example.com', copied)).toEqual(copied);
    expect(forgedNames('a.b.example.com', copied)).toEqual([dns('a.b.example.com'), ...copied]);
    expect(forgedNames('example.com', [dns('www.example.com'), dns('example.com')])).toEqual([dns('www.example.com'), dns('example.com')]);
    expect(forgedNames('other.test', [])).toEqual([dns('other.test')]);
  });
});

describe('OriginNames', () => {
  it('predicts a host covered by a certificate seen on the same port: the same name, or a sibling under its wildcard', () => {
    const names = new OriginNames();
    const copied = [dns('example.com'), dns('*.example.com')];
    names.learn(443, 'www.example.com', copied);
    expect(names.predict(443, 'example.com')).toEqual(copied);
    expect(names.predict(443, 'cdn.example.com')).toEqual(copied);
    expect(names.predict(443, 'CDN.Example.com')).toEqual(copied);
    // Not covered: one label too deep, another name, another port.
    expect(names.predict(443, 'a.cdn.example.com')).toBeNull();
    expect(names.predict(443, 'example.org')).toBeNull();
    expect(names.predict(8443, 'cdn.example.com')).toBeNull();
    expect(names.predict(443, 'not a host')).toBeNull();
  });

  it('files a list that does not cover the host under that host only, with the host first', () => {
    const names = new OriginNames();
    names.learn(443, 'odd.test', [dns('other.test'), dns('*.other.test')]);
    expect(names.predict(443, 'odd.test')).toEqual([dns('odd.test'), dns('other.test'), dns('*.other.test')]);
    // A sibling the origin's own names cover gets the origin's list, without odd.test.
    expect(names.predict(443, 'x.other.test')).toEqual([dns('other.test'), dns('*.other.test')]);
  });

  it('follows the latest certificate for a name, and IP literals by address', () => {
    const names = new OriginNames();
    names.learn(443, 'a.example.com', [dns('*.example.com')]);
    names.learn(443, 'a.example.com', [dns('a.example.com')]);
    expect(names.predict(443, 'a.example.com')).toEqual([dns('a.example.com')]);
    const ip = { kind: 'ip', address: '127.0.0.1', version: 4 } as const;
    names.learn(8443, '127.0.0.1', [ip]);
    expect(names.predict(8443, '127.0.0.1')).toEqual([ip]);
    expect(names.predict(8443, '127.0.0.2')).toBeNull();
  });

  it('never predicts from a wildcard over a single label, which no browser accepts', () => {
    const names = new OriginNames();
    names.learn(443, 'a.test', [dns('a.test'), dns('*.test')]);
    expect(names.predict(443, 'a.test')).toEqual([dns('a.test'), dns('*.test')]);
    expect(names.predict(443, 'b.test')).toBeNull();
    expect(forgedNames('b.test', [dns('a.test'), dns('*.test')])).toEqual([dns('b.test'), dns('a.test'), dns('*.test')]);
  });

  it('is bounded: the oldest names are forgotten first', () => {
    const names = new OriginNames(3);
    for (const host of ['a.test', 'b.test', 'c.test', 'd.test']) names.learn(443, host, [dns(host)]);
    expect(names.predict(443, 'a.test')).toBeNull();
    expect(names.predict(443, 'd.test')).toEqual([dns('d.test')]);
  });
});

describe('withinCaPermit', () => {
  const permits = (host: HostName): boolean => (host.kind === 'dns' ? host.name === 'lab.test' || host.name.endsWith('.lab.test') : false);
  const names: HostName[] = [
    { kind: 'dns', name: 'www.lab.test' },
    { kind: 'dns', name: 'origin.test' },
    { kind: 'ip', address: '127.0.0.1', version: 4 },
  ];

  it('keeps only the names the CA may vouch for when the browser asked for one of them', () => {
    expect(withinCaPermit(names, 'www.lab.test', permits)).toEqual([{ kind: 'dns', name: 'www.lab.test' }]);
  });

  it('changes nothing when the browser asked for a name outside (the client then refuses for the real reason)', () => {
    expect(withinCaPermit(names, 'origin.test', permits)).toEqual(names);
  });

  it('puts the browser name first when the only name covering it was left out', () => {
    const wildcardOnly: HostName[] = [{ kind: 'dns', name: '*.lab.test' }, { kind: 'dns', name: 'x.test' }];
    expect(withinCaPermit(wildcardOnly, 'a.lab.test', (h) => h.kind === 'dns' && h.name === 'a.lab.test')).toEqual([{ kind: 'dns', name: 'a.lab.test' }]);
  });
});
