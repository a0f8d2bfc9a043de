/** Listeners: HTTP listeners for sidecars and gateways, API listeners for proxyless gRPC. */
import { ADS_CONFIG_SOURCE, type GeneratedResource } from './generated-resource';
import type { GatewaySpec, ServiceSpec } from './mesh-config';
import { rbacFilter } from './rbac-filter';
import { INBOUND_ROUTES, httpsRedirectName } from './route-resources';
import { gatewayCertificateSecretName } from './secret-resources';
import { downstreamTlsSocket, gatewayTlsSocket } from './transport-sockets';

const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_FILTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};
const TLS_INSPECTOR = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};
/**
 * Behind mTLS the app learns who called from x-forwarded-client-cert: set from the verified
 * certificate (its SPIFFE ID), never passed on from the caller. Plaintext keeps Envoy's default,
 * SANITIZE, so a plaintext caller cannot claim an identity either.
 */
const CLIENT_CERT_DETAILS = { forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { uri: true } };

interface ConnectionManagerOptions {
  /** HTTP filters before the router. */
  readonly filters?: readonly Record<string, unknown>[];
  readonly clientCertDetails?: boolean;
  /** At the edge: the client is the peer, and X-Forwarded-For / X-Forwarded-Proto are set, not trusted. */
  readonly useRemoteAddress?: boolean;
}

/** Routes come over RDS on the same ADS stream, so a route change does not rebuild the listener. */
function connectionManager(statPrefix: string, routeConfigName: string, options: ConnectionManagerOptions = {}): Record<string, unknown> {
  return {
    '@type': HCM_TYPE,
    stat_prefix: statPrefix,
    rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: routeConfigName },
    http_filters: [...(options.filters ?? []), ROUTER_FILTER],
    ...(options.clientCertDetails && CLIENT_CERT_DETAILS),
    ...(options.useRemoteAddress && { use_remote_address: true }),
  };
}

function filterChain(connectionManagerConfig: Record<string, unknown>): Record<string, unknown> {
  return { filters: [{ name: HCM_FILTER, typed_config: connectionManagerConfig }] };
}

function listener(name: string, address: string, port: number, chains: readonly Record<string, unknown>[], listenerFilters?: readonly unknown[]): GeneratedResource {
  return {
    name,
    json: {
      name,
      address: { socket_address: { address, port_value: port } },
      ...(listenerFilters !== undefined && { listener_filters: listenerFilters }),
      filter_chains: chains,
    },
  };
}

export function httpListener(name: string, address: string, port: number, routeConfigName: string): GeneratedResource {
  return listener(name, address, port, [filterChain(connectionManager(name, routeConfigName))]);
}

/**
 * A gateway's listeners: plaintext HTTP on `port`; or with `tls`, HTTPS there, where SNI picks
 * the filter chain (and so the certificate) of each connection, all chains routing alike, and
 * with https_redirect a plaintext listener on http_port that redirects every request to it.
 */
export function gatewayListeners(gateway: GatewaySpec): GeneratedResource[] {
  const { name, address, port, tls } = gateway;
  if (tls === undefined) return [httpListener(name, address, port, name)];
  const hcm = connectionManager(name, name, { useRemoteAddress: true });
  const chains = tls.certificates.map((certificate, i) => ({
    filter_chain_match: { server_names: certificate.hosts },
    ...filterChain(hcm),
    transport_socket: gatewayTlsSocket(gatewayCertificateSecretName(i)),
  }));
  // No default chain: a client whose SNI names none of the hosts (or that sends none) is closed, as by Envoy.
  const https = listener(name, address, port, chains, [TLS_INSPECTOR]);
  if (tls.redirectPort === undefined) return [https];
  const redirect = httpsRedirectName(name);
  const redirectChain = filterChain(connectionManager(redirect, redirect, { useRemoteAddress: true }));
  return [https, listener(redirect, address, tls.redirectPort, [redirectChain])];
}

/**
 * The sidecar's listener for peers' traffic to its local app, which is where the service's
 * mTLS ends and its authorization is enforced. PERMISSIVE, as Istio does it: the TLS inspector
 * tells a TLS handshake from plaintext and each goes to its own chain, so clients can move to
 * mTLS one at a time.
 */
export function inboundListener(service: ServiceSpec): GeneratedResource {
  const { address, inboundPort } = service.sidecar;
  const filters = service.allowFrom === undefined ? [] : [rbacFilter(service.allowFrom)];
  const plaintext = filterChain(connectionManager(INBOUND_ROUTES, INBOUND_ROUTES, { filters }));
  const mtls = { ...filterChain(connectionManager(INBOUND_ROUTES, INBOUND_ROUTES, { filters, clientCertDetails: true })), transport_socket: downstreamTlsSocket() };
  switch (service.mtls) {
    case 'DISABLE':
      return listener(INBOUND_ROUTES, address, inboundPort, [plaintext]);
    case 'STRICT':
      return listener(INBOUND_ROUTES, address, inboundPort, [mtls]);
    case 'PERMISSIVE':
      return listener(
        INBOUND_ROUTES,
        address,
        inboundPort,
        [
          { filter_chain_match: { transport_protocol: 'tls' }, ...mtls },
          { filter_chain_match: { transport_protocol: 'raw_buffer' }, ...plaintext },
        ],
        [TLS_INSPECTOR],
      );
  }
}

/**
 * What a proxyless gRPC client resolves `xds:///<name>` to: a Listener named like the target,
 * whose api_listener is the connection manager, with no socket of its own.
 */
export function apiListener(name: string, routeConfigName: string): GeneratedResource {
  return { name, onDemand: true, json: { name, api_listener: { api_listener: connectionManager(name, routeConfigName) } } };
}
