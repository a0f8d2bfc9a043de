/** The SDS Secrets a node gets: its own certificate and key, and the mesh's trust bundle. */
import type { WorkloadCertificate } from '../../certs/workload-certificate';
import type { GeneratedResource } from './generated-resource';

/** Istio's names, so Envoy configs written for Istio read the same. */
export const CERTIFICATE_SECRET = 'default';
export const TRUST_BUNDLE_SECRET = 'ROOTCA';

export function certificateSecret(certificate: WorkloadCertificate): GeneratedResource {
  return {
    name: CERTIFICATE_SECRET,
    json: {
      name: CERTIFICATE_SECRET,
      tls_certificate: { certificate_chain: { inline_string: certificate.certChainPem }, private_key: { inline_string: certificate.keyPem } },
    },
  };
}

export function trustBundleSecret(rootCertPem: string): GeneratedResource {
  return { name: TRUST_BUNDLE_SECRET, json: { name: TRUST_BUNDLE_SECRET, validation_context: { trusted_ca: { inline_string: rootCertPem } } } };
}
