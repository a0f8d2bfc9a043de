/**
 * The SDS Secrets a node gets: its own certificate and key, the mesh's trust bundle, and for a
 * gateway terminating TLS, the certificates of its `tls` entries.
 */
import type { WorkloadCertificate } from '../../certs/workload-certificate';
import type { TlsCertificate } from '../../proxy/tls/tls-config';
import type { GeneratedResource } from './generated-resource';

/** Istio's names, so Envoy configs written for Istio read the same. */
export const CERTIFICATE_SECRET = 'default';
export const TRUST_BUNDLE_SECRET = 'ROOTCA';

export function certificateSecret(certificate: WorkloadCertificate): GeneratedResource {
  return tlsCertificateSecret(CERTIFICATE_SECRET, certificate);
}

/** The certificate of a gateway's `tls[index]`, which its filter chain for those hosts presents. */
export function gatewayCertificateSecretName(index: number): string {
  return `gateway-cert-${index}`;
}

export function gatewayCertificateSecret(index: number, certificate: TlsCertificate): GeneratedResource {
  return tlsCertificateSecret(gatewayCertificateSecretName(index), certificate);
}

function tlsCertificateSecret(name: string, { certChainPem, keyPem }: TlsCertificate): GeneratedResource {
  return { name, json: { name, tls_certificate: { certificate_chain: { inline_string: certChainPem }, private_key: { inline_string: keyPem } } } };
}

export function trustBundleSecret(rootCertPem: string): GeneratedResource {
  return { name: TRUST_BUNDLE_SECRET, json: { name: TRUST_BUNDLE_SECRET, validation_context: { trusted_ca: { inline_string: rootCertPem } } } };
}

/** A Secret as /config_dump shows it: the private key replaced, as Envoy's config dump does. */
export function redactedSecret(json: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const tls = json.tls_certificate as Record<string, unknown> | undefined;
  return tls === undefined ? json : { ...json, tls_certificate: { ...tls, private_key: { inline_string: '[redacted]' } } };
}
