/** RouteConfigurations generated from the mesh: the sidecars' outbound table, gateways', inbound. */
import { clusterName, inboundClusterName } from './cluster-resources';
import type { GatewaySpec, HeaderMatchSpec, MeshConfig, RouteSpec, ServiceSpec } from './mesh-config';
import type { GeneratedResource } from './generated-resource';

/** The route configuration every node gets: one virtual host per service, matched by Host/authority. */
export const OUTBOUND_ROUTES = 'outbound';
export const INBOUND_ROUTES = 'inbound';

/**
 * `web` and `web:80` reach service web. Proxyless gRPC clients match the same table with the
 * authority of their `xds:///web` target.
 */
export function outboundRouteConfiguration(mesh: MeshConfig): GeneratedResource {
  return routeConfiguration(
    OUTBOUND_ROUTES,
    mesh.services.map((s) => ({ name: s.name, domains: [s.name, `${s.name}:${s.port}`], routes: s.routes.map(envoyRoute) })),
  );
}

export function gatewayRouteConfiguration(gateway: GatewaySpec): GeneratedResource {
  return routeConfiguration(gateway.name, [{ name: gateway.name, domains: gateway.hosts, routes: gateway.routes.map(envoyRoute) }]);
}

/**
 * The name of a gateway's https_redirect listener and its routes: "/" is in no service or
 * gateway name, so it cannot clash with theirs (nor with the API listener named like a service).
 */
export function httpsRedirectName(gateway: string): string {
  return `${gateway}/https-redirect`;
}

/**
 * With https_redirect, the routes of the plaintext listener: every request is sent (301) to
 * https on the gateway's TLS port, with its host, path and query. The port is left out of the
 * Location only for the standard 80 → 443: Envoy drops a Host's ":80" when the scheme changes,
 * but would keep a ":8080", so any other pair names the TLS port.
 */
export function httpsRedirectRouteConfigurations(gateway: GatewaySpec): GeneratedResource[] {
  const redirectPort = gateway.tls?.redirectPort;
  if (redirectPort === undefined) return [];
  const standardPorts = gateway.port === 443 && redirectPort === 80;
  const redirect = { https_redirect: true, ...(!standardPorts && { port_redirect: gateway.port }) };
  const name = httpsRedirectName(gateway.name);
  return [routeConfiguration(name, [{ name, domains: ['*'], routes: [{ match: { prefix: '/' }, redirect }] }])];
}

/** Whatever reaches a sidecar's inbound listener goes to its local app. */
export function inboundRouteConfiguration(service: ServiceSpec): GeneratedResource {
  return routeConfiguration(INBOUND_ROUTES, [
    { name: service.name, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: inboundClusterName(service.name) } }] },
  ]);
}

function routeConfiguration(name: string, virtualHosts: readonly Record<string, unknown>[]): GeneratedResource {
  return { name, json: { name, virtual_hosts: virtualHosts } };
}

function envoyRoute(spec: RouteSpec): Record<string, unknown> {
  const match = {
    ...(spec.match.prefix !== undefined && { prefix: spec.match.prefix }),
    ...(spec.match.path !== undefined && { path: spec.match.path }),
    ...(spec.match.regex !== undefined && { safe_regex: { regex: spec.match.regex } }),
    ...(spec.match.headers.length > 0 && { headers: spec.match.headers.map(headerMatcher) }),
  };
  const clusters = spec.to.map((d) => ({ name: clusterName(d.service, d.version), weight: d.weight }));
  const route = {
    ...(clusters.length === 1 ? { cluster: clusters[0].name } : { weighted_clusters: { clusters } }),
    ...(spec.prefixRewrite !== undefined && { prefix_rewrite: spec.prefixRewrite }),
    ...(spec.timeout !== undefined && { timeout: spec.timeout }),
    // A gRPC call's own deadline (grpc-timeout) is its timeout, uncapped; other requests have none.
    max_stream_duration: { grpc_timeout_header_max: '0s' },
    ...(spec.retries !== undefined && {
      retry_policy: {
        retry_on: spec.retries.on,
        num_retries: spec.retries.attempts,
        ...(spec.retries.perTryTimeout !== undefined && { per_try_timeout: spec.retries.perTryTimeout }),
      },
    }),
  };
  return { ...(spec.name !== undefined && { name: spec.name }), match, route };
}

function headerMatcher(h: HeaderMatchSpec): Record<string, unknown> {
  switch (h.kind) {
    case 'present':
      return { name: h.name, present_match: h.value };
    case 'regex':
      return { name: h.name, string_match: { safe_regex: { regex: h.value } } };
    default:
      return { name: h.name, string_match: { [h.kind]: h.value } };
  }
}
