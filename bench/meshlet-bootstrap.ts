import { stringify } from 'yaml';
import { SIDECAR_UPSTREAM_IDLE_TIMEOUT } from '../xds/control-plane/cluster-resources';

export interface TlsFiles {
  certificateChain: string;
  privateKey: string;
  trustedCa: string;
}

export interface MeshletBootstrapOptions {
  adminPort: number;
  listenPort: number;
  upstreamPorts: readonly number[];
  /** Envoy retry_on list and count; absent means no retry policy at all. */
  retry?: { retryOn: string; numRetries: number };
  /** Terminate mTLS on the listener (the server-side sidecar). */
  downstreamTls?: TlsFiles;
  /**
   * Originate mTLS to the cluster (the client-side sidecar): send `sni`, and accept only a peer whose
   * certificate chains to the trusted CA and carries the URI SAN `peerUriSan` (its SPIFFE ID).
   */
  upstreamTls?: TlsFiles & { sni: string; peerUriSan: string };
}

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const TLS_SOCKET = 'envoy.transport_sockets.tls';

function commonTlsContext(files: TlsFiles, peerUriSan?: string): Record<string, unknown> {
  const validation: Record<string, unknown> = { trusted_ca: { filename: files.trustedCa } };
  if (peerUriSan !== undefined) validation.match_typed_subject_alt_names = [{ san_type: 'URI', matcher: { exact: peerUriSan } }];
  return {
    tls_certificates: [{ certificate_chain: { filename: files.certificateChain }, private_key: { filename: files.privateKey } }],
    validation_context: validation,
  };
}

/** An Envoy v3 bootstrap object: one listener, one route to one STATIC cluster. */
export function meshletBootstrap(o: MeshletBootstrapOptions): Record<string, unknown> {
  const route: Record<string, unknown> = { cluster: 'upstream' };
  if (o.retry) {
    // nginx's proxy_next_upstream and HAProxy's redispatch never retry on the same server: previous_hosts does that.
    route.retry_policy = {
      retry_on: o.retry.retryOn,
      num_retries: o.retry.numRetries,
      retry_host_predicate: [
        {
          name: 'envoy.retry_host_predicates.previous_hosts',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' },
        },
      ],
      host_selection_retry_max_attempts: 3,
      // They also retry at once; Envoy's default back-off (25 ms base, jittered) would be measured instead.
      retry_back_off: { base_interval: '0.001s', max_interval: '0.002s' },
    };
  }
  const filterChain: Record<string, unknown> = {
    filters: [
      {
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM_TYPE,
          stat_prefix: 'bench',
          route_config: {
            virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route }] }],
          },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
        },
      },
    ],
  };
  if (o.downstreamTls) {
    filterChain.transport_socket = {
      name: TLS_SOCKET,
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        require_client_certificate: true,
        common_tls_context: commonTlsContext(o.downstreamTls),
      },
    };
  }
  const cluster: Record<string, unknown> = {
    name: 'upstream',
    type: 'STATIC',
    connect_timeout: '1s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: 'upstream',
      endpoints: [
        { lb_endpoints: o.upstreamPorts.map((port) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } })) },
      ],
    },
  };
  // nginx and HAProxy put no limit on concurrent retries; Envoy's default max_retries (3) would
  // refuse most of the retries at 1000 req/s (UO), so the equivalent config lifts it.
  if (o.retry) cluster.circuit_breakers = { thresholds: [{ max_retries: 1024 }] };
  if (o.upstreamTls) {
    // As the control plane configures a cluster of sidecars (cluster-resources.ts).
    cluster.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { idle_timeout: SIDECAR_UPSTREAM_IDLE_TIMEOUT },
        explicit_http_config: { http_protocol_options: {} },
      },
    };
    cluster.transport_socket = {
      name: TLS_SOCKET,
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: o.upstreamTls.sni,
        common_tls_context: commonTlsContext(o.upstreamTls, o.upstreamTls.peerUriSan),
      },
    };
  }
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort } } },
    static_resources: {
      listeners: [{ name: 'bench', address: { socket_address: { address: '127.0.0.1', port_value: o.listenPort } }, filter_chains: [filterChain] }],
      clusters: [cluster],
    },
  };
}

export function meshletBootstrapYaml(o: MeshletBootstrapOptions): string {
  return stringify(meshletBootstrap(o));
}
