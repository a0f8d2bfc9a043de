/**
 * The mesh CA: a self-signed root, which proxies trust, and an intermediate under it that signs
 * workload certificates. The root key is only needed to make a new intermediate, so it can be
 * kept offline while the intermediate's key does the daily signing.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { readRequiredFile, writeFiles, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE } from './pem-files';
import { trustDomainProblem } from './spiffe-id';
import { generateRsaKeyPair, signCertificate, validityWindow } from './x509-signing';

export interface CertificateAuthority {
  readonly trustDomain: string;
  /** The root certificate (PEM): the trust bundle proxies validate peers against. */
  readonly rootCertPem: string;
  /** The intermediate that signs workload certificates, and its key (PEM). */
  readonly signingCertPem: string;
  readonly signingKeyPem: string;
}

const DAY_MS = 86_400_000;
/** Istio's defaults: a ten-year root; the intermediate is rotated yearly. */
const DEFAULT_ROOT_VALIDITY_MS = 3650 * DAY_MS;
const DEFAULT_SIGNING_VALIDITY_MS = 365 * DAY_MS;

export const CA_FILES = {
  rootCert: 'root-cert.pem',
  rootKey: 'root-key.pem',
  signingCert: 'ca-cert.pem',
  signingKey: 'ca-key.pem',
  trustDomain: 'trust-domain',
} as const;

export function createCertificateAuthority(options: {
  trustDomain: string;
  rootValidityMs?: number;
  signingValidityMs?: number;
  notBefore?: Date;
}): CertificateAuthority & { readonly rootKeyPem: string } {
  const { trustDomain } = options;
  const problem = trustDomainProblem(trustDomain);
  if (problem !== undefined) throw new Error(`invalid trust domain ${JSON.stringify(trustDomain)}: ${problem}`);

  const rootKey = generateRsaKeyPair();
  const rootCertPem = signCertificate({
    subject: [
      { shortName: 'O', value: 'meshlet' },
      { shortName: 'CN', value: `meshlet root CA ${trustDomain}` },
    ],
    key: rootKey,
    validity: validityWindow(options.rootValidityMs ?? DEFAULT_ROOT_VALIDITY_MS, options.notBefore),
    extensions: [
      { name: 'basicConstraints', critical: true, cA: true },
      { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    ],
  });

  const signingKey = generateRsaKeyPair();
  const signingCertPem = signCertificate({
    subject: [
      { shortName: 'O', value: 'meshlet' },
      { shortName: 'CN', value: `meshlet intermediate CA ${trustDomain}` },
    ],
    key: signingKey,
    validity: validityWindow(options.signingValidityMs ?? DEFAULT_SIGNING_VALIDITY_MS, options.notBefore),
    // pathLen 0: the intermediate signs workloads only, never another CA.
    extensions: [
      { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 },
      { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    ],
    issuer: { certPem: rootCertPem, keyPem: rootKey.privateKeyPem },
  });

  return { trustDomain, rootCertPem, rootKeyPem: rootKey.privateKeyPem, signingCertPem, signingKeyPem: signingKey.privateKeyPem };
}

/** Writes root-cert.pem, root-key.pem (0600, when given), ca-cert.pem, ca-key.pem (0600), trust-domain. */
export function saveCertificateAuthority(ca: CertificateAuthority & { readonly rootKeyPem?: string }, dir: string): void {
  writeFiles(dir, [
    { name: CA_FILES.rootCert, content: ca.rootCertPem, mode: PUBLIC_FILE_MODE },
    ...(ca.rootKeyPem === undefined ? [] : [{ name: CA_FILES.rootKey, content: ca.rootKeyPem, mode: PRIVATE_FILE_MODE }]),
    { name: CA_FILES.signingCert, content: ca.signingCertPem, mode: PUBLIC_FILE_MODE },
    { name: CA_FILES.signingKey, content: ca.signingKeyPem, mode: PRIVATE_FILE_MODE },
    { name: CA_FILES.trustDomain, content: `${ca.trustDomain}\n`, mode: PUBLIC_FILE_MODE },
  ]);
}

/**
 * Reads what saveCertificateAuthority wrote, checking the pieces fit together (the key is the
 * intermediate's, the root signed the intermediate) so a mixed-up directory fails here, naming
 * the file, rather than as handshake failures across the mesh.
 */
export function loadCertificateAuthority(dir: string): CertificateAuthority {
  const read = (name: string, what: string) => ({ path: join(dir, name), text: readRequiredFile(dir, name, what) });
  const trustDomainFile = read(CA_FILES.trustDomain, 'the trust domain name');
  const root = read(CA_FILES.rootCert, 'the root certificate (PEM)');
  const signing = read(CA_FILES.signingCert, 'the intermediate CA certificate (PEM)');
  const key = read(CA_FILES.signingKey, "the intermediate CA's private key (PEM)");

  const trustDomain = trustDomainFile.text.trim();
  const problem = trustDomainProblem(trustDomain);
  if (problem !== undefined) throw new Error(`${trustDomainFile.path}: invalid trust domain ${JSON.stringify(trustDomain)}: ${problem}`);
  const rootCert = parseCertificate(root.path, root.text);
  const signingCert = parseCertificate(signing.path, signing.text);
  if (!signingCert.ca) throw new Error(`${signing.path}: not a CA certificate`);
  if (!signingCert.checkIssued(rootCert) || !signingCert.verify(rootCert.publicKey)) {
    throw new Error(`${signing.path}: not signed by the root in ${root.path}`);
  }
  let matches: boolean;
  try {
    matches = signingCert.checkPrivateKey(createPrivateKey(key.text));
  } catch (err) {
    throw new Error(`${key.path}: not a PEM private key (${(err as Error).message})`);
  }
  if (!matches) throw new Error(`${key.path}: not the key of ${signing.path}`);
  return { trustDomain, rootCertPem: root.text, signingCertPem: signing.text, signingKeyPem: key.text };
}

function parseCertificate(path: string, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new Error(`${path}: not a PEM certificate (${(err as Error).message})`);
  }
}
