import { isIP } from 'node:net';
import type { ModeOptions, XdsTlsFiles } from './mode-options';
import type { HostPort } from './xds-address';

const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' };
const XDS_CLUSTER = 'xds_cluster';
const ADMIN_CLUSTER = 'meshlet_admin';
const HEALTH_LISTENER = 'meshlet_health';
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/**
 * The Envoy v3 bootstrap of `meshlet proxy --mode`: everything but the node's identity and the
 * control plane's address comes over ADS (LDS and CDS, and from them RDS, EDS and SDS), so the
 * control plane decides by node.cluster whether this is a service's sidecar or a gateway.
 * Plain Envoy config, as `--print-bootstrap` shows: `envoy -c` runs it too.
 */
export function modeBootstrap(options: ModeOptions): Record<string, unknown> {
  const clusters = [xdsCluster(options.xds, options.xdsTls)];
  const listeners = [];
  if (options.healthPort !== undefined) {
    clusters.push(adminCluster(options.admin));
    listeners.push(healthListener(options.healthPort));
  }
  return {
    node: { id: options.nodeId, cluster: options.service, ...(options.locality && { locality: options.locality }) },
    admin: { address: socketAddress(options.admin.address, options.admin.port) },
    dynamic_resources: {
      ads_config: {
        api_type: options.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
      lds_config: ADS_SOURCE,
      cds_config: ADS_SOURCE,
    },
    static_resources: { ...(listeners.length > 0 && { listeners }), clusters },
  };
}

/** The control plane: STATIC for IP addresses; a DNS name (a Kubernetes Service) needs STRICT_DNS. */
function xdsCluster(endpoints: readonly HostPort[], tls: XdsTlsFiles | undefined): object {
  return {
    name: XDS_CLUSTER,
    type: endpoints.every((e) => isIP(e.host) !== 0) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: '1s',
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS]: {
        '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`,
        // Istio's values for its xDS connection: a replica that froze is left within 40 s.
        explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '30s', timeout: '10s' } } },
      },
    },
    ...(tls && { transport_socket: xdsTransportSocket(tls) }),
    load_assignment: {
      cluster_name: XDS_CLUSTER,
      endpoints: [{ lb_endpoints: endpoints.map((e) => ({ endpoint: { address: socketAddress(e.host, e.port) } })) }],
    },
  };
}

/**
 * (m)TLS to the control plane, as Istio's bootstrap: the proxy's bootstrap certificate (issued by
 * `meshlet certs issue`, mounted from a Secret) proves its identity, the control plane's is
 * verified against the CA and, with --xds-san, its SPIFFE ID.
 */
function xdsTransportSocket(tls: XdsTlsFiles): object {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        ...(tls.certFile !== undefined && {
          tls_certificates: [{ certificate_chain: { filename: tls.certFile }, private_key: { filename: tls.keyFile } }],
        }),
        validation_context: {
          trusted_ca: { filename: tls.caFile },
          ...(tls.san !== undefined && { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: tls.san } }] }),
        },
      },
    },
  };
}

/** The proxy's own admin, as an upstream of the health listener. */
function adminCluster(admin: ModeOptions['admin']): object {
  const wildcard = admin.address === '0.0.0.0' || admin.address === '::';
  return {
    name: ADMIN_CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: ADMIN_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(wildcard ? '127.0.0.1' : admin.address, admin.port) } }] }],
    },
  };
}

/**
 * As Istio's 15021: the kubelet probes the pod's address, where admin (loopback only, since its
 * POST /quitquitquit stops the proxy) cannot be reached. This listener forwards GET /ready to
 * admin and answers 404 to everything else. It binds once the first config is applied and stops
 * accepting when the proxy drains, which the probe sees as not ready too.
 */
function healthListener(port: number): object {
  return {
    name: HEALTH_LISTENER,
    address: socketAddress('0.0.0.0', port),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: HEALTH_LISTENER,
              route_config: {
                name: HEALTH_LISTENER,
                virtual_hosts: [
                  {
                    name: HEALTH_LISTENER,
                    domains: ['*'],
                    routes: [
                      { match: { path: '/ready', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, route: { cluster: ADMIN_CLUSTER, timeout: '1s' } },
                      { match: { prefix: '/' }, direct_response: { status: 404 } },
                    ],
                  },
                ],
              },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            },
          },
        ],
      },
    ],
  };
}

function socketAddress(address: string, port: number): object {
  return { socket_address: { address, port_value: port } };
}
