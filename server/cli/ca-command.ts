// `mitmlab ca init|show|export|rotate`: the lab CA's command logic. Argument parsing is in options.ts/main.ts;
// this takes parsed options and an output sink, and returns the exit code (0 ok, 1 failure, 2 bad usage).

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { caPaths, loadOrCreateCa, rotateCa, type LabCa } from '../certs/ca.js';
import { CertError } from '../certs/errors.js';
import { readLeafKey } from '../certs/leaf-key.js';

export type CaSubcommand = 'init' | 'show' | 'export' | 'rotate';

export interface CaCommandOptions {
  caDir: string;
  /** DNS suffixes / IP CIDRs for a new CA's name constraints (init, rotate). */
  permit?: string[] | undefined;
  /** export: pem (default) or der. */
  format?: 'pem' | 'der' | undefined;
  /** export: file to write (standard output when absent; DER needs a file). */
  out?: string | undefined;
  /** The clock, for tests. */
  now?: Date | undefined;
}

export interface CaCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Standard output as bytes, for DER into a pipe or a file (`> mitmlab-ca.cer`); never onto a terminal. */
  stdoutStream?: { write(data: Buffer): boolean; isTTY?: boolean };
}

/** Within this many days of expiry, `show` warns (time to rotate and re-trust before a lab session breaks). */
export const EXPIRY_WARNING_DAYS = 30;

const TRUST_DOCS = 'ca/README.md explains how to trust it in each browser and OS, and how to remove it afterwards.';

/** Runs one `mitmlab ca` subcommand. */
export async function runCaCommand(sub: CaSubcommand, opts: CaCommandOptions, io: CaCommandIo): Promise<number> {
  try {
    switch (sub) {
      case 'init':
        return await init(opts, io);
      case 'show':
        return await show(opts, io);
      case 'export':
        return await exportCa(opts, io);
      case 'rotate':
        return await rotate(opts, io);
      default: {
        const never: never = sub;
        io.stderr(`mitmlab: unknown ca action ${JSON.stringify(never)} (init, show, export, rotate)`);
        return 2;
      }
    }
  } catch (error) {
    if (error instanceof CertError) {
      io.stderr(`mitmlab: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

async function init(opts: CaCommandOptions, io: CaCommandIo): Promise<number> {
  const ca = await loadOrCreateCa({ dir: opts.caDir, permit: opts.permit, now: opts.now });
  if (ca.created) {
    io.stdout(`Created the lab CA in ${ca.dir}.`);
  } else {
    io.stdout(`The lab CA already exists in ${ca.dir}; nothing was changed.`);
    if (opts.permit && opts.permit.length > 0) {
      io.stderr('note: --ca-permit applies only when a CA is created; `mitmlab ca rotate --ca-permit …` makes a new, constrained CA.');
    }
  }
  await describe(ca, opts, io);
  if (ca.created) io.stdout(TRUST_DOCS);
  return 0;
}

async function show(opts: CaCommandOptions, io: CaCommandIo): Promise<number> {
  const ca = await loadExisting(opts, io);
  if (!ca) return 1;
  await describe(ca, opts, io);
  return 0;
}

async function exportCa(opts: CaCommandOptions, io: CaCommandIo): Promise<number> {
  const format = opts.format ?? 'pem';
  const binaryOut = io.stdoutStream && !io.stdoutStream.isTTY ? io.stdoutStream : null;
  if (format === 'der' && !opts.out && !binaryOut) {
    io.stderr('mitmlab: DER is binary: pass --out FILE (e.g. --out mitmlab-ca.cer), or redirect standard output.');
    return 2;
  }
  const ca = await loadExisting(opts, io);
  if (!ca) return 1;
  const data = format === 'der' ? ca.certDer : ca.certPem;
  if (!opts.out) {
    if (format === 'der') binaryOut!.write(ca.certDer);
    else io.stdout(ca.certPem);
    return 0;
  }
  try {
    // The certificate is public: 0644 so a browser or another user can import it.
    await fs.writeFile(opts.out, data, { mode: 0o644 });
  } catch (error) {
    io.stderr(`mitmlab: cannot write ${opts.out}: ${(error as Error).message}`);
    return 1;
  }
  io.stderr(`Wrote the lab CA certificate (${format.toUpperCase()}) to ${path.resolve(opts.out)}.`);
  return 0;
}

async function rotate(opts: CaCommandOptions, io: CaCommandIo): Promise<number> {
  const { ca, archivedTo } = await rotateCa({ dir: opts.caDir, permit: opts.permit, now: opts.now });
  if (archivedTo) {
    io.stdout(`Archived the old lab CA to ${archivedTo}.`);
    io.stdout(`Created a new lab CA in ${ca.dir}.`);
  } else {
    io.stdout(`There was no lab CA to archive; created a new one in ${ca.dir}.`);
  }
  await describe(ca, opts, io);
  if (archivedTo) {
    io.stdout('Remove the old CA from every trust store you added it to, then trust the new one. ' + TRUST_DOCS);
    // A running mitmlab loaded its CA at start; it signs (and its live view hands out) the old one until restarted.
    io.stdout('A mitmlab already running keeps using the old CA until you restart it.');
  } else {
    io.stdout(TRUST_DOCS);
  }
  return 0;
}

async function loadExisting(opts: CaCommandOptions, io: CaCommandIo): Promise<LabCa | null> {
  try {
    return await loadOrCreateCa({ dir: opts.caDir, create: false, now: opts.now });
  } catch (error) {
    if (error instanceof CertError && error.code === 'CA_MISSING') {
      io.stderr(`mitmlab: no lab CA in ${path.resolve(opts.caDir)}. Run \`mitmlab ca init\` (or \`mitmlab start\`) to create one.`);
      return null;
    }
    throw error;
  }
}

async function describe(ca: LabCa, opts: CaCommandOptions, io: CaCommandIo): Promise<void> {
  const now = opts.now ?? new Date();
  const days = ca.daysLeft(now);
  const until = ca.notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const lines = [
    `certificate   ${ca.certPath}  (DER: ${ca.derPath})`,
    `key           ${ca.keyPath}  (${keyLabel(ca.keyType)}; keep it private)`,
    `subject       ${ca.subject}`,
    `SHA-256       ${ca.sha256Fingerprint}`,
    `SPKI SHA-256  ${ca.spkiSha256Base64}`,
  ];
  for (const leaf of await leafSpkiHashes(ca.dir)) {
    lines.push(`leaf SPKI     ${leaf.hash}  (${keyLabel(leaf.type)}: the key of every minted ${leaf.type === 'rsa' ? 'RSA' : 'EC'} certificate)`);
  }
  lines.push(`valid until   ${until}  (${days < 0 ? `expired ${-days} days ago` : `${days} days left`})`);
  lines.push(`constraints   ${ca.nameConstraints.length > 0 ? ca.nameConstraints.join(', ') : 'none: this CA can vouch for any host'}`);
  io.stdout(lines.join('\n'));
  if (days < 0) {
    io.stderr(`warning: the lab CA expired on ${until}. Run \`mitmlab ca rotate\`, then trust the new CA.`);
  } else if (days <= EXPIRY_WARNING_DAYS) {
    io.stderr(`warning: the lab CA expires in ${days} days (${until}). Run \`mitmlab ca rotate\` before then, and trust the new CA.`);
  }
  for (const warning of ca.warnings) io.stderr(`warning: ${warning}`);
}

/** How `ca show` names the two key types mitmlab makes. */
function keyLabel(type: 'rsa' | 'ec'): string {
  return type === 'rsa' ? 'RSA-2048' : 'EC P-256';
}

// The leaf keys are optional (made on first `mitmlab start`, one per key type it serves); their SPKI hashes are what
// Chromium's --ignore-certificate-errors-spki-list matches for the minted certificates.
async function leafSpkiHashes(dir: string): Promise<Array<{ type: 'rsa' | 'ec'; hash: string }>> {
  const paths = caPaths(dir);
  const [ec, inRsaFile] = await Promise.all([readLeafKey(paths.leafKeyEcPath), readLeafKey(paths.leafKeyPath)]);
  const found: Array<{ type: 'rsa' | 'ec'; hash: string }> = [];
  // An EC key in mitmlab-leaf.key is an older version's: the next start moves it to mitmlab-leaf-ec.key and keeps
  // using it, unless that file already holds an EC key (then it is a leftover, replaced by an RSA key).
  const ecKey = ec?.type === 'ec' ? ec : inRsaFile?.type === 'ec' ? inRsaFile : null;
  if (ecKey) found.push({ type: 'ec', hash: ecKey.spkiSha256Base64 });
  if (inRsaFile?.type === 'rsa') found.push({ type: 'rsa', hash: inRsaFile.spkiSha256Base64 });
  return found;
}
