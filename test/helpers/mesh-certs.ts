import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, type CertificateAuthority } from '../../certs/certificate-authority';
import { issueWorkloadCertificate, saveWorkloadCertificate, type WorkloadCertificate } from '../../certs/workload-certificate';

const HOUR_MS = 3_600_000;

/** A workload certificate written to disk, as a bootstrap names it. */
export interface CertFiles extends WorkloadCertificate {
  readonly dir: string;
  readonly chainFile: string;
  readonly keyFile: string;
  readonly rootFile: string;
}

/** A mesh CA for tests, issuing SPIFFE certificates for `spiffe://mesh.test/ns/default/sa/<name>` into temp dirs. */
export class TestMeshCa {
  readonly ca: CertificateAuthority;

  constructor(readonly trustDomain = 'mesh.test') {
    this.ca = createCertificateAuthority({ trustDomain });
  }

  spiffeId(serviceAccount: string): string {
    return `spiffe://${this.trustDomain}/ns/default/sa/${serviceAccount}`;
  }

  /** `dnsNames`: DNS SANs besides the SPIFFE ID, for servers chosen by SNI (e.g. a gateway's hosts). */
  issue(serviceAccount: string, options: { ttlMs?: number; notBefore?: Date; dnsNames?: readonly string[] } = {}): CertFiles {
    const cert = issueWorkloadCertificate(this.ca, {
      spiffeId: this.spiffeId(serviceAccount),
      ttlMs: options.ttlMs ?? HOUR_MS,
      notBefore: options.notBefore,
      dnsNames: options.dnsNames,
    });
    const dir = mkdtempSync(join(tmpdir(), `meshlet-cert-${serviceAccount}-`));
    saveWorkloadCertificate(cert, dir);
    return { ...cert, dir, chainFile: join(dir, 'cert-chain.pem'), keyFile: join(dir, 'key.pem'), rootFile: join(dir, 'root-cert.pem') };
  }
}

/** An UpstreamTlsContext / DownstreamTlsContext `common_tls_context` (YAML flow style) with certificate files. */
export function commonTlsContext(cert: CertFiles, sanExact?: string): string {
  const san = sanExact === undefined ? '' : `, match_typed_subject_alt_names: [{san_type: URI, matcher: {exact: "${sanExact}"}}]`;
  return `{tls_certificates: [{certificate_chain: {filename: ${cert.chainFile}}, private_key: {filename: ${cert.keyFile}}}], validation_context: {trusted_ca: {filename: ${cert.rootFile}}${san}}}`;
}
