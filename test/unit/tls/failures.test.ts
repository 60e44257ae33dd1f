import { describe, expect, it } from 'vitest';
import { alertFromErrorCode, classifyClientFailure, classifyUpstreamFailure } from '../../../server/tls/failures.js';

describe('client-leg failures', () => {
  it.each(['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED'])(
    '%s → cert-rejected with a sentence naming the host',
    (code) => {
      const failure = classifyClientFailure({ leg: 'client', host: 'example.com', code });
      expect(failure.cause).toBe('cert-rejected');
      expect(failure.message).toContain("The browser refused mitmlab's certificate for example.com");
    },
  );

  it('a silent close after our TLS 1.3 flight (Chromium) is a certificate rejection', () => {
    const failure = classifyClientFailure({ leg: 'client', host: 'example.com', code: 'SILENT_CERT_REJECT' });
    expect(failure.cause).toBe('cert-rejected');
    expect(failure.message).toContain('without an alert');
  });

  it('prefers the alert the transcript decoded', () => {
    expect(classifyClientFailure({ leg: 'client', host: 'h', code: 'ECONNRESET', peerAlert: 'unknown_ca' }).cause).toBe('cert-rejected');
  });

  it.each([
    ['ERR_SSL_NO_SHARED_CIPHER', 'no-shared-cipher'],
    ['ERR_SSL_UNSUPPORTED_PROTOCOL', 'version-mismatch'],
    ['HANDSHAKE_TIMEOUT', 'handshake-timeout'],
    ['CLOSED_AFTER_HANDSHAKE', 'closed-after-handshake'],
    ['ECONNRESET', 'reset'],
    ['SOMETHING_ELSE', 'unknown'],
    [undefined, 'unknown'],
  ])('%s → %s', (code, cause) => {
    expect(classifyClientFailure({ leg: 'client', host: 'h', code }).cause).toBe(cause);
  });
});

describe('upstream-leg failures', () => {
  it.each([
    ['ENOTFOUND', 'upstream-dns'],
    ['EAI_AGAIN', 'upstream-dns'],
    ['ECONNREFUSED', 'upstream-unreachable'],
    ['CONNECT_TIMEOUT', 'upstream-unreachable'],
    ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'version-mismatch'],
    ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'no-shared-cipher'],
    ['ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR', 'upstream-alert'],
    ['HANDSHAKE_TIMEOUT', 'handshake-timeout'],
    ['ECONNRESET', 'reset'],
  ])('%s → %s', (code, cause) => {
    const failure = classifyUpstreamFailure({ leg: 'upstream', host: 'origin.test', code });
    expect(failure.cause).toBe(cause);
    expect(failure.message).toContain('origin.test');
  });

  it('names the port of a connection that was refused or timed out (a wrong port is a common mistake)', () => {
    expect(classifyUpstreamFailure({ leg: 'upstream', host: 'shop.test', code: 'ECONNREFUSED', port: 443 }).message).toMatch(/could not reach shop\.test on port 443: the connection was refused/);
    expect(classifyUpstreamFailure({ leg: 'upstream', host: 'shop.test', code: 'CONNECT_TIMEOUT', port: 8443 }).message).toMatch(/shop\.test on port 8443: the connection timed out/);
    // A host already given with its port is not told it twice.
    expect(classifyUpstreamFailure({ leg: 'upstream', host: 'shop.test:8443', code: 'ECONNREFUSED', port: 8443 }).message).toMatch(/reach shop\.test:8443: /);
  });

  it('tells an origin that is not TLS from a version mismatch, and a close from a reset', () => {
    const notTls = classifyUpstreamFailure({ leg: 'upstream', host: 'plain.test', code: 'ERR_SSL_WRONG_VERSION_NUMBER', notTls: true });
    expect(notTls.message).toMatch(/did not answer with TLS/);
    expect(notTls.cause).toBe('unknown');
    expect(classifyUpstreamFailure({ leg: 'upstream', host: 'o.test', code: 'ECONNRESET', peerClosed: true }).message).toMatch(/closed the connection/);
    expect(classifyUpstreamFailure({ leg: 'upstream', host: 'o.test', code: 'ECONNRESET' }).message).toMatch(/reset the connection/);
  });

  it('explains an origin that requires a client certificate, in TLS 1.2 (it asked) and 1.3 (its alert)', () => {
    const tls12 = classifyUpstreamFailure({ leg: 'upstream', host: 'o.test', code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', clientCertRequested: true });
    expect(tls12).toMatchObject({ cause: 'upstream-alert', alert: 'handshake_failure' });
    expect(tls12.message).toMatch(/requires a client certificate \(it asked for one/);
    const tls13 = classifyUpstreamFailure({ leg: 'upstream', host: 'o.test', code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    expect(tls13).toMatchObject({ cause: 'upstream-alert', alert: 'certificate_required' });
    expect(tls13.message).toMatch(/requires a client certificate.*TLS 1\.3/);
  });

  it('reads alert names out of OpenSSL error codes', () => {
    expect(alertFromErrorCode('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')).toBe('unknown_ca');
    expect(alertFromErrorCode('ECONNRESET')).toBeNull();
  });
});
