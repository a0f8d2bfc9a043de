/**
 * Assembling and signing X.509 certificates with node-forge. Keys come from node's native RSA
 * generator (forge's pure-JS one takes seconds per key); forge only builds and signs.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface KeyPair {
  readonly privateKeyPem: string;
  readonly publicKey: forge.pki.PublicKey;
}

export function generateRsaKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKey: forge.pki.publicKeyFromPem(publicKey) };
}

export interface CertificateSpec {
  readonly subject: forge.pki.CertificateField[];
  readonly key: KeyPair;
  readonly validity: Validity;
  /** basicConstraints, keyUsage, SANs…; the key identifiers are added here. */
  readonly extensions: object[];
  /** The signing certificate and its key; absent for a self-signed certificate. */
  readonly issuer?: { readonly certPem: string; readonly keyPem: string };
}

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Allowance for peers whose clocks run behind ours. */
const CLOCK_SKEW_MS = 60_000;

/**
 * notBefore (default: a minute ago) and notBefore + ttl, both cut to whole seconds because that
 * is all X.509 times hold: the dates returned are the ones a peer will check.
 */
export function validityWindow(ttlMs: number, notBefore?: Date): Validity {
  if (!Number.isFinite(ttlMs) || ttlMs < 1000) throw new Error(`validity must be at least 1s, got ${ttlMs}ms`);
  const start = notBefore?.getTime() ?? Date.now() - CLOCK_SKEW_MS;
  if (!Number.isFinite(start)) throw new Error('notBefore is not a valid date');
  const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
  return { notBefore: wholeSeconds(start), notAfter: wholeSeconds(start + ttlMs) };
}

/** The signed certificate, PEM-encoded, with SHA-256 and subject/authority key identifiers. */
export function signCertificate(spec: CertificateSpec): string {
  const cert = forge.pki.createCertificate();
  cert.serialNumber = randomSerialHex();
  cert.publicKey = spec.key.publicKey;
  cert.validity.notBefore = spec.validity.notBefore;
  cert.validity.notAfter = spec.validity.notAfter;
  cert.setSubject(spec.subject);
  const issuerCert = spec.issuer && forge.pki.certificateFromPem(spec.issuer.certPem);
  cert.setIssuer(issuerCert ? issuerCert.subject.attributes : spec.subject);
  cert.setExtensions([
    ...spec.extensions,
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: keyIdentifier(issuerCert ?? cert) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(spec.issuer?.keyPem ?? spec.key.privateKeyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/**
 * 16 random bytes with the top bit set: a positive 128-bit number whose DER encoding always
 * needs the 00 sign byte, so it is always minimal (a random leading zero byte would not be).
 */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] |= 0x80;
  return `00${bytes.toString('hex')}`;
}

/** The issuer's own subjectKeyIdentifier when it has one, so the two always match. */
function keyIdentifier(cert: forge.pki.Certificate): string {
  const ext = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  return ext?.subjectKeyIdentifier ? forge.util.hexToBytes(ext.subjectKeyIdentifier) : cert.generateSubjectKeyIdentifier().getBytes();
}
