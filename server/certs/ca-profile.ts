// The lab CA certificate's profile (RFC 5280 §4.1, §4.2.1). Pure apart from the signature: the caller passes the
// key, the clock, the serial and the per-install suffix.

import crypto, { type KeyObject } from 'node:crypto';
import {
  basicConstraints,
  extension,
  fromDer,
  KeyUsageBit,
  keyUsage,
  name,
  octets,
  OID,
  signatureAlgorithm,
  tbsCertificate,
  toDer,
} from './asn1-build.js';
import { nameConstraintsValue, type PermittedNames } from './name-constraints.js';
import { assembleCertificate, keyTypeOf, signSync } from './sign.js';
import { subjectPublicKeyBits } from './x509-parts.js';

const DAY_MS = 86_400_000;
// RFC 5280 Appendix A.1: ub-common-name INTEGER ::= 64.
export const MAX_COMMON_NAME = 64;

/** Inputs of the CA certificate. */
export interface CaProfileInput {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Per-install suffix (e.g. 6 hex chars) so two installs' CAs are told apart in a trust store. */
  suffix: string;
  serial: Buffer;
  now: Date;
  validDays: number;
  permitted?: PermittedNames | undefined;
}

/**
 * The CA subject. The warning sits in the CN, because trust stores and browser dialogs show the CN; an ASCII hyphen
 * keeps it readable in every tool (some print non-ASCII as escapes), and the CN stays ≤ 64 characters. O and OU
 * repeat the warning for tools that show those instead.
 */
export function caSubject(suffix: string): Array<[string, string]> {
  const cn = `mitmlab lab CA - DO NOT TRUST outside the lab (${suffix})`;
  return [
    [OID.commonName, cn.length <= MAX_COMMON_NAME ? cn : `mitmlab lab CA (${suffix})`.slice(0, MAX_COMMON_NAME)],
    [OID.organizationName, 'mitmlab lab'],
    [OID.organizationalUnitName, 'Lab use only: do not trust this CA outside the lab'],
  ];
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's value. */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const bits = subjectPublicKeyBits(spkiDer);
  if (!bits) throw new Error('malformed SubjectPublicKeyInfo');
  return crypto.createHash('sha1').update(bits).digest();
}

/** Builds and self-signs the lab CA certificate; returns its DER. */
export function buildCaCertificate(input: CaProfileInput): Buffer {
  const keyType = keyTypeOf(input.privateKey);
  const spkiDer = input.publicKey.export({ type: 'spki', format: 'der' });
  const subject = name(caSubject(input.suffix));
  // Backdated one day so a client whose clock is a little behind still accepts it.
  const notBefore = new Date(input.now.getTime() - DAY_MS);
  const notAfter = new Date(input.now.getTime() + input.validDays * DAY_MS);
  const extensions = [
    // §4.2.1.9: critical, cA TRUE; pathLen 0 because the lab CA signs leaves only, never another CA.
    extension(OID.basicConstraints, true, basicConstraints(true, 0)),
    // §4.2.1.3: keyCertSign and cRLSign only; critical.
    extension(OID.keyUsage, true, keyUsage([KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign])),
    extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(spkiDer))),
  ];
  // §4.2.1.10: conforming CAs MUST mark name constraints critical.
  if (input.permitted) extensions.push(extension(OID.nameConstraints, true, nameConstraintsValue(input.permitted)));
  const tbs = toDer(
    tbsCertificate({
      serial: input.serial,
      signature: signatureAlgorithm(keyType),
      issuer: subject,
      notBefore,
      notAfter,
      subject,
      spki: fromDer(spkiDer),
      extensions,
    }),
  );
  return assembleCertificate(tbs, keyType, signSync(tbs, input.privateKey));
}
