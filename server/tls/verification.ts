// The origin's certificate, checked the way a browser checks it: four separate verdicts instead of OpenSSL's single
// first error, so a student sees *which* rule failed (RFC 5280 §6 path validation, RFC 6125 / RFC 9110 §4.3.4 names).
// Pure: takes parsed certificates and a trust list, does no I/O.

import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { UpstreamVerification, VerificationCheck } from '../protocol/tls.js';

/** Trust anchors, parsed once (Node's roots + --upstream-ca + NODE_EXTRA_CA_CERTS). */
export class TrustStore {
  readonly #anchors: X509Certificate[];
  readonly #fingerprints: Set<string>;
  // Anchors by subject: checkIssued() compares the issuer name first, so only same-named anchors can match and a
  // lookup replaces a scan of ~150 roots per connection.
  readonly #bySubject = new Map<string, X509Certificate[]>();

  constructor(pems: readonly string[]) {
    this.#anchors = [];
    for (const pem of pems) {
      try {
        this.#anchors.push(new X509Certificate(pem));
      } catch {
        // An unparsable root is ignored here; OpenSSL ignores it too when building its store.
      }
    }
    this.#fingerprints = new Set(this.#anchors.map((cert) => cert.fingerprint256));
    for (const anchor of this.#anchors) {
      const list = this.#bySubject.get(anchor.subject);
      if (list) list.push(anchor);
      else this.#bySubject.set(anchor.subject, [anchor]);
    }
  }

  get size(): number {
    return this.#anchors.length;
  }

  isAnchor(cert: X509Certificate): boolean {
    return this.#fingerprints.has(cert.fingerprint256);
  }

  /** An anchor that issued `cert` and whose key verifies its signature. */
  issuerOf(cert: X509Certificate): X509Certificate | undefined {
    return this.#bySubject.get(cert.issuer)?.find((anchor) => cert.checkIssued(anchor) && safeVerify(cert, anchor));
  }
}

/**
 * Signed by its own key under its own name. Not X509Certificate.checkIssued(cert, cert): OpenSSL's issuer check
 * also requires keyCertSign, which a self-signed server certificate usually lacks (RFC 5280 §4.2.1.3).
 */
function isSelfSigned(cert: X509Certificate): boolean {
  return cert.subject === cert.issuer && safeVerify(cert, cert);
}

function safeVerify(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

// Node reports OpenSSL's X509_V_ERR_* names as error codes (openssl verify(1), "Diagnostics").
const REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not yet valid',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed root not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown issuer',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown issuer',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown issuer',
  CERT_SIGNATURE_FAILURE: 'bad signature',
  CERT_REVOKED: 'revoked',
  CERT_UNTRUSTED: 'not trusted',
  INVALID_CA: 'issuer is not a CA',
  ERR_TLS_CERT_ALTNAME_INVALID: 'name mismatch',
  HOSTNAME_MISMATCH: 'name mismatch',
};

/** The words for an OpenSSL / Node verification error code. */
export function verificationReason(code: string): string {
  return REASONS[code] ?? code.toLowerCase().replace(/_/g, ' ');
}

export interface VerifyInput {
  /** The chain as the origin sent it, leaf first. */
  chain: readonly X509Certificate[];
  /** The name the client asked for (SNI or CONNECT host), or an IP literal. */
  host: string;
  /** Node's verdict: `socket.authorizationError` (null when authorized). */
  nodeError: string | null;
  trust: TrustStore;
  now?: Date;
}

/** Runs the four browser checks and combines them with Node's verdict. */
export function verifyUpstreamChain(input: VerifyInput): UpstreamVerification {
  return combineChecks(chainChecks(input.chain, input.trust, input.now ?? new Date()), nameCheck(input.chain[0], input.host), input.nodeError);
}

/** The three checks that depend on the chain alone (not on the host it was presented for). */
export function chainChecks(chain: readonly X509Certificate[], trust: TrustStore, now: Date): [VerificationCheck, VerificationCheck, VerificationCheck] {
  return [validityCheck(chain, now), chainCheck(chain, trust), signatureCheck(chain, trust)];
}

/** The verdict from the chain's checks, the name check and Node's own verdict (which outranks ours). */
export function combineChecks(
  [validity, chain, signature]: readonly [VerificationCheck, VerificationCheck, VerificationCheck],
  name: VerificationCheck,
  nodeError: string | null,
): UpstreamVerification {
  const checks = [validity, chain, name, signature];
  const failed = checks.find((check) => !check.ok);
  const trusted = nodeError === null && failed === undefined;
  let reason: string | null = null;
  if (nodeError !== null) reason = verificationReason(nodeError);
  else if (failed) reason = failed.reason;
  return { trusted, errorCode: nodeError, reason, checks };
}

function validityCheck(chain: readonly X509Certificate[], now: Date): VerificationCheck {
  if (chain.length === 0) return { check: 'validity', ok: false, reason: 'the origin sent no certificate' };
  for (const cert of chain) {
    const from = new Date(cert.validFrom);
    const to = new Date(cert.validTo);
    const who = cert === chain[0] ? 'the certificate' : `the issuer ${commonName(cert)}`;
    if (now < from) return { check: 'validity', ok: false, reason: `not yet valid: ${who} starts on ${from.toISOString()}` };
    if (now > to) return { check: 'validity', ok: false, reason: `expired: ${who} ended on ${to.toISOString()}` };
  }
  return { check: 'validity', ok: true, reason: `valid until ${new Date(chain[0]!.validTo).toISOString()}` };
}

function chainCheck(chain: readonly X509Certificate[], trust: TrustStore): VerificationCheck {
  if (chain.length === 0) return { check: 'chain', ok: false, reason: 'the origin sent no certificate' };
  // Walk up from the leaf using the certificates the origin sent, until one is, or is issued by, a trust anchor.
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    if (trust.isAnchor(cert)) return { check: 'chain', ok: true, reason: `chains to the trusted root ${commonName(cert)}` };
    const anchor = trust.issuerOf(cert);
    if (anchor) return { check: 'chain', ok: true, reason: `chains to the trusted root ${commonName(anchor)}` };
    const next = chain[i + 1];
    if (!next || !cert.checkIssued(next)) {
      if (isSelfSigned(cert)) {
        return {
          check: 'chain',
          ok: false,
          reason: i === 0 ? 'self-signed: the certificate signs itself and no trusted root vouches for it' : `self-signed root ${commonName(cert)} is not trusted`,
        };
      }
      return { check: 'chain', ok: false, reason: `unknown issuer: nothing trusted issued ${commonName(cert)} (issuer ${cert.issuer.replace(/\n/g, ', ')})` };
    }
  }
  return { check: 'chain', ok: false, reason: 'unknown issuer' };
}

/** Whether the leaf names `host` (RFC 6125; the subject CN is never used, as browsers do). */
export function nameCheck(leaf: X509Certificate | undefined, host: string): VerificationCheck {
  if (!leaf) return { check: 'name', ok: false, reason: 'the origin sent no certificate' };
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const matched = isIP(bare) ? leaf.checkIP(bare) : leaf.checkHost(bare, { subject: 'never' });
  if (matched !== undefined) return { check: 'name', ok: true, reason: `${bare} matches the certificate's names` };
  const names = leaf.subjectAltName ?? '(no subjectAltName)';
  return { check: 'name', ok: false, reason: `name mismatch: ${bare} is not among ${names}` };
}

function signatureCheck(chain: readonly X509Certificate[], trust: TrustStore): VerificationCheck {
  if (chain.length === 0) return { check: 'signature', ok: false, reason: 'the origin sent no certificate' };
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    const next = chain[i + 1];
    const issuer = next && cert.checkIssued(next) ? next : cert.subject === cert.issuer ? cert : trust.issuerOf(cert);
    if (!issuer) continue; // Without the issuer there is nothing to verify against; the chain check reports it.
    if (!safeVerify(cert, issuer)) {
      return { check: 'signature', ok: false, reason: `the signature on ${commonName(cert)} does not verify with ${commonName(issuer)}'s key` };
    }
  }
  return { check: 'signature', ok: true, reason: 'every signature in the chain verifies' };
}

function commonName(cert: X509Certificate): string {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return cn ? cn[1]! : cert.subject.replace(/\n/g, ', ');
}
