import { describe, expect, it } from 'vitest';
import { hostFieldProblem } from '../../../server/core/connect-target.js';

describe('hostFieldProblem (RFC 9112 §3.2)', () => {
  it('accepts one valid Host, the same on every request of a connection', () => {
    for (let i = 0; i < 3; i++) expect(hostFieldProblem(['Host', 'a.test:8443', 'Accept', '*/*'], '1.1')).toBeNull();
    expect(hostFieldProblem(['Host', '[::1]:80'], '1.1')).toBeNull();
  });

  it('refuses two Host lines even when each value alone was accepted before', () => {
    expect(hostFieldProblem(['Host', 'a.test'], '1.1')).toBeNull();
    expect(hostFieldProblem(['Host', 'a.test', 'host', 'a.test'], '1.1')).toMatch(/more than one Host/);
  });

  it('refuses a missing Host in HTTP/1.1 only, and an invalid value every time', () => {
    expect(hostFieldProblem(['Accept', '*/*'], '1.1')).toMatch(/no Host header field/);
    expect(hostFieldProblem([], '1.0')).toBeNull();
    for (let i = 0; i < 2; i++) expect(hostFieldProblem(['Host', 'a b.test'], '1.1')).toMatch(/not a valid host\[:port\]/);
  });
});
