// The CA page's self-test, without Svelte: start a probe on the hub, make the browser fetch it (through whatever
// proxy it uses), and read back what mitmlab saw. Why this design: see server/hub/self-test.ts.

import type { SelfTestResult, WhoAmI } from '../../../../server/protocol/wire.js';
import { fetchSelfTest, fetchWhoAmI, NO_STORE, startSelfTest } from '../client/api.js';

export type Verdict =
  /** Proxied, and the browser accepted mitmlab's certificate: the lab CA is trusted here. */
  | 'trusted'
  /** Proxied, but the browser refused the certificate: the lab CA is not trusted here. */
  | 'untrusted'
  /** Proxied, but no handshake was seen: an HTTPS proxy exception, or the probe did not finish. */
  | 'proxied-unknown'
  /** The probe never reached mitmlab: this browser does not use it as its proxy. */
  | 'not-proxied';

export interface SelfTestReport {
  verdict: Verdict;
  result: SelfTestResult;
  whoami: WhoAmI | null;
}

/** Reads a result into a verdict. */
export function verdictOf(result: SelfTestResult): Verdict {
  if (result.clientTls === 'established') return 'trusted';
  if (result.clientTls === 'failed') return 'untrusted';
  return result.viaProxy ? 'proxied-unknown' : 'not-proxied';
}

/** Runs the self-test: ~1–8 s, bounded by `timeoutMs` per probe. */
export async function runSelfTest(timeoutMs = 6000): Promise<SelfTestReport> {
  const [start, whoami] = await Promise.all([startSelfTest(), fetchWhoAmI().catch(() => null)]);
  const probe = async (url: string) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      // no-cors: we never read the answer (page scripts cannot see certificate errors anyway); mitmlab's bus tells.
      await fetch(url, { ...NO_STORE, mode: 'no-cors', credentials: 'omit', signal: controller.signal });
    } catch {
      // Expected whenever the probe is refused or not proxied.
    } finally {
      clearTimeout(timer);
    }
  };
  await Promise.all([probe(start.probeUrl), probe(start.probeUrl.replace(/^https:/, 'http:'))]);
  // The bus is asynchronous; give the last events a moment to land.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const result = await fetchSelfTest(start.id);
  return { verdict: verdictOf(result), result, whoami };
}
