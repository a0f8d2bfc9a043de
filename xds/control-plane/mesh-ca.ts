/**
 * The CA that signs the mesh's workload certificates: the one in the mesh file's `mtls.ca_dir`
 * (written by `meshlet certs init-ca`), read with the mesh file so `--validate` and a reload
 * check it too; without one, the control plane makes its own in memory (control-plane.ts).
 */
import { resolve } from 'node:path';
import { loadCertificateAuthority, type CertificateAuthority } from '../../certs/certificate-authority';
import { ConfigError } from '../config-error';
import { SECRET } from '../xds-resource-types';
import type { MtlsSettings } from './mesh-config';
import { trustBundleSecret } from './secret-resources';
import { encodeResource, type VersionedResource } from './snapshot';

/** What issuing a node's certificate takes. */
export interface CertificateIssuer {
  readonly ca: CertificateAuthority;
  readonly certTtlMs: number;
  /** The 'ROOTCA' secret: the same for every node. */
  readonly trustBundle: VersionedResource;
}

export function certificateIssuer(ca: CertificateAuthority, certTtlMs: number): CertificateIssuer {
  return { ca, certTtlMs, trustBundle: encodeResource(SECRET, trustBundleSecret(ca.rootCertPem)) };
}

/**
 * The CA in `mtls.ca_dir` (relative to `baseDir`: the mesh file's directory, or the working
 * directory of a control plane reading etcd), or undefined when the mesh names none.
 * @throws ConfigError when it does not load, or signs for another trust domain
 */
export function loadCaDir(mtls: MtlsSettings, baseDir: string): CertificateAuthority | undefined {
  if (mtls.caDir === undefined) return undefined;
  const dir = resolve(baseDir, mtls.caDir);
  let ca: CertificateAuthority;
  try {
    ca = loadCertificateAuthority(dir);
  } catch (err) {
    throw new ConfigError([{ path: 'mtls.ca_dir', message: `cannot load the CA: ${(err as Error).message}` }]);
  }
  if (ca.trustDomain !== mtls.trustDomain) {
    throw new ConfigError([
      { path: 'mtls.trust_domain', message: `is "${mtls.trustDomain}", but the CA in ${dir} signs for "${ca.trustDomain}" (set trust_domain: ${ca.trustDomain})` },
    ]);
  }
  return ca;
}
