// The origin's PKI for one bench run, made with the openssl CLI in a temp folder: a root and one leaf for the origin's
// names. Nothing is committed; the folder goes away with the run.

import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where the origin's root and leaf live. */
export interface OriginPki {
  rootPath: string;
  rootPem: string;
  certPath: string;
  keyPath: string;
}

/** Creates a root and a leaf valid for `names` (DNS names, wildcards allowed) and 127.0.0.1, under `dir`. */
export async function createOriginPki(dir: string, names: readonly string[]): Promise<OriginPki> {
  const file = (name: string): string => path.join(dir, name);
  // RSA 2048, like most public web servers, so the upstream handshake costs what a real one would.
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('root.key'), '-out', file('root.pem'),
    '-days', '2', '-subj', '/CN=mitmlab bench origin root', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('origin.key'), '-out', file('origin.csr'),
    '-subj', `/CN=${names[0] ?? 'origin'}`]);
  // Browsers (and every peer here) check the SAN only, never the CN (CA/B Forum BR §7.1.4.2.1).
  const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
  await writeFile(file('origin.ext'), [
    `subjectAltName=${san}`,
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
  ].join('\n') + '\n');
  await run('openssl', ['x509', '-req', '-in', file('origin.csr'), '-CA', file('root.pem'), '-CAkey', file('root.key'),
    '-set_serial', `0x${Date.now().toString(16)}`, '-days', '2', '-sha256', '-extfile', file('origin.ext'), '-out', file('origin.pem')]);
  return { rootPath: file('root.pem'), rootPem: await readFile(file('root.pem'), 'utf8'), certPath: file('origin.pem'), keyPath: file('origin.key') };
}
