// Per-connection certificate work, done once per distinct certificate: the same origin presents the same chain on
// every connection, and the forged leaf repeats for as long as it is cached. Summaries and the four-check
// verification are memoized here, bounded.

import { createHash, type X509Certificate } from 'node:crypto';
import { summarizeCertificate } from '../certs/summary.js';
import type { CertificateSummary, UpstreamVerification, VerificationCheck } from '../protocol/tls.js';
import { chainChecks, combineChecks, nameCheck, type TrustStore } from '../tls/verification.js';

const MAX_ENTRIES = 2_000;
// Validity depends on the clock: a verdict is reused for a minute at most.
const VERDICT_TTL_MS = 60_000;

/** A Map that forgets its oldest entries beyond `max`. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
  }

  override set(key: K, value: V): this {
    super.set(key, value);
    if (this.size > this.max) this.delete(this.keys().next().value!);
    return this;
  }
}

export class CertMemo {
  readonly #summaries = new BoundedMap<string, CertificateSummary>(MAX_ENTRIES);
  readonly #verdicts = new BoundedMap<string, { at: number; verification: UpstreamVerification }>(MAX_ENTRIES);
  // The chain's own checks (validity, issuer, signatures: ~0.15 ms) are shared by every host it is presented for, so a
  // new host under a known certificate (a wildcard, a CDN) costs only the name match.
  readonly #chainVerdicts = new BoundedMap<string, { at: number; checks: [VerificationCheck, VerificationCheck, VerificationCheck] }>(MAX_ENTRIES);

  constructor(private readonly trust: TrustStore) {}

  /** The summary of a certificate, computed once per distinct DER. */
  summary(cert: Buffer | X509Certificate): CertificateSummary {
    const der = Buffer.isBuffer(cert) ? cert : cert.raw;
    const key = digest(der);
    let summary = this.#summaries.get(key);
    if (!summary) {
      summary = summarizeCertificate(cert);
      this.#summaries.set(key, summary);
    }
    return summary;
  }

  /** The four checks for this chain, host and Node verdict, reused for a minute. */
  verify(chain: readonly X509Certificate[], host: string, nodeError: string | null): UpstreamVerification {
    const chainKey = chain.map((cert) => digest(cert.raw)).join(',');
    const key = `${chainKey}|${host}|${nodeError ?? ''}`;
    const now = Date.now();
    const cached = this.#verdicts.get(key);
    if (cached && now - cached.at < VERDICT_TTL_MS) return cached.verification;
    let chainVerdict = this.#chainVerdicts.get(chainKey);
    if (!chainVerdict || now - chainVerdict.at >= VERDICT_TTL_MS) {
      chainVerdict = { at: now, checks: chainChecks(chain, this.trust, new Date(now)) };
      this.#chainVerdicts.set(chainKey, chainVerdict);
    }
    const verification = combineChecks(chainVerdict.checks, nameCheck(chain[0], host), nodeError);
    this.#verdicts.set(key, { at: now, verification });
    return verification;
  }
}

function digest(der: Buffer): string {
  // A map key, not a security decision: SHA-1 is the cheapest digest OpenSSL accelerates here.
  return createHash('sha1').update(der).digest('base64');
}
