import type { ConfigIssue } from '../../xds/config-error';
import type { LoadBalancerOptions } from '../balancer/load-balancer';
import type { LocalLocality, ZoneAwareOptions } from '../balancer/zone-aware';
import { DEFAULT_RETRY_BUDGET, DEFAULT_THRESHOLDS, type CircuitBreakerThresholds } from '../cluster/circuit-breakers';
import type { ClusterConfig, DiscoveryType, EndpointAssignment, EndpointConfig, Http2Keepalive, UpstreamProtocol } from '../cluster/cluster-config';
import type { HealthCheckConfig, HttpCheckConfig, TcpCheckConfig } from '../cluster/health-checker';
import { DEFAULT_OUTLIER_DETECTION, type OutlierDetectionConfig } from '../cluster/outlier-detector';
import { checkAdsConfigSource } from './config-source';
import { onlyFields } from './field-support';
import { parseSocketAddress } from './socket-address';
import { parseUpstreamTransportSocket, type SecretContext } from './tls-context-parser';

const DISCOVERY_TYPES: readonly DiscoveryType[] = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS'];
const LB_POLICIES = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH'];
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** Health states that take an endpoint out of rotation (Envoy's `HealthStatus`). */
const EXCLUDED_HEALTH = new Set(['UNHEALTHY', 'DRAINING', 'TIMEOUT']);

export interface ClusterParseOptions extends SecretContext {
  /** The ADS cluster speaks gRPC: it may say `http2_protocol_options` (grpc-js does HTTP/2 anyway). */
  readonly grpc?: boolean;
  /** The bootstrap's `node.locality`: the local zone of zone-aware routing. */
  readonly localLocality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string };
}

/** Envoy `Cluster` (normalized decoder output) → meshlet's immutable ClusterConfig; problems go to `issues`. */
export function parseCluster(cluster: any, path: string, issues: ConfigIssue[], options: ClusterParseOptions): ClusterConfig | undefined {
  onlyFields(cluster, path, [
    'name', 'type', 'connect_timeout', 'lb_policy', 'load_assignment', 'dns_refresh_rate', 'dns_lookup_family',
    'common_lb_config', 'ring_hash_lb_config', 'least_request_lb_config', 'typed_extension_protocol_options', 'eds_cluster_config',
    'circuit_breakers', 'outlier_detection', 'health_checks', 'transport_socket',
  ], issues);
  const type: DiscoveryType = cluster.type ?? 'STATIC';
  if (!DISCOVERY_TYPES.includes(type)) issues.push({ path: `${path}.type`, message: `${type} clusters are not supported (supported: ${DISCOVERY_TYPES.join(', ')})` });
  const lbPolicy: string = cluster.lb_policy ?? 'ROUND_ROBIN';
  if (!LB_POLICIES.includes(lbPolicy)) issues.push({ path: `${path}.lb_policy`, message: `${lbPolicy} is not supported (supported: ${LB_POLICIES.join(', ')})` });

  const edsServiceName = parseEdsClusterConfig(cluster, type, path, issues, options.ads);
  const assignment = parseLoadAssignment(cluster.load_assignment, `${path}.load_assignment`, issues, type !== 'STATIC');
  const protocol = parseProtocolOptions(cluster.typed_extension_protocol_options, `${path}.typed_extension_protocol_options`, issues, options.grpc === true);
  const breakers = parseCircuitBreakers(cluster.circuit_breakers, `${path}.circuit_breakers`, issues);

  return {
    name: cluster.name,
    type,
    connectTimeoutMs: cluster.connect_timeout ?? 5000,
    lbPolicy,
    lbOptions: parseLbOptions(cluster, path, issues, options.localLocality),
    endpoints: assignment.endpoints,
    edsServiceName,
    dnsRefreshRateMs: cluster.dns_refresh_rate ?? 5000,
    dnsFamily: cluster.dns_lookup_family === 'V4_ONLY' ? 4 : cluster.dns_lookup_family === 'V6_ONLY' ? 6 : 0,
    idleTimeoutMs: protocol.idleTimeoutMs,
    maxRequestsPerConnection: protocol.maxRequestsPerConnection,
    upstreamProtocol: protocol.upstreamProtocol,
    http2Keepalive: protocol.http2Keepalive,
    maxConnections: breakers.defaults.maxConnections,
    circuitBreakers: breakers.defaults,
    circuitBreakersHigh: breakers.high,
    perHostMaxConnections: breakers.perHostMaxConnections,
    outlierDetection: parseOutlierDetection(cluster.outlier_detection, `${path}.outlier_detection`, issues),
    healthCheck: parseHealthChecks(cluster.health_checks, `${path}.health_checks`, issues),
    tls: parseUpstreamTransportSocket(cluster.transport_socket, `${path}.transport_socket`, issues, options),
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

function parseLbOptions(cluster: any, path: string, issues: ConfigIssue[], localLocality: ClusterParseOptions['localLocality']): LoadBalancerOptions {
  const common = cluster.common_lb_config;
  onlyFields(common, `${path}.common_lb_config`, ['healthy_panic_threshold', 'locality_weighted_lb_config', 'zone_aware_lb_config'], issues);
  const zone = common?.zone_aware_lb_config;
  onlyFields(zone, `${path}.common_lb_config.zone_aware_lb_config`, ['routing_enabled', 'min_cluster_size', 'fail_traffic_on_panic'], issues);
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
    zoneAware: zone === undefined ? undefined : zoneAwareOptions(zone, localLocality),
    failTrafficOnPanic: zone?.fail_traffic_on_panic === true ? true : undefined,
  };
}

/**
 * `zone_aware_lb_config` with the node's locality. Without a local locality (no `node.locality`)
 * there is no local zone to keep traffic in: balancing is plain, as in Envoy without a local cluster.
 */
function zoneAwareOptions(zone: any, locality: ClusterParseOptions['localLocality']): ZoneAwareOptions | undefined {
  const local: LocalLocality = { region: locality?.region || undefined, zone: locality?.zone || undefined, subZone: locality?.sub_zone || undefined };
  if (!local.region && !local.zone && !local.subZone) return undefined;
  return {
    // Envoy rounds the Percent to an integer.
    routingEnabledPercent: Math.round(zone.routing_enabled?.value ?? 100),
    minClusterSize: zone.min_cluster_size ?? 6,
    localLocality: local,
  };
}

const RETRY_BUDGET_FIELDS = ['budget_percent', 'min_retry_concurrency'];
const THRESHOLD_FIELDS = ['priority', 'max_connections', 'max_pending_requests', 'max_requests', 'max_retries', 'retry_budget', 'track_remaining'];

/**
 * `circuit_breakers`: thresholds per priority (DEFAULT is what meshlet's routes use; HIGH is kept
 * for /config_dump only) and the per-host `max_connections` (the only per-host threshold Envoy honours).
 */
function parseCircuitBreakers(
  breakers: any,
  path: string,
  issues: ConfigIssue[],
): { defaults: CircuitBreakerThresholds; high: CircuitBreakerThresholds | undefined; perHostMaxConnections: number | undefined } {
  onlyFields(breakers, path, ['thresholds', 'per_host_thresholds'], issues);
  const byPriority = new Map<string, CircuitBreakerThresholds>();
  (breakers?.thresholds ?? []).forEach((t: any, i: number) => {
    const at = `${path}.thresholds[${i}]`;
    onlyFields(t, at, THRESHOLD_FIELDS, issues);
    onlyFields(t.retry_budget, `${at}.retry_budget`, RETRY_BUDGET_FIELDS, issues);
    const priority: string = t.priority ?? 'DEFAULT';
    if (byPriority.has(priority)) issues.push({ path: `${at}.priority`, message: `a second thresholds entry for priority ${priority}` });
    const budget = t.retry_budget;
    byPriority.set(priority, {
      maxConnections: t.max_connections ?? DEFAULT_THRESHOLDS.maxConnections,
      maxPendingRequests: t.max_pending_requests ?? DEFAULT_THRESHOLDS.maxPendingRequests,
      maxRequests: t.max_requests ?? DEFAULT_THRESHOLDS.maxRequests,
      maxRetries: t.max_retries ?? DEFAULT_THRESHOLDS.maxRetries,
      retryBudget:
        budget === undefined
          ? undefined
          : {
              budgetPercent: budget.budget_percent?.value ?? DEFAULT_RETRY_BUDGET.budgetPercent,
              minRetryConcurrency: budget.min_retry_concurrency ?? DEFAULT_RETRY_BUDGET.minRetryConcurrency,
            },
      trackRemaining: t.track_remaining === true,
    });
  });
  let perHostMaxConnections: number | undefined;
  (breakers?.per_host_thresholds ?? []).forEach((t: any, i: number) => {
    const at = `${path}.per_host_thresholds[${i}]`;
    onlyFields(t, at, ['priority', 'max_connections'], issues);
    if ((t.priority ?? 'DEFAULT') === 'DEFAULT' && t.max_connections !== undefined) perHostMaxConnections = t.max_connections;
  });
  return { defaults: byPriority.get('DEFAULT') ?? DEFAULT_THRESHOLDS, high: byPriority.get('HIGH'), perHostMaxConnections };
}

const OUTLIER_FIELDS = [
  'consecutive_5xx', 'interval', 'base_ejection_time', 'max_ejection_percent', 'enforcing_consecutive_5xx', 'enforcing_success_rate',
  'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor', 'consecutive_gateway_failure',
  'enforcing_consecutive_gateway_failure', 'split_external_local_origin_errors', 'consecutive_local_origin_failure',
  'enforcing_consecutive_local_origin_failure', 'enforcing_local_origin_success_rate', 'failure_percentage_threshold',
  'enforcing_failure_percentage', 'enforcing_failure_percentage_local_origin', 'failure_percentage_minimum_hosts',
  'failure_percentage_request_volume', 'max_ejection_time', 'max_ejection_time_jitter', 'successful_active_health_check_uneject_host',
  'always_eject_one_host',
];

/** `outlier_detection` with Envoy's defaults (everything but the not-implemented `monitors`). */
function parseOutlierDetection(od: any, path: string, issues: ConfigIssue[]): OutlierDetectionConfig | undefined {
  if (od === undefined) return undefined;
  onlyFields(od, path, OUTLIER_FIELDS, issues);
  const d = DEFAULT_OUTLIER_DETECTION;
  const base: number = od.base_ejection_time ?? d.baseEjectionTimeMs;
  // Envoy: unset, max_ejection_time is 300 s or base_ejection_time, whichever is larger.
  const max: number = od.max_ejection_time ?? Math.max(d.maxEjectionTimeMs, base);
  if (max < base) issues.push({ path: `${path}.max_ejection_time`, message: `must not be smaller than base_ejection_time (${base} ms)` });
  const e = d.enforcing;
  return {
    consecutive5xx: od.consecutive_5xx ?? d.consecutive5xx,
    consecutiveGatewayFailure: od.consecutive_gateway_failure ?? d.consecutiveGatewayFailure,
    consecutiveLocalOriginFailure: od.consecutive_local_origin_failure ?? d.consecutiveLocalOriginFailure,
    intervalMs: od.interval ?? d.intervalMs,
    baseEjectionTimeMs: base,
    maxEjectionTimeMs: max,
    maxEjectionTimeJitterMs: od.max_ejection_time_jitter ?? d.maxEjectionTimeJitterMs,
    maxEjectionPercent: od.max_ejection_percent ?? d.maxEjectionPercent,
    alwaysEjectOneHost: od.always_eject_one_host ?? d.alwaysEjectOneHost,
    splitExternalLocalOriginErrors: od.split_external_local_origin_errors === true,
    successRateMinimumHosts: od.success_rate_minimum_hosts ?? d.successRateMinimumHosts,
    successRateRequestVolume: od.success_rate_request_volume ?? d.successRateRequestVolume,
    successRateStdevFactor: od.success_rate_stdev_factor ?? d.successRateStdevFactor,
    failurePercentageThreshold: od.failure_percentage_threshold ?? d.failurePercentageThreshold,
    failurePercentageMinimumHosts: od.failure_percentage_minimum_hosts ?? d.failurePercentageMinimumHosts,
    failurePercentageRequestVolume: od.failure_percentage_request_volume ?? d.failurePercentageRequestVolume,
    enforcing: {
      consecutive_5xx: od.enforcing_consecutive_5xx ?? e.consecutive_5xx,
      consecutive_gateway_failure: od.enforcing_consecutive_gateway_failure ?? e.consecutive_gateway_failure,
      consecutive_local_origin_failure: od.enforcing_consecutive_local_origin_failure ?? e.consecutive_local_origin_failure,
      success_rate: od.enforcing_success_rate ?? e.success_rate,
      local_origin_success_rate: od.enforcing_local_origin_success_rate ?? e.local_origin_success_rate,
      failure_percentage: od.enforcing_failure_percentage ?? e.failure_percentage,
      local_origin_failure_percentage: od.enforcing_failure_percentage_local_origin ?? e.local_origin_failure_percentage,
    },
    successfulActiveHealthCheckUnejectHost: od.successful_active_health_check_uneject_host ?? d.successfulActiveHealthCheckUnejectHost,
  };
}

// Checks go through the cluster's transport socket (TLS included), as in Envoy by default;
// `transport_socket_match_criteria` (another socket) is not in the list, so it is rejected by path.
const HEALTH_CHECK_FIELDS = [
  'timeout', 'interval', 'initial_jitter', 'interval_jitter', 'interval_jitter_percent', 'unhealthy_threshold', 'healthy_threshold',
  'reuse_connection', 'http_health_check', 'tcp_health_check', 'no_traffic_interval', 'no_traffic_healthy_interval',
  'unhealthy_interval', 'unhealthy_edge_interval', 'healthy_edge_interval',
];
const HTTP_CHECK_FIELDS = ['host', 'path', 'expected_statuses', 'retriable_statuses', 'method', 'codec_client_type', 'request_headers_to_add', 'request_headers_to_remove'];

/** `health_checks`: one HTTP or TCP check (Envoy, at this API version, also takes only one). */
function parseHealthChecks(checks: any[] | undefined, path: string, issues: ConfigIssue[]): HealthCheckConfig | undefined {
  if (checks === undefined || checks.length === 0) return undefined;
  if (checks.length > 1) issues.push({ path: `${path}[1]`, message: 'one health check per cluster is supported (as in Envoy)' });
  const hc = checks[0];
  const at = `${path}[0]`;
  onlyFields(hc, at, HEALTH_CHECK_FIELDS, issues);
  let http: HttpCheckConfig | undefined;
  let tcp: TcpCheckConfig | undefined;
  if (hc.http_health_check !== undefined) http = parseHttpCheck(hc.http_health_check, `${at}.http_health_check`, issues);
  else if (hc.tcp_health_check !== undefined) tcp = parseTcpCheck(hc.tcp_health_check, `${at}.tcp_health_check`, issues);
  else if (hc.grpc_health_check === undefined && hc.custom_health_check === undefined) {
    issues.push({ path: at, message: 'needs http_health_check or tcp_health_check' });
  }
  const interval: number = hc.interval;
  const unhealthyInterval: number = hc.unhealthy_interval ?? interval;
  const noTraffic: number = hc.no_traffic_interval ?? 60_000;
  return {
    timeoutMs: hc.timeout,
    intervalMs: interval,
    initialJitterMs: hc.initial_jitter ?? 0,
    intervalJitterMs: hc.interval_jitter ?? 0,
    intervalJitterPercent: hc.interval_jitter_percent ?? 0,
    unhealthyThreshold: hc.unhealthy_threshold,
    healthyThreshold: hc.healthy_threshold,
    reuseConnection: hc.reuse_connection ?? true,
    noTrafficIntervalMs: noTraffic,
    noTrafficHealthyIntervalMs: hc.no_traffic_healthy_interval ?? noTraffic,
    unhealthyIntervalMs: unhealthyInterval,
    unhealthyEdgeIntervalMs: hc.unhealthy_edge_interval ?? unhealthyInterval,
    healthyEdgeIntervalMs: hc.healthy_edge_interval ?? interval,
    http,
    tcp,
  };
}

const HEADER_APPEND_ACTIONS = ['APPEND_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS_OR_ADD'];

function parseHttpCheck(http: any, path: string, issues: ConfigIssue[]): HttpCheckConfig {
  onlyFields(http, path, HTTP_CHECK_FIELDS, issues);
  const codec = http.codec_client_type ?? 'HTTP1';
  if (codec !== 'HTTP1') issues.push({ path: `${path}.codec_client_type`, message: `${codec} is not supported by meshlet (HTTP1 only)` });
  const ranges = (field: string): [number, number][] =>
    (http[field] ?? []).map((r: any, i: number) => {
      const start: number = r.start ?? 0;
      const end: number = r.end ?? 0;
      if (start < 100 || end > 600 || start >= end) {
        issues.push({ path: `${path}.${field}[${i}]`, message: `[${start}, ${end}) is not a status range: start < end, within [100, 600)` });
      }
      return [start, end];
    });
  const expected = ranges('expected_statuses');
  const headersToAdd: [string, string, boolean][] = [];
  (http.request_headers_to_add ?? []).forEach((option: any, i: number) => {
    const at = `${path}.request_headers_to_add[${i}]`;
    onlyFields(option, at, ['header', 'append', 'append_action'], issues);
    onlyFields(option.header, `${at}.header`, ['key', 'value'], issues);
    const value: string = option.header?.value ?? '';
    if (value.includes('%')) issues.push({ path: `${at}.header.value`, message: 'command operators (%...%) are not supported in health check headers' });
    const action: string = option.append_action ?? (option.append === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
    if (!HEADER_APPEND_ACTIONS.includes(action)) issues.push({ path: `${at}.append_action`, message: `${action} is not supported (supported: ${HEADER_APPEND_ACTIONS.join(', ')})` });
    headersToAdd.push([option.header?.key ?? '', value, action === 'APPEND_IF_EXISTS_OR_ADD']);
  });
  const method: string = http.method ?? 'METHOD_UNSPECIFIED';
  return {
    path: http.path,
    host: http.host || undefined,
    method: method === 'METHOD_UNSPECIFIED' ? 'GET' : method,
    expectedStatuses: expected.length > 0 ? expected : [[200, 201]],
    retriableStatuses: ranges('retriable_statuses'),
    headersToAdd,
    headersToRemove: http.request_headers_to_remove ?? [],
  };
}

function parseTcpCheck(tcp: any, path: string, issues: ConfigIssue[]): TcpCheckConfig {
  onlyFields(tcp, path, ['send', 'receive'], issues);
  const payload = (p: any, at: string): Buffer => {
    if (p.binary !== undefined) return Buffer.from(p.binary);
    const text: string = p.text ?? '';
    if (!/^([0-9a-fA-F]{2})+$/.test(text)) issues.push({ path: `${at}.text`, message: 'hex-encoded bytes expected' });
    return Buffer.from(text, 'hex');
  };
  return {
    send: tcp.send === undefined ? undefined : payload(tcp.send, `${path}.send`),
    receive: (tcp.receive ?? []).map((p: any, i: number) => payload(p, `${path}.receive[${i}]`)),
  };
}

/** `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]`: upstream keep-alive. */
function parseProtocolOptions(
  options: any,
  path: string,
  issues: ConfigIssue[],
  grpc: boolean,
): { idleTimeoutMs: number; maxRequestsPerConnection: number; upstreamProtocol: UpstreamProtocol; http2Keepalive: Http2Keepalive | undefined } {
  // Shorter than common app servers' keep-alive (node: 5 s), so the proxy, not the app, closes idle connections.
  const defaults = { idleTimeoutMs: 4000, maxRequestsPerConnection: 0, upstreamProtocol: 'http1' as const, http2Keepalive: undefined };
  if (options === undefined) return defaults;
  for (const key of Object.keys(options)) {
    if (key !== HTTP_PROTOCOL_OPTIONS) issues.push({ path: `${path}.${key}`, message: 'not supported by meshlet' });
  }
  const http = options[HTTP_PROTOCOL_OPTIONS];
  if (http === undefined) return defaults;
  const at = `${path}["${HTTP_PROTOCOL_OPTIONS}"]`;
  onlyFields(http, at, ['common_http_protocol_options', 'explicit_http_config', 'use_downstream_protocol_config'], issues);
  const explicit = http.explicit_http_config;
  onlyFields(explicit, `${at}.explicit_http_config`, ['http_protocol_options', 'http2_protocol_options'], issues);
  // Settings of either codec are Envoy tuning knobs meshlet leaves to node and undici; naming one is an error, an empty block chooses the protocol.
  onlyFields(explicit?.http_protocol_options, `${at}.explicit_http_config.http_protocol_options`, [], issues);
  // The ADS cluster's HTTP/2 settings are grpc-js's business, but for its PINGs.
  const http2At = `${at}.explicit_http_config.http2_protocol_options`;
  if (!grpc) onlyFields(explicit?.http2_protocol_options, http2At, [], issues);
  const http2Keepalive = grpc ? parseConnectionKeepalive(explicit?.http2_protocol_options?.connection_keepalive, `${http2At}.connection_keepalive`, issues) : undefined;
  onlyFields(http.use_downstream_protocol_config, `${at}.use_downstream_protocol_config`, ['http_protocol_options', 'http2_protocol_options'], issues);
  const common = http.common_http_protocol_options;
  onlyFields(common, `${at}.common_http_protocol_options`, ['idle_timeout', 'max_requests_per_connection'], issues);
  return {
    idleTimeoutMs: common?.idle_timeout ?? defaults.idleTimeoutMs,
    maxRequestsPerConnection: common?.max_requests_per_connection ?? 0,
    upstreamProtocol: http.use_downstream_protocol_config !== undefined ? 'downstream' : explicit?.http2_protocol_options !== undefined ? 'http2' : 'http1',
    http2Keepalive,
  };
}

/**
 * Envoy's KeepaliveSettings: a PING every `interval` (none when zero or unset), the connection
 * dropped when one is not answered within `timeout`, so a peer that froze, or a network path
 * that silently died, is noticed without waiting for TCP.
 */
function parseConnectionKeepalive(keepalive: any, path: string, issues: ConfigIssue[]): Http2Keepalive | undefined {
  if (keepalive === undefined) return undefined;
  // The proto's own rules require the timeout (checked when it is decoded).
  onlyFields(keepalive, path, ['interval', 'timeout'], issues);
  const intervalMs: number = keepalive.interval ?? 0;
  return intervalMs > 0 ? { intervalMs, timeoutMs: keepalive.timeout } : undefined;
}
