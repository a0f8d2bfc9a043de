/**
 * The mTLS transport sockets of clusters (a sidecar or gateway calling a service) and of
 * sidecars' inbound listeners (a service's endpoint). Neither holds a certificate: both name
 * the node's own certificate and the mesh's trust bundle, which come over SDS on the ADS
 * stream (secret-resources.ts), so a renewed certificate changes no cluster or listener.
 * Likewise the TLS of a gateway's own listener, with the certificates of its mesh file entry.
 */
import { ADS_CONFIG_SOURCE } from './generated-resource';
import { CERTIFICATE_SECRET, TRUST_BUNDLE_SECRET } from './secret-resources';

const TLS_SOCKET = 'envoy.transport_sockets.tls';
const TLS_TYPES = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3';
/** HTTP/2 and gRPC peers negotiate h2 by ALPN; HTTP/1.1 ones stay what they are. */
const ALPN_PROTOCOLS = ['h2', 'http/1.1'] as const;

function sdsSecret(name: string): Record<string, unknown> {
  return { name, sds_config: ADS_CONFIG_SOURCE };
}

/**
 * To a service's endpoints: present the node's certificate, and accept the peer only if the
 * mesh CA signed its certificate for the service's SPIFFE ID (any mesh certificate would
 * otherwise do, and one compromised workload could pose as every service).
 */
export function upstreamTlsSocket(peerSpiffeId: string, sni: string): Record<string, unknown> {
  return {
    name: TLS_SOCKET,
    typed_config: {
      '@type': `${TLS_TYPES}.UpstreamTlsContext`,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [sdsSecret(CERTIFICATE_SECRET)],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: peerSpiffeId } }] },
          validation_context_sds_secret_config: sdsSecret(TRUST_BUNDLE_SECRET),
        },
      },
      sni,
    },
  };
}

/**
 * A service's endpoint: any mesh workload may call (its identity is checked by authorization,
 * not by the handshake), but it must present a certificate from the mesh CA.
 */
export function downstreamTlsSocket(): Record<string, unknown> {
  return {
    name: TLS_SOCKET,
    typed_config: {
      '@type': `${TLS_TYPES}.DownstreamTlsContext`,
      require_client_certificate: true,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [sdsSecret(CERTIFICATE_SECRET)],
        validation_context_sds_secret_config: sdsSecret(TRUST_BUNDLE_SECRET),
        alpn_protocols: ALPN_PROTOCOLS,
      },
    },
  };
}

/**
 * A gateway's listener for the outside world: the certificate for the hosts of one filter chain,
 * and no client certificate asked for (its clients are browsers and apps, not mesh workloads).
 */
export function gatewayTlsSocket(certificateSecret: string): Record<string, unknown> {
  return {
    name: TLS_SOCKET,
    typed_config: {
      '@type': `${TLS_TYPES}.DownstreamTlsContext`,
      common_tls_context: { tls_certificate_sds_secret_configs: [sdsSecret(certificateSecret)], alpn_protocols: ALPN_PROTOCOLS },
    },
  };
}
