/**
 * Workload certificates: X.509-SVIDs whose one URI SAN is the workload's SPIFFE ID, good for
 * both ends of mutual TLS (serverAuth and clientAuth).
 */
import { X509Certificate } from 'node:crypto';
import type { CertificateAuthority } from './certificate-authority';
import { writeFiles, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE } from './pem-files';
import { parseSpiffeId } from './spiffe-id';
import { generateRsaKeyPair, signCertificate, validityWindow } from './x509-signing';

export interface WorkloadCertificate {
  readonly spiffeId: string;
  /** Leaf then intermediate (PEM). */
  readonly certChainPem: string;
  readonly keyPem: string;
  /** The CA's root: the trust bundle. */
  readonly rootCertPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Istio's file names, so tooling written for Istio's sidecar certificates finds them. */
export const WORKLOAD_FILES = { certChain: 'cert-chain.pem', key: 'key.pem', rootCert: 'root-cert.pem' } as const;

const SAN_URI = 6;
const SAN_DNS = 2;
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/**
 * A certificate for `spiffeId`, valid from `notBefore` (default: a minute ago, for clock skew)
 * for `ttlMs`. Throws when the ID is invalid, belongs to another trust domain, or the certificate
 * would outlive the intermediate that signs it.
 */
export function issueWorkloadCertificate(
  ca: CertificateAuthority,
  options: { spiffeId: string; ttlMs: number; notBefore?: Date; dnsNames?: readonly string[] },
): WorkloadCertificate {
  const { spiffeId, dnsNames = [] } = options;
  const id = parseSpiffeId(spiffeId);
  if ('error' in id) throw new Error(`invalid SPIFFE ID ${JSON.stringify(spiffeId)}: ${id.error}`);
  if (id.trustDomain !== ca.trustDomain) {
    throw new Error(`SPIFFE ID ${JSON.stringify(spiffeId)} is in trust domain "${id.trustDomain}", but the CA signs for "${ca.trustDomain}"`);
  }
  if (id.path === '') throw new Error(`SPIFFE ID ${JSON.stringify(spiffeId)} names the trust domain, not a workload (add a path)`);
  const badDns = dnsNames.find((name) => !DNS_NAME.test(name));
  if (badDns !== undefined) throw new Error(`invalid DNS name ${JSON.stringify(badDns)}`);

  const validity = validityWindow(options.ttlMs, options.notBefore);
  const signingExpiry = new Date(new X509Certificate(ca.signingCertPem).validTo);
  if (validity.notAfter > signingExpiry) {
    throw new Error(`the certificate would expire after the CA's intermediate (${signingExpiry.toISOString()}): use a shorter ttl or a new CA`);
  }

  const key = generateRsaKeyPair();
  const leafPem = signCertificate({
    // SPIFFE identifies the workload by the URI SAN alone; O is there for humans reading it.
    subject: [{ shortName: 'O', value: ca.trustDomain }],
    key,
    validity,
    extensions: [
      { name: 'basicConstraints', critical: true, cA: false },
      { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      {
        name: 'subjectAltName',
        altNames: [{ type: SAN_URI, value: spiffeId }, ...dnsNames.map((value) => ({ type: SAN_DNS, value }))],
      },
    ],
    issuer: { certPem: ca.signingCertPem, keyPem: ca.signingKeyPem },
  });
  return {
    spiffeId,
    certChainPem: `${leafPem.trim()}\n${ca.signingCertPem.trim()}\n`,
    keyPem: key.privateKeyPem,
    rootCertPem: ca.rootCertPem,
    ...validity,
  };
}

/** cert-chain.pem, key.pem (0600), root-cert.pem; the directory is created 0700 if missing. */
export function saveWorkloadCertificate(cert: WorkloadCertificate, dir: string): void {
  writeFiles(dir, [
    { name: WORKLOAD_FILES.certChain, content: cert.certChainPem, mode: PUBLIC_FILE_MODE },
    { name: WORKLOAD_FILES.key, content: cert.keyPem, mode: PRIVATE_FILE_MODE },
    { name: WORKLOAD_FILES.rootCert, content: cert.rootCertPem, mode: PUBLIC_FILE_MODE },
  ]);
}
