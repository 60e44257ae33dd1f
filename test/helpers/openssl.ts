// openssl as an independent oracle for certificates (DESIGN.md §5): `openssl verify -x509_strict` and
// `openssl x509 -text`. Callers gate on requireTools('openssl') from tools.ts.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from './run.js';

export interface VerifyOptions {
  /** Adds -x509_strict (RFC 5280 conformance checks). Default true. */
  strict?: boolean;
  /** Checks the certificate against a host name (-verify_hostname). */
  hostname?: string;
  /** Checks the certificate against an IP address (-verify_ip). */
  ip?: string;
  /** Checks the TLS server purpose (-purpose sslserver). Default true. */
  sslServer?: boolean;
  /** Extra untrusted intermediates (PEM). */
  untrustedPem?: string;
  /** Verification time (-attime). */
  at?: Date;
}

export interface OpensslResult {
  ok: boolean;
  output: string;
}

/** `openssl verify` of a PEM certificate against a CA file. */
export async function opensslVerify(caPath: string, certPem: string, opts: VerifyOptions = {}): Promise<OpensslResult> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mitmlab-verify-'));
  try {
    const certPath = path.join(dir, 'leaf.pem');
    await fs.writeFile(certPath, certPem);
    const args = ['verify'];
    if (opts.strict !== false) args.push('-x509_strict');
    if (opts.sslServer !== false) args.push('-purpose', 'sslserver');
    if (opts.hostname) args.push('-verify_hostname', opts.hostname);
    if (opts.ip) args.push('-verify_ip', opts.ip);
    if (opts.at) args.push('-attime', String(Math.floor(opts.at.getTime() / 1000)));
    if (opts.untrustedPem) {
      const untrusted = path.join(dir, 'untrusted.pem');
      await fs.writeFile(untrusted, opts.untrustedPem);
      args.push('-untrusted', untrusted);
    }
    args.push('-CAfile', caPath, certPath);
    const result = await run('openssl', args);
    const output = `${result.stdout}${result.stderr}`;
    return { ok: result.code === 0 && /: OK\s*$/m.test(result.stdout), output };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** `openssl x509 -noout -text` of a PEM certificate. */
export async function opensslText(certPem: string): Promise<string> {
  const result = await run('openssl', ['x509', '-noout', '-text'], { input: certPem });
  if (result.code !== 0) throw new Error(`openssl x509 failed: ${result.stderr}`);
  return result.stdout;
}

/** `openssl x509 -noout -fingerprint -sha256` value (colon hex). */
export async function opensslFingerprint(certPem: string): Promise<string> {
  const result = await run('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: certPem });
  if (result.code !== 0) throw new Error(`openssl x509 failed: ${result.stderr}`);
  return result.stdout.trim().replace(/^.*=/, '');
}
