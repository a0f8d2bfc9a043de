import type { ConfigIssue } from '../../xds/config-error';
import type { LoadBalancerOptions } from '../balancer/load-balancer';
import type { ClusterConfig, DiscoveryType, EndpointAssignment, EndpointConfig } from '../cluster/cluster-config';
import { checkAdsConfigSource } from './config-source';
import { onlyFields } from './field-support';
import { parseSocketAddress } from './socket-address';

const DISCOVERY_TYPES: readonly DiscoveryType[] = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS'];
const LB_POLICIES = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH'];
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** Health states that take an endpoint out of rotation (Envoy's `HealthStatus`). */
const EXCLUDED_HEALTH = new Set(['UNHEALTHY', 'DRAINING', 'TIMEOUT']);

export interface ClusterParseOptions {
  /** Whether the bootstrap has an ADS stream, which EDS clusters need. */
  readonly ads: boolean;
  /** The ADS cluster speaks gRPC: it may say `http2_protocol_options` (grpc-js does HTTP/2 anyway). */
  readonly grpc?: boolean;
}

/** Envoy `Cluster` (normalized decoder output) → meshlet's immutable ClusterConfig; problems go to `issues`. */
export function parseCluster(cluster: any, path: string, issues: ConfigIssue[], options: ClusterParseOptions): ClusterConfig | undefined {
  onlyFields(cluster, path, [
    'name', 'type', 'connect_timeout', 'lb_policy', 'load_assignment', 'dns_refresh_rate', 'dns_lookup_family',
    'common_lb_config', 'ring_hash_lb_config', 'least_request_lb_config', 'typed_extension_protocol_options', 'eds_cluster_config',
  ], issues);
  const type: DiscoveryType = cluster.type ?? 'STATIC';
  if (!DISCOVERY_TYPES.includes(type)) issues.push({ path: `${path}.type`, message: `${type} clusters are not supported (supported: ${DISCOVERY_TYPES.join(', ')})` });
  const lbPolicy: string = cluster.lb_policy ?? 'ROUND_ROBIN';
  if (!LB_POLICIES.includes(lbPolicy)) issues.push({ path: `${path}.lb_policy`, message: `${lbPolicy} is not supported (supported: ${LB_POLICIES.join(', ')})` });

  const edsServiceName = parseEdsClusterConfig(cluster, type, path, issues, options.ads);
  const assignment = parseLoadAssignment(cluster.load_assignment, `${path}.load_assignment`, issues, type !== 'STATIC');
  const protocol = parseProtocolOptions(cluster.typed_extension_protocol_options, `${path}.typed_extension_protocol_options`, issues, options.grpc === true);

  return {
    name: cluster.name,
    type,
    connectTimeoutMs: cluster.connect_timeout ?? 5000,
    lbPolicy,
    lbOptions: parseLbOptions(cluster, path, issues),
    endpoints: assignment.endpoints,
    edsServiceName,
    dnsRefreshRateMs: cluster.dns_refresh_rate ?? 5000,
    dnsFamily: cluster.dns_lookup_family === 'V4_ONLY' ? 4 : cluster.dns_lookup_family === 'V6_ONLY' ? 6 : 0,
    idleTimeoutMs: protocol.idleTimeoutMs,
    maxRequestsPerConnection: protocol.maxRequestsPerConnection,
    maxConnections: 1024,
    source: cluster,
  };
}

/** `eds_cluster_config` of an EDS cluster → the assignment name it subscribes to. */
function parseEdsClusterConfig(cluster: any, type: DiscoveryType, path: string, issues: ConfigIssue[], ads: boolean): string | undefined {
  const eds = cluster.eds_cluster_config;
  const at = `${path}.eds_cluster_config`;
  if (type !== 'EDS') {
    if (eds !== undefined) issues.push({ path: at, message: 'only for clusters of type EDS' });
    return undefined;
  }
  if (!ads) {
    issues.push({ path: `${path}.type`, message: 'EDS clusters take their endpoints over ADS: the bootstrap needs dynamic_resources.ads_config' });
    return undefined;
  }
  if (cluster.load_assignment !== undefined) {
    issues.push({ path: `${path}.load_assignment`, message: 'an EDS cluster takes its endpoints from EDS, not load_assignment' });
  }
  if (eds === undefined) {
    issues.push({ path: at, message: 'required for an EDS cluster: {eds_config: {ads: {}}}' });
    return undefined;
  }
  onlyFields(eds, at, ['eds_config', 'service_name'], issues);
  checkAdsConfigSource(eds.eds_config, `${at}.eds_config`, issues, true);
  return eds.service_name || cluster.name;
}

/** A ClusterLoadAssignment (a cluster's `load_assignment` or an EDS resource). DNS clusters may name hosts. */
export function parseLoadAssignment(assignment: any, path: string, issues: ConfigIssue[], allowHostname: boolean): EndpointAssignment {
  const endpoints: EndpointConfig[] = [];
  if (assignment === undefined) return { endpoints, overprovisioningFactor: undefined };
  onlyFields(assignment, path, ['cluster_name', 'endpoints', 'policy'], issues);
  onlyFields(assignment.policy, `${path}.policy`, ['overprovisioning_factor'], issues);
  (assignment.endpoints ?? []).forEach((group: any, g: number) => {
    const at = `${path}.endpoints[${g}]`;
    onlyFields(group, at, ['locality', 'lb_endpoints', 'load_balancing_weight', 'priority'], issues);
    const l = group.locality ?? {};
    const locality = l.region || l.zone || l.sub_zone ? `${l.region ?? ''}/${l.zone ?? ''}/${l.sub_zone ?? ''}` : '';
    (group.lb_endpoints ?? []).forEach((lbEndpoint: any, e: number) => {
      const ep = `${at}.lb_endpoints[${e}]`;
      onlyFields(lbEndpoint, ep, ['endpoint', 'health_status', 'load_balancing_weight'], issues);
      onlyFields(lbEndpoint.endpoint, `${ep}.endpoint`, ['address'], issues);
      const socket = parseSocketAddress(lbEndpoint.endpoint?.address, `${ep}.endpoint.address`, issues, { allowHostname });
      if (socket === undefined) return;
      endpoints.push({
        address: socket.address,
        port: socket.port,
        weight: lbEndpoint.load_balancing_weight ?? 1,
        priority: group.priority ?? 0,
        locality,
        localityWeight: group.load_balancing_weight ?? 0,
        healthy: !EXCLUDED_HEALTH.has(lbEndpoint.health_status ?? 'UNKNOWN'),
      });
    });
  });
  return { endpoints, overprovisioningFactor: assignment.policy?.overprovisioning_factor };
}

function parseLbOptions(cluster: any, path: string, issues: ConfigIssue[]): LoadBalancerOptions {
  const common = cluster.common_lb_config;
  onlyFields(common, `${path}.common_lb_config`, ['healthy_panic_threshold', 'locality_weighted_lb_config'], issues);
  onlyFields(cluster.ring_hash_lb_config, `${path}.ring_hash_lb_config`, ['minimum_ring_size', 'maximum_ring_size'], issues);
  onlyFields(cluster.least_request_lb_config, `${path}.least_request_lb_config`, ['choice_count', 'active_request_bias'], issues);
  const panic = common?.healthy_panic_threshold?.value;
  return {
    localityWeighted: common?.locality_weighted_lb_config !== undefined,
    panicThresholdPercent: panic,
    overprovisioningFactor: cluster.load_assignment?.policy?.overprovisioning_factor,
    ringHash: cluster.ring_hash_lb_config && {
      minimumRingSize: cluster.ring_hash_lb_config.minimum_ring_size,
      maximumRingSize: cluster.ring_hash_lb_config.maximum_ring_size,
    },
    leastRequest: cluster.least_request_lb_config && {
      choiceCount: cluster.least_request_lb_config.choice_count,
      activeRequestBias: cluster.least_request_lb_config.active_request_bias?.default_value,
    },
  };
}

/** `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]`: upstream keep-alive. */
function parseProtocolOptions(
  options: any,
  path: string,
  issues: ConfigIssue[],
  grpc: boolean,
): { idleTimeoutMs: number; maxRequestsPerConnection: number } {
  // Shorter than common app servers' keep-alive (node: 5 s), so the proxy, not the app, closes idle connections.
  const defaults = { idleTimeoutMs: 4000, maxRequestsPerConnection: 0 };
  if (options === undefined) return defaults;
  for (const key of Object.keys(options)) {
    if (key !== HTTP_PROTOCOL_OPTIONS) issues.push({ path: `${path}.${key}`, message: 'not supported by meshlet' });
  }
  const http = options[HTTP_PROTOCOL_OPTIONS];
  if (http === undefined) return defaults;
  const at = `${path}["${HTTP_PROTOCOL_OPTIONS}"]`;
  onlyFields(http, at, ['common_http_protocol_options', 'explicit_http_config'], issues);
  onlyFields(http.explicit_http_config, `${at}.explicit_http_config`, grpc ? ['http_protocol_options', 'http2_protocol_options'] : ['http_protocol_options'], issues);
  const common = http.common_http_protocol_options;
  onlyFields(common, `${at}.common_http_protocol_options`, ['idle_timeout', 'max_requests_per_connection'], issues);
  return {
    idleTimeoutMs: common?.idle_timeout ?? defaults.idleTimeoutMs,
    maxRequestsPerConnection: common?.max_requests_per_connection ?? 0,
  };
}
