import { rmSync } from 'node:fs';
import t from 'tap';
import { parseBootstrap } from '../../../proxy/config/bootstrap';
import { ConfigError } from '../../../xds/config-error';
import { TestMeshCa } from '../../helpers/mesh-certs';

/** A bootstrap with one STATIC cluster `svc` carrying `extra` fields. */
function bootstrap(extra: Record<string, unknown>, node?: Record<string, unknown>): unknown {
  return {
    ...(node === undefined ? {} : { node }),
    static_resources: {
      clusters: [
        {
          name: 'svc',
          type: 'STATIC',
          load_assignment: {
            cluster_name: 'svc',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }],
          },
          ...extra,
        },
      ],
    },
  };
}

function cluster(extra: Record<string, unknown>, node?: Record<string, unknown>) {
  return parseBootstrap(bootstrap(extra, node)).clusters[0]!;
}

/** The issues of a config that must not parse. */
function problems(extra: Record<string, unknown>): string[] {
  try {
    parseBootstrap(bootstrap(extra));
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

const P = 'static_resources.clusters[0]';

t.test('without resilience config: Envoy defaults, no detector, no health checks', async (t) => {
  const c = cluster({});
  t.same(c.circuitBreakers, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
  t.equal(c.maxConnections, 1024);
  t.equal(c.outlierDetection, undefined);
  t.equal(c.healthCheck, undefined);
  t.equal(c.lbOptions.zoneAware, undefined);
});

t.test('outlier_detection: Envoy names, defaults, durations', async (t) => {
  const c = cluster({ outlier_detection: { consecutive_5xx: 3, interval: '0.2s', base_ejection_time: '0.5s', max_ejection_percent: 50 } });
  const od = c.outlierDetection!;
  t.equal(od.consecutive5xx, 3);
  t.equal(od.intervalMs, 200);
  t.equal(od.baseEjectionTimeMs, 500);
  t.equal(od.maxEjectionTimeMs, 300_000, 'default max_ejection_time');
  t.equal(od.maxEjectionPercent, 50);
  t.equal(od.consecutiveGatewayFailure, 5);
  t.equal(od.enforcing.consecutive_5xx, 100);
  t.equal(od.enforcing.consecutive_gateway_failure, 0, "Envoy's default: gateway failures not enforced");
  t.equal(od.successRateStdevFactor, 1900);
  t.equal(od.successfulActiveHealthCheckUnejectHost, true);
  const all = cluster({
    outlier_detection: {
      split_external_local_origin_errors: true,
      consecutive_local_origin_failure: 2,
      enforcing_consecutive_gateway_failure: 100,
      success_rate_minimum_hosts: 3,
      success_rate_request_volume: 20,
      success_rate_stdev_factor: 1000,
      failure_percentage_threshold: 70,
      enforcing_failure_percentage: 100,
      base_ejection_time: '1s',
      max_ejection_time: '10s',
      max_ejection_time_jitter: '1s',
      always_eject_one_host: true,
    },
  }).outlierDetection!;
  t.match(all, {
    splitExternalLocalOriginErrors: true,
    consecutiveLocalOriginFailure: 2,
    successRateMinimumHosts: 3,
    successRateRequestVolume: 20,
    successRateStdevFactor: 1000,
    failurePercentageThreshold: 70,
    maxEjectionTimeMs: 10_000,
    maxEjectionTimeJitterMs: 1000,
    alwaysEjectOneHost: true,
    enforcing: { consecutive_gateway_failure: 100, failure_percentage: 100 },
  });
  t.equal(cluster({ outlier_detection: { base_ejection_time: '400s' } }).outlierDetection!.maxEjectionTimeMs, 400_000, 'max defaults to base when larger');
});

t.test('outlier_detection: rejected with their path', async (t) => {
  t.same(problems({ outlier_detection: { base_ejection_time: '10s', max_ejection_time: '5s' } }), [
    `${P}.outlier_detection.max_ejection_time: must not be smaller than base_ejection_time (10000 ms)`,
  ]);
  t.same(problems({ outlier_detection: { monitors: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/google.protobuf.Struct', value: {} } }] } }), [
    `${P}.outlier_detection.monitors: not supported by meshlet`,
  ]);
  t.match(problems({ outlier_detection: { max_ejection_percent: 101 } }).join('\n'), /max_ejection_percent/);
});

t.test('health_checks: HTTP with Envoy defaults', async (t) => {
  const hc = cluster({
    health_checks: [
      { timeout: '1s', interval: '0.5s', unhealthy_threshold: 3, healthy_threshold: 2, http_health_check: { path: '/healthz' } },
    ],
  }).healthCheck!;
  t.match(hc, {
    timeoutMs: 1000,
    intervalMs: 500,
    unhealthyThreshold: 3,
    healthyThreshold: 2,
    reuseConnection: true,
    noTrafficIntervalMs: 60_000,
    noTrafficHealthyIntervalMs: 60_000,
    unhealthyIntervalMs: 500,
    unhealthyEdgeIntervalMs: 500,
    healthyEdgeIntervalMs: 500,
    tcp: undefined,
  });
  t.same(hc.http, {
    path: '/healthz',
    host: undefined,
    method: 'GET',
    expectedStatuses: [[200, 201]],
    retriableStatuses: [],
    headersToAdd: [],
    headersToRemove: [],
  });
  const full = cluster({
    health_checks: [
      {
        timeout: '1s',
        interval: '2s',
        unhealthy_threshold: 1,
        healthy_threshold: 1,
        interval_jitter: '0.1s',
        interval_jitter_percent: 5,
        initial_jitter: '0.3s',
        no_traffic_interval: '3s',
        unhealthy_interval: '4s',
        healthy_edge_interval: '0.5s',
        reuse_connection: false,
        http_health_check: {
          path: '/ready',
          host: 'health.local',
          method: 'HEAD',
          expected_statuses: [{ start: 200, end: 300 }],
          retriable_statuses: [{ start: 503, end: 504 }],
          request_headers_to_add: [{ header: { key: 'x-hc', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
          request_headers_to_remove: ['user-agent'],
        },
      },
    ],
  }).healthCheck!;
  t.match(full, {
    intervalJitterMs: 100,
    intervalJitterPercent: 5,
    initialJitterMs: 300,
    noTrafficIntervalMs: 3000,
    noTrafficHealthyIntervalMs: 3000,
    unhealthyIntervalMs: 4000,
    unhealthyEdgeIntervalMs: 4000,
    healthyEdgeIntervalMs: 500,
    reuseConnection: false,
  });
  t.same(full.http, {
    path: '/ready',
    host: 'health.local',
    method: 'HEAD',
    expectedStatuses: [[200, 300]],
    retriableStatuses: [[503, 504]],
    headersToAdd: [['x-hc', '1', false]],
    headersToRemove: ['user-agent'],
  });
});

t.test('health_checks: TCP, connect-only or with payloads', async (t) => {
  const base = { timeout: '1s', interval: '1s', unhealthy_threshold: 1, healthy_threshold: 1 };
  t.same(cluster({ health_checks: [{ ...base, tcp_health_check: {} }] }).healthCheck!.tcp, { send: undefined, receive: [] });
  const tcp = cluster({ health_checks: [{ ...base, tcp_health_check: { send: { text: '50494e47' }, receive: [{ text: '504f4e47' }] } }] }).healthCheck!.tcp!;
  t.equal(tcp.send!.toString(), 'PING');
  t.equal(tcp.receive[0]!.toString(), 'PONG');
});

t.test('health_checks: what meshlet does not do is rejected with its path', async (t) => {
  const base = { timeout: '1s', interval: '1s', unhealthy_threshold: 1, healthy_threshold: 1 };
  const http = { ...base, http_health_check: { path: '/h' } };
  t.same(problems({ health_checks: [http, http] }), [`${P}.health_checks[1]: one health check per cluster is supported (as in Envoy)`]);
  t.same(problems({ health_checks: [{ ...base, grpc_health_check: {} }] }), [`${P}.health_checks[0].grpc_health_check: not supported by meshlet`]);
  t.same(problems({ health_checks: [{ ...http, alt_port: 9 }] }), [`${P}.health_checks[0].alt_port: not supported by meshlet`]);
  t.same(problems({ health_checks: [{ ...base, http_health_check: { path: '/h', codec_client_type: 'HTTP2' } }] }), [
    `${P}.health_checks[0].http_health_check.codec_client_type: HTTP2 is not supported by meshlet (HTTP1 only)`,
  ]);
  t.same(problems({ health_checks: [{ ...base, http_health_check: { path: '/h', expected_statuses: [{ start: 300, end: 200 }] } }] }), [
    `${P}.health_checks[0].http_health_check.expected_statuses[0]: [300, 200) is not a status range: start < end, within [100, 600)`,
  ]);
  t.same(problems({ health_checks: [{ ...base, http_health_check: { path: '/h', service_name_matcher: { exact: 'x' } } }] }), [
    `${P}.health_checks[0].http_health_check.service_name_matcher: not supported by meshlet`,
  ]);
  t.same(problems({ health_checks: [{ ...base, tcp_health_check: { send: { text: 'zz' } } }] }), [
    `${P}.health_checks[0].tcp_health_check.send.text: hex-encoded bytes expected`,
  ]);
  t.match(problems({ health_checks: [{ interval: '1s', unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: '/h' } }] }).join('\n'), /timeout/);
});

t.test('health_checks on a cluster with a TLS transport socket: accepted (the checks go through it)', async (t) => {
  const mesh = new TestMeshCa();
  const cert = mesh.issue('client');
  t.teardown(() => rmSync(cert.dir, { recursive: true, force: true }));
  const transport_socket = {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: cert.chainFile }, private_key: { filename: cert.keyFile } }],
        validation_context: {
          trusted_ca: { filename: cert.rootFile },
          match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: mesh.spiffeId('server') } }],
        },
      },
    },
  };
  const http = { timeout: '1s', interval: '1s', unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: '/h' } };
  t.same(problems({ transport_socket, health_checks: [http] }), [], 'no longer rejected');
  const c = cluster({ transport_socket, health_checks: [http] });
  t.equal(c.healthCheck!.http!.path, '/h');
  t.ok(c.tls !== undefined, 'the cluster keeps its TLS');
  t.same(problems({ transport_socket, health_checks: [{ ...http, transport_socket_match_criteria: { tls: 'on' } }] }), [
    `${P}.health_checks[0].transport_socket_match_criteria: not supported by meshlet`,
  ], 'another transport socket for the checks is not supported');
});

t.test('circuit_breakers: DEFAULT and HIGH thresholds, retry budget, per-host max_connections', async (t) => {
  const c = cluster({
    circuit_breakers: {
      thresholds: [
        { max_connections: 10, max_pending_requests: 5, max_requests: 20, max_retries: 2, track_remaining: true },
        { priority: 'HIGH', max_requests: 99 },
      ],
      per_host_thresholds: [{ max_connections: 4 }],
    },
  });
  t.same(c.circuitBreakers, { maxConnections: 10, maxPendingRequests: 5, maxRequests: 20, maxRetries: 2, retryBudget: undefined, trackRemaining: true });
  t.equal(c.maxConnections, 10);
  t.equal(c.circuitBreakersHigh!.maxRequests, 99);
  t.equal(c.perHostMaxConnections, 4);
  const budget = cluster({ circuit_breakers: { thresholds: [{ retry_budget: {} }] } }).circuitBreakers.retryBudget;
  t.same(budget, { budgetPercent: 20, minRetryConcurrency: 3 }, "Envoy's budget defaults");
  const set = cluster({ circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 50 }, min_retry_concurrency: 1 } }] } });
  t.same(set.circuitBreakers.retryBudget, { budgetPercent: 50, minRetryConcurrency: 1 });
});

t.test('circuit_breakers: rejected with their path', async (t) => {
  t.same(problems({ circuit_breakers: { thresholds: [{ max_connection_pools: 1 }] } }), [
    `${P}.circuit_breakers.thresholds[0].max_connection_pools: not supported by meshlet`,
  ]);
  t.same(problems({ circuit_breakers: { thresholds: [{ max_requests: 1 }, { max_requests: 2 }] } }), [
    `${P}.circuit_breakers.thresholds[1].priority: a second thresholds entry for priority DEFAULT`,
  ]);
  t.same(problems({ circuit_breakers: { per_host_thresholds: [{ max_requests: 1 }] } }), [
    `${P}.circuit_breakers.per_host_thresholds[0].max_requests: not supported by meshlet`,
  ]);
});

t.test('zone_aware_lb_config takes the local zone from node.locality', async (t) => {
  const zone = { common_lb_config: { zone_aware_lb_config: { routing_enabled: { value: 80 }, min_cluster_size: 3, fail_traffic_on_panic: true } } };
  const c = cluster(zone, { id: 'n', locality: { region: 'r', zone: 'z1' } });
  t.same(c.lbOptions.zoneAware, { routingEnabledPercent: 80, minClusterSize: 3, localLocality: { region: 'r', zone: 'z1', subZone: undefined } });
  t.equal(c.lbOptions.failTrafficOnPanic, true);
  const defaults = cluster({ common_lb_config: { zone_aware_lb_config: {} } }, { locality: { zone: 'z1' } });
  t.match(defaults.lbOptions.zoneAware, { routingEnabledPercent: 100, minClusterSize: 6 });
  t.equal(cluster(zone).lbOptions.zoneAware, undefined, 'no node locality: no local zone, plain balancing');
  t.match(
    problems({ common_lb_config: { zone_aware_lb_config: {}, locality_weighted_lb_config: {} } }).join('\n'),
    /locality_config_specifier|zone_aware_lb_config|locality_weighted_lb_config/,
    'the two are a oneof in Envoy',
  );
});
