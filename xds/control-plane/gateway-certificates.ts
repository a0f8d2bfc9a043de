/**
 * The certificates gateways terminate TLS with: PEM files named in the mesh (relative to the
 * registry's base directory, like mtls.ca_dir), read and checked whenever the file is loaded, so `--validate` and a
 * reload report a missing file or a key that is not the certificate's, with its path in the
 * mesh file. Their content goes to the gateway over SDS: the gateway needs no files of its own.
 */
import { resolve } from 'node:path';
import { parseTlsCertificate } from '../../proxy/tls/secret';
import type { TlsCertificate } from '../../proxy/tls/tls-config';
import { ConfigError, type ConfigIssue } from '../config-error';
import { pathKey } from '../proto-schema';
import type { GatewayCertificateSpec, GatewaySpec } from './mesh-config';

/** Per gateway name, the certificate of each of its `tls` entries, in order. */
export type GatewayCertificates = ReadonlyMap<string, readonly TlsCertificate[]>;

export const NO_GATEWAY_CERTIFICATES: GatewayCertificates = new Map();

/**
 * `baseDir`: what relative file names are relative to (MeshRegistry.baseDir).
 * @throws ConfigError naming every file that does not load, with its path in the mesh file
 */
export function loadGatewayCertificates(gateways: readonly GatewaySpec[], baseDir: string): GatewayCertificates {
  const issues: ConfigIssue[] = [];
  const loaded = new Map<string, TlsCertificate[]>();
  for (const gateway of gateways) {
    if (gateway.tls === undefined) continue;
    const path = pathKey(pathKey('gateways', gateway.name), 'tls');
    const certificates = gateway.tls.certificates.map((spec, i) => loadCertificate(spec, baseDir, `${path}[${i}]`, issues));
    loaded.set(gateway.name, certificates.filter((c): c is TlsCertificate => c !== undefined));
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return loaded;
}

/** The proxy's own check of a TlsCertificate (the files read, the PEMs parse, the key is the leaf's), in the mesh file's terms. */
function loadCertificate(spec: GatewayCertificateSpec, dir: string, path: string, issues: ConfigIssue[]): TlsCertificate | undefined {
  const found: ConfigIssue[] = [];
  const certificate = parseTlsCertificate(
    { certificate_chain: { filename: resolve(dir, spec.certChain) }, private_key: { filename: resolve(dir, spec.privateKey) } },
    path,
    found,
  );
  issues.push(...found.map((issue) => inMeshTerms(issue, path)));
  return certificate;
}

/** `…tls[0].certificate_chain.filename` is `…tls[0].cert_chain` in the mesh file. */
function inMeshTerms(issue: ConfigIssue, entryPath: string): ConfigIssue {
  const field = issue.path.slice(entryPath.length).replace(/\.filename$/, '');
  const meshTerms = (text: string) => text.replace('certificate_chain', 'cert_chain');
  return { path: entryPath + meshTerms(field), message: meshTerms(issue.message) };
}
