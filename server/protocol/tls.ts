// TLS shapes shared by the server (parsers, events) and the UI (views).
// Types only: no node: imports, so the Svelte app can import this file as is.

/** Which side of mitmlab a TLS connection is on: browser ↔ mitmlab, or mitmlab ↔ origin. */
export type Leg = 'client' | 'upstream';

/** Where a field sits in the raw handshake message (offset from the message's first byte). */
export interface Span {
  offset: number;
  length: number;
}

/** One ClientHello or ServerHello extension, in wire order. */
export interface HelloExtension {
  type: number;
  /** IANA name, or `unknown (N)`. */
  name: string;
  /** RFC 8701 GREASE value. */
  grease: boolean;
  /** Offset and length of the whole extension (type + length + data) in the handshake message. */
  span: Span;
  /** Hex of the extension data for extensions we do not decode (capped at 256 bytes). */
  raw?: string;
  /** Why a known extension's data could not be decoded (the hello itself still parsed); its raw hex is kept. */
  error?: string;
}

export interface KeyShareEntry {
  group: number;
  keyLength: number;
}

/** A decoded ClientHello (RFC 8446 §4.1.2). Numbers are kept numeric; the UI names them with the IANA tables. */
export interface ClientHello {
  /** Version in the record header that carried the hello. */
  recordVersion: number;
  legacyVersion: number;
  random: string;
  sessionId: string;
  /** In wire order, GREASE values kept. */
  cipherSuites: number[];
  compressionMethods: number[];
  extensions: HelloExtension[];
  serverName: string | null;
  alpn: string[];
  supportedGroups: number[];
  ecPointFormats: number[];
  signatureAlgorithms: number[];
  supportedVersions: number[];
  keyShares: KeyShareEntry[];
  pskKeyExchangeModes: number[];
  preSharedKey: boolean;
  statusRequest: boolean;
  signedCertificateTimestamp: boolean;
  extendedMasterSecret: boolean;
  sessionTicket: boolean;
  renegotiationInfo: boolean;
  encryptedClientHello: boolean;
  compressCertificate: number[];
  recordSizeLimit: number | null;
  applicationSettings: string[];
  paddingLength: number | null;
  /** Spans of the fixed fields: legacyVersion, random, sessionId, cipherSuites, compressionMethods, extensions. */
  fields: Record<string, Span>;
}

/** A decoded ServerHello (RFC 8446 §4.1.3), or a HelloRetryRequest (same message, special random). */
export interface ServerHello {
  legacyVersion: number;
  random: string;
  sessionId: string;
  cipherSuite: number;
  compressionMethod: number;
  extensions: HelloExtension[];
  /** supported_versions if present, else legacy_version. */
  selectedVersion: number;
  keyShareGroup: number | null;
  alpn: string | null;
  helloRetryRequest: boolean;
  fields: Record<string, Span>;
}

export interface Fingerprints {
  /** The JA3 string (before hashing). */
  ja3: string;
  /** MD5 of the JA3 string. */
  ja3Hash: string;
  /** JA4 (a_b_c with b and c hashed). */
  ja4: string;
  /** JA4_r: the raw, unhashed form. */
  ja4r: string;
}

/** One certificate of a chain, as mitmlab shows it. */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  /** `DNS:name` and `IP:addr` entries. */
  san: string[];
  keyType: string;
  keyBits: number | null;
  signatureAlgorithm: string;
  sha256: string;
  isCA: boolean;
  pem: string;
}

/** The four checks a browser makes on a server certificate. */
export type VerificationCheckName = 'validity' | 'chain' | 'name' | 'signature';

export interface VerificationCheck {
  check: VerificationCheckName;
  ok: boolean;
  reason: string;
}

export interface UpstreamVerification {
  /** Node's verdict: chain and name both accepted. */
  trusted: boolean;
  /** OpenSSL / Node error code, e.g. CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID. */
  errorCode: string | null;
  /** The reason in words: expired, name mismatch, unknown issuer, self-signed… */
  reason: string | null;
  checks: VerificationCheck[];
}

/** Why a handshake failed, from a closed list (DESIGN.md §3). */
export type TlsFailureCause =
  | 'cert-rejected'
  | 'no-shared-cipher'
  | 'version-mismatch'
  | 'closed-after-handshake'
  | 'handshake-timeout'
  | 'reset'
  | 'upstream-untrusted'
  | 'upstream-unreachable'
  | 'upstream-dns'
  | 'upstream-alert'
  | 'unknown';

/** A TLS record or handshake message seen on the wire, for the ladder diagram. */
export interface HandshakeStep {
  /** 'in' = towards mitmlab (from the browser on the client leg, from the origin on the upstream leg). */
  direction: 'in' | 'out';
  /** e.g. ClientHello, ServerHello, Certificate, ChangeCipherSpec, Alert, ApplicationData, Encrypted handshake. */
  label: string;
  length: number;
  /** ms since the leg's TCP connection started. */
  atMs: number;
}
