/** Clusters and their ClusterLoadAssignments, generated from the mesh's services. */
import type { EndpointSpec, MeshConfig, ServiceSpec } from './mesh-config';
import { ADS_CONFIG_SOURCE, type GeneratedResource } from './generated-resource';
import { upstreamTlsSocket } from './transport-sockets';

/** `web` for all endpoints of service web, `web/v2` for the subset with version v2. */
export function clusterName(service: string, version?: string): string {
  return version === undefined ? service : `${service}/${version}`;
}

/** The sidecar's cluster for its local app ("|" cannot appear in service names or versions). */
export function inboundClusterName(service: string): string {
  return `inbound|${service}`;
}

export interface ClusterResources {
  readonly clusters: readonly GeneratedResource[];
  readonly endpoints: readonly GeneratedResource[];
}

/**
 * Per service, the versions that routes (of services and gateways) send traffic to. In a mesh
 * file these are versions its endpoints have; with registered endpoints (etcd) a route may name
 * one that no instance has yet, whose cluster must exist all the same (empty until one registers):
 * a route to a missing cluster would make the snapshot invalid.
 */
export function routedVersions(mesh: MeshConfig): ReadonlyMap<string, ReadonlySet<string>> {
  const routed = new Map<string, Set<string>>();
  for (const route of [...mesh.services, ...mesh.gateways].flatMap((s) => s.routes)) {
    for (const { service, version } of route.to) {
      if (version !== undefined) routed.set(service, (routed.get(service) ?? new Set()).add(version));
    }
  }
  return routed;
}

/**
 * An EDS cluster for the service, and one per version its endpoints have or routes name. With
 * mTLS on, the endpoints are the service's sidecars, and the clusters speak mTLS to them.
 */
export function serviceClusters(service: ServiceSpec, routed: ReadonlySet<string> = new Set()): ClusterResources {
  const versions = [...new Set([...service.endpoints.flatMap((e) => (e.version === undefined ? [] : [e.version])), ...routed])];
  const subsets = [
    { name: clusterName(service.name), endpoints: service.endpoints },
    ...versions.map((v) => ({ name: clusterName(service.name, v), endpoints: service.endpoints.filter((e) => e.version === v) })),
  ];
  const transportSocket = service.mtls === 'DISABLE' ? undefined : upstreamTlsSocket(service.spiffeId, service.name);
  return {
    clusters: subsets.map(({ name }) => ({
      name,
      json: {
        name,
        type: 'EDS',
        eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE },
        ...(service.connectTimeout !== undefined && { connect_timeout: service.connectTimeout }),
        ...(service.lbPolicy !== undefined && { lb_policy: service.lbPolicy }),
        ...protocolOptions(service),
        ...(transportSocket !== undefined && { transport_socket: transportSocket }),
      },
    })),
    endpoints: subsets.map(({ name, endpoints }) => ({ name, json: loadAssignment(name, endpoints) })),
  };
}

/**
 * Endpoints grouped by (priority, region, zone). Priorities are renumbered 0..n-1 per cluster,
 * because Envoy and gRPC require them without gaps and a version subset may lack some.
 * Every group carries a locality (gRPC ignores endpoints without one) and a locality weight,
 * the sum of its endpoints' weights (gRPC drops localities without one; Envoy only reads it
 * with locality-weighted balancing).
 */
function loadAssignment(clusterName: string, endpoints: readonly EndpointSpec[]): Record<string, unknown> {
  const ranks = [...new Set(endpoints.map((e) => e.priority))].sort((a, b) => a - b);
  const groups = new Map<string, { priority: number; region?: string; zone?: string; members: EndpointSpec[] }>();
  for (const e of endpoints) {
    const priority = ranks.indexOf(e.priority);
    const key = JSON.stringify([priority, e.region ?? '', e.zone ?? '']);
    const group = groups.get(key) ?? { priority, region: e.region, zone: e.zone, members: [] };
    group.members.push(e);
    groups.set(key, group);
  }
  const ordered = [...groups.values()].sort((a, b) => a.priority - b.priority);
  return {
    cluster_name: clusterName,
    ...(ordered.length > 0 && {
      endpoints: ordered.map((g) => ({
        locality: { ...(g.region !== undefined && { region: g.region }), ...(g.zone !== undefined && { zone: g.zone }) },
        ...(g.priority > 0 && { priority: g.priority }),
        load_balancing_weight: g.members.reduce((sum, e) => sum + e.weight, 0),
        lb_endpoints: g.members.map((e) => ({
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          load_balancing_weight: e.weight,
        })),
      })),
    }),
  };
}

/** The sidecar's way to its local app: a STATIC cluster, so it works before any EDS arrives. */
export function inboundCluster(service: ServiceSpec, appPort: number): GeneratedResource {
  const name = inboundClusterName(service.name);
  return {
    name,
    json: {
      name,
      type: 'STATIC',
      ...(service.connectTimeout !== undefined && { connect_timeout: service.connectTimeout }),
      ...protocolOptions(service),
      load_assignment: loadAssignment(name, [{ address: '127.0.0.1', port: appPort, weight: 1, priority: 0 }]),
    },
  };
}

/**
 * How long a connection to a service's sidecars may idle. The proxy's upstream default (4 s) is
 * below apps' own keep-alive, against the race of a request on a connection the app is closing;
 * a sidecar's inbound listener keeps idle connections an hour (as Envoy), so between sidecars it
 * would only make every quiet spell cost a full mTLS handshake per connection (the bench's mtls
 * tail: 50 handshakes at once after 4 s idle).
 */
export const SIDECAR_UPSTREAM_IDLE_TIMEOUT = '300s';

/**
 * Envoy's HttpProtocolOptions: HTTP/2 (and gRPC) services are spoken to in HTTP/2, and
 * connections to sidecars (mTLS on) idle SIDECAR_UPSTREAM_IDLE_TIMEOUT.
 */
function protocolOptions(service: ServiceSpec): Record<string, unknown> {
  const http2 = service.protocol !== 'http1';
  const sidecars = service.mtls !== 'DISABLE';
  if (!http2 && !sidecars) return {};
  return {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        ...(sidecars && { common_http_protocol_options: { idle_timeout: SIDECAR_UPSTREAM_IDLE_TIMEOUT } }),
        explicit_http_config: http2 ? { http2_protocol_options: {} } : { http_protocol_options: {} },
      },
    },
  };
}
