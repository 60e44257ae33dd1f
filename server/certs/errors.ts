// Configuration and programmer errors of the certificate layer. Each carries a stable `code` (for tests and the CLI)
// and a message that names the fix (DESIGN.md §3: exceptions are for configuration errors and say what to do).

/** Stable codes of certificate-layer errors. */
export type CertErrorCode =
  | 'CA_DIR_UNREADABLE'
  | 'CA_DIR_NOT_WRITABLE'
  | 'CA_MISSING'
  | 'CA_INCOMPLETE'
  | 'CA_CERT_CORRUPT'
  | 'CA_KEY_CORRUPT'
  | 'CA_KEY_MISMATCH'
  | 'CA_NOT_A_CA'
  | 'CA_EXPIRED'
  | 'CA_LOCKED'
  | 'CA_BAD_PERMIT'
  | 'CA_BAD_VALIDITY'
  | 'MINT_NO_NAMES'
  | 'MINT_BAD_NAME'
  | 'MINT_TOO_MANY_NAMES'
  | 'CERT_UNPARSABLE';

/** An error of the certificate layer, with a stable code. */
export class CertError extends Error {
  readonly code: CertErrorCode;

  constructor(code: CertErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertError';
    this.code = code;
  }
}

/** True for an error from node:fs with the given errno code. */
export function isErrno(error: unknown, ...codes: string[]): boolean {
  return typeof error === 'object' && error !== null && codes.includes(String((error as { code?: unknown }).code));
}
