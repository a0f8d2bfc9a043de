import { Registry } from 'prom-client';
import type { BreakerGauges } from '../cluster/circuit-breakers';
import type { VerifyFailure } from '../tls/peer-verification';
import { CounterFamily, GaugeFamily, HistogramFamily, type Aggregator, type CounterCell, type GaugeCell, type HistogramCell } from './metric-family';

/** The circuit breaker gauges: Envoy's names under `circuit_breakers.default.`, and how workers combine. */
const BREAKER_GAUGES: Record<keyof BreakerGauges, readonly [string, string, Aggregator]> = {
  cxOpen: ['cx_open', 'Whether the max_connections circuit breaker is at its limit (0/1)', 'max'],
  rqPendingOpen: ['rq_pending_open', 'Whether the max_pending_requests circuit breaker is at its limit (0/1)', 'max'],
  rqOpen: ['rq_open', 'Whether the max_requests circuit breaker is at its limit (0/1)', 'max'],
  rqRetryOpen: ['rq_retry_open', 'Whether the max_retries circuit breaker (or retry budget) is at its limit (0/1)', 'max'],
  remainingCx: ['remaining_cx', 'Connections left before the max_connections circuit breaker (with track_remaining)', 'sum'],
  remainingPending: ['remaining_pending', 'Pending requests left before the max_pending_requests circuit breaker (with track_remaining)', 'sum'],
  remainingRq: ['remaining_rq', 'Requests left before the max_requests circuit breaker (with track_remaining)', 'sum'],
  remainingRetries: ['remaining_retries', 'Retries left before the max_retries circuit breaker or retry budget (with track_remaining)', 'sum'],
};

/**
 * Latency buckets in seconds: fine below a millisecond, where a proxy's own
 * overhead lives, and coarse up to the 15 s default route timeout.
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
] as const;

const TIMING_LABELS = ['listener', 'route', 'cluster', 'code_class'] as const;

/** The three S_* histograms for one (listener, route, cluster, code class). */
export interface TimingCells {
  readonly total: HistogramCell;
  readonly overhead: HistogramCell;
  readonly grid: HistogramCell;
}

/** Counters by field: their name (after a prefix such as `envoy_cluster`) and help. */
type CounterTable = Record<string, readonly [name: string, help: string]>;

/** One family per row of `table`, named `<prefix>_<name>`, labelled by `label` alone. */
function counterFamilies<K extends string>(table: Record<K, readonly [string, string]>, prefix: string, label: string): Record<K, CounterFamily> {
  return Object.fromEntries(
    Object.entries<readonly [string, string]>(table).map(([field, [name, help]]) => [field, new CounterFamily(`${prefix}_${name}`, help, [label])]),
  ) as Record<K, CounterFamily>;
}

/** Each family's cell for one label value (a cluster, listener or connection manager), by field. */
function counterCells<K extends string>(families: Record<K, CounterFamily>, labelValue: string): Record<K, CounterCell> {
  return Object.fromEntries(Object.entries<CounterFamily>(families).map(([field, family]) => [field, family.cell(labelValue)])) as Record<K, CounterCell>;
}

/**
 * Per-cluster counters with Envoy's names (`envoy_cluster_<name>{envoy_cluster_name}`):
 * one row here is a counter family and a `ClusterStats` field.
 */
const CLUSTER_COUNTERS = {
  rqTotal: ['upstream_rq_total', 'Upstream requests'],
  rqTimeout: ['upstream_rq_timeout', 'Upstream requests that hit the route timeout'],
  rqPerTryTimeout: ['upstream_rq_per_try_timeout', 'Upstream attempts that hit the per-try timeout'],
  rqReset: ['upstream_rq_rx_reset', 'Upstream requests reset by the upstream'],
  cxConnectFail: ['upstream_cx_connect_fail', 'Upstream connection failures'],
  noneHealthy: ['upstream_cx_none_healthy', 'Requests with no healthy host to send to'],
  rqRetry: ['upstream_rq_retry', 'Retries sent'],
  rqRetrySuccess: ['upstream_rq_retry_success', 'Retries that succeeded'],
  rqRetryOverflow: ['upstream_rq_retry_overflow', 'Retries not sent: max_retries circuit breaker or retry budget'],
  rqRetryLimitExceeded: ['upstream_rq_retry_limit_exceeded', 'Requests that failed after using every retry'],
  rqPendingOverflow: ['upstream_rq_pending_overflow', 'Requests refused by the max_pending_requests / max_requests circuit breakers'],
  cxOverflow: ['upstream_cx_overflow', 'Connections refused by the max_connections circuit breaker'],
  outlierEjections: ['outlier_detection_ejections_enforced_total', 'Hosts ejected by outlier detection'],
  outlierEjectionsOverflow: ['outlier_detection_ejections_overflow', 'Outlier ejections not done because max_ejection_percent was reached'],
  outlierDetectedConsecutive5xx: ['outlier_detection_ejections_detected_consecutive_5xx', 'Consecutive 5xx outliers detected (enforced or not)'],
  outlierEnforcedConsecutive5xx: ['outlier_detection_ejections_enforced_consecutive_5xx', 'Consecutive 5xx ejections enforced'],
  outlierDetectedConsecutiveGatewayFailure: ['outlier_detection_ejections_detected_consecutive_gateway_failure', 'Consecutive gateway failure outliers detected'],
  outlierEnforcedConsecutiveGatewayFailure: ['outlier_detection_ejections_enforced_consecutive_gateway_failure', 'Consecutive gateway failure ejections enforced'],
  outlierDetectedConsecutiveLocalOriginFailure: [
    'outlier_detection_ejections_detected_consecutive_local_origin_failure',
    'Consecutive local origin failure outliers detected',
  ],
  outlierEnforcedConsecutiveLocalOriginFailure: [
    'outlier_detection_ejections_enforced_consecutive_local_origin_failure',
    'Consecutive local origin failure ejections enforced',
  ],
  outlierDetectedSuccessRate: ['outlier_detection_ejections_detected_success_rate', 'Success rate outliers detected'],
  outlierEnforcedSuccessRate: ['outlier_detection_ejections_enforced_success_rate', 'Success rate ejections enforced'],
  outlierDetectedLocalOriginSuccessRate: ['outlier_detection_ejections_detected_local_origin_success_rate', 'Local origin success rate outliers detected'],
  outlierEnforcedLocalOriginSuccessRate: ['outlier_detection_ejections_enforced_local_origin_success_rate', 'Local origin success rate ejections enforced'],
  outlierDetectedFailurePercentage: ['outlier_detection_ejections_detected_failure_percentage', 'Failure percentage outliers detected'],
  outlierEnforcedFailurePercentage: ['outlier_detection_ejections_enforced_failure_percentage', 'Failure percentage ejections enforced'],
  outlierDetectedLocalOriginFailurePercentage: [
    'outlier_detection_ejections_detected_local_origin_failure_percentage',
    'Local origin failure percentage outliers detected',
  ],
  outlierEnforcedLocalOriginFailurePercentage: [
    'outlier_detection_ejections_enforced_local_origin_failure_percentage',
    'Local origin failure percentage ejections enforced',
  ],
  healthCheckAttempt: ['health_check_attempt', 'Active health checks sent'],
  healthCheckSuccess: ['health_check_success', 'Active health checks that passed'],
  healthCheckFailure: ['health_check_failure', 'Active health checks that failed (any reason)'],
  healthCheckNetworkFailure: ['health_check_network_failure', 'Active health checks that failed on the network (connect failure, reset, timeout)'],
} as const satisfies CounterTable;

export type ClusterCounterName = keyof typeof CLUSTER_COUNTERS;

/** The CLUSTER_COUNTERS cells of ClusterStats, set by its constructor. */
export interface ClusterStats extends Readonly<Record<ClusterCounterName, CounterCell>> {}

export function clusterStats(stats: ProxyStats, clusterName: string): ClusterStats {
  return new ClusterStats(stats, clusterName);
}

/** Per-cluster counters, resolved once per cluster so the request path only increments fields. */
export class ClusterStats {
  private readonly byCode = new Map<number, CounterCell>();
  private readonly byGrpcStatus = new Map<string, CounterCell>();
  private readonly byClass: CounterCell[] = [];

  constructor(private readonly stats: ProxyStats, readonly clusterName: string) {
    Object.assign(this, counterCells(stats.clusterCounters, clusterName));
  }

  /** Counts a gRPC response's grpc-status (from its trailers, or the headers of a trailers-only response). */
  grpcStatus(status: string): void {
    let cell = this.byGrpcStatus.get(status);
    if (cell === undefined) {
      cell = this.stats.clusterGrpcStatus.cell(this.clusterName, status);
      this.byGrpcStatus.set(status, cell);
    }
    cell.value++;
  }

  /** Counts an upstream response by code and code class, as Envoy's `upstream_rq_<code>` / `upstream_rq_<N>xx`. */
  response(status: number): void {
    let cell = this.byCode.get(status);
    if (cell === undefined) {
      cell = this.stats.clusterRqByCode.cell(String(status), this.clusterName);
      this.byCode.set(status, cell);
    }
    cell.value++;
    const cls = (status / 100) | 0;
    let classCell = this.byClass[cls];
    if (classCell === undefined) {
      classCell = this.stats.clusterRqByClass.cell(String(cls), this.clusterName);
      this.byClass[cls] = classCell;
    }
    classCell.value++;
  }
}

/** TLS counters with Envoy's names (`ssl.*` under a listener or a cluster). */
const SSL_COUNTERS = {
  handshake: ['ssl_handshake', 'TLS handshakes completed and verified'],
  connectionError: ['ssl_connection_error', 'TLS handshakes that failed (protocol errors, plaintext to a TLS port, our certificate refused by the peer)'],
  failVerifyNoCert: ['ssl_fail_verify_no_cert', 'Connections closed because the peer presented no certificate'],
  failVerifyError: ['ssl_fail_verify_error', 'Connections closed because the peer certificate did not verify (untrusted CA, expired, not yet valid)'],
  failVerifySan: ['ssl_fail_verify_san', 'Connections closed because no subject alt name of the peer certificate matched'],
} as const satisfies CounterTable;

type SslCounterName = keyof typeof SSL_COUNTERS;

/** A listener's or a cluster's TLS counters, resolved once. */
export type SslStats = { readonly [K in SslCounterName]: CounterCell } & {
  /** Counts a refused peer under Envoy's counter and meshlet's exact reason. */
  failVerify(reason: VerifyFailure): void;
};

const VERIFY_COUNTER: Record<VerifyFailure, SslCounterName> = {
  no_cert: 'failVerifyNoCert',
  untrusted_ca: 'failVerifyError',
  expired: 'failVerifyError',
  not_yet_valid: 'failVerifyError',
  invalid_cert: 'failVerifyError',
  san_mismatch: 'failVerifySan',
};

/** `side` downstream: `name` is a listener address (Envoy's `127.0.0.1_15006`); upstream: a cluster name. */
export function sslStats(stats: ProxyStats, side: 'downstream' | 'upstream', name: string): SslStats {
  const families = side === 'downstream' ? stats.listenerSsl : stats.clusterSsl;
  const cells = counterCells(families, name);
  return {
    ...cells,
    failVerify(reason: VerifyFailure) {
      cells[VERIFY_COUNTER[reason]].value++;
      stats.sslFailVerify.cell(side, name, reason).value++;
    },
  };
}

/**
 * Per-listener counters of the HTTP connection manager with Envoy's names
 * (`envoy_http_<name>{envoy_http_conn_manager_prefix}`): one row here is a counter family and a
 * `ListenerStats` field.
 */
const HCM_COUNTERS = {
  rqTotal: ['downstream_rq_total', 'Downstream requests'],
  cxTotal: ['downstream_cx_total', 'Downstream connections'],
  upgradesTotal: ['downstream_cx_upgrades_total', 'Upgraded streams (WebSocket) sent upstream'],
  wsOnNonWsRoute: [
    'downstream_rq_ws_on_non_ws_route',
    'Upgrade requests refused (403) because neither the connection manager nor the route enables their upgrade type',
  ],
  rqIdleTimeout: ['downstream_rq_idle_timeout', 'Streams closed by stream_idle_timeout'],
  protocolError: [
    'downstream_cx_protocol_error',
    'Requests refused as malformed (400/431: the HTTP/1.1 parser, duplicate Host, too many headers, underscores)',
  ],
  rqTimeout: ['downstream_rq_timeout', 'Requests that did not arrive whole in time (request_headers_timeout, request_timeout): 408'],
  cxIdleTimeout: ['downstream_cx_idle_timeout', 'Downstream connections closed for being idle (common_http_protocol_options.idle_timeout)'],
  overloadClose: ['downstream_rq_overload_close', 'Requests shed by the overload manager (503 OM): heap pressure or --max-active-requests'],
  failedPathNormalization: [
    'downstream_rq_failed_path_normalization',
    'Requests refused (400) because their path could not be normalized, had a fragment or an escaped slash refused by path_with_escaped_slashes_action',
  ],
  redirectedWithNormalizedPath: ['downstream_rq_redirected_with_normalized_path', 'Requests redirected (307) to their normalized path (UNESCAPE_AND_REDIRECT)'],
  rbacAllowed: ['rbac_allowed', 'Requests allowed by the RBAC filter'],
  rbacDenied: ['rbac_denied', 'Requests denied (403) by the RBAC filter'],
  rbacShadowAllowed: ['rbac_shadow_allowed', 'Requests the RBAC shadow rules would allow'],
  rbacShadowDenied: ['rbac_shadow_denied', 'Requests the RBAC shadow rules would deny'],
} as const satisfies CounterTable;

type HcmCounterName = keyof typeof HCM_COUNTERS;

/** The HCM_COUNTERS cells of ListenerStats, set by its constructor. */
export interface ListenerStats extends Readonly<Record<HcmCounterName, CounterCell>> {}

/** Per-listener (HTTP connection manager) counters. */
export class ListenerStats {
  /** Kept by the upgraded streams as they open and close (GaugeCell: no owner to read at scrape time). */
  readonly upgradesActive: GaugeCell;
  private readonly byClass: CounterCell[] = [];
  private readonly byFlag = new Map<string, CounterCell>();
  /** route → cluster → code class → cells; keyed by the compiled route object so a config swap starts fresh. */
  private readonly timing = new WeakMap<object, Map<string, TimingCells[]>>();
  private readonly unrouted = new Map<string, TimingCells[]>();

  constructor(private readonly stats: ProxyStats, readonly listenerName: string, readonly statPrefix: string) {
    Object.assign(this, counterCells(stats.hcmCounters, statPrefix));
    this.upgradesActive = stats.downstreamCxUpgradesActive.cell(statPrefix);
  }

  responseClass(status: number): void {
    const cls = (status / 100) | 0;
    let cell = this.byClass[cls];
    if (cell === undefined) {
      cell = this.stats.downstreamRqByClass.cell(String(cls), this.statPrefix);
      this.byClass[cls] = cell;
    }
    cell.value++;
  }

  responseFlag(flag: string): void {
    let cell = this.byFlag.get(flag);
    if (cell === undefined) {
      cell = this.stats.downstreamResponseFlags.cell(flag, this.statPrefix);
      this.byFlag.set(flag, cell);
    }
    cell.value++;
  }

  /** The S_* cells for a finished request; `route` is the compiled route object (undefined when none matched). */
  timingCells(route: { name: string } | undefined, clusterName: string, status: number): TimingCells {
    let byCluster: Map<string, TimingCells[]> | undefined;
    if (route === undefined) byCluster = this.unrouted;
    else {
      byCluster = this.timing.get(route);
      if (byCluster === undefined) {
        byCluster = new Map();
        this.timing.set(route, byCluster);
      }
    }
    let byClass = byCluster.get(clusterName);
    if (byClass === undefined) {
      byClass = [];
      byCluster.set(clusterName, byClass);
    }
    const cls = (status / 100) | 0;
    let cells = byClass[cls];
    if (cells === undefined) {
      const labels = [this.listenerName, route?.name ?? '', clusterName, `${cls}xx`];
      cells = {
        total: this.stats.requestTotal.cell(...labels),
        overhead: this.stats.requestOverhead.cell(...labels),
        grid: this.stats.requestGrid.cell(...labels),
      };
      byClass[cls] = cells;
    }
    return cells;
  }
}

/**
 * Every metric meshlet exports. Names follow Envoy's Prometheus output
 * (`envoy_cluster_upstream_rq_total{envoy_cluster_name=...}`) where Envoy has one,
 * so existing dashboards work; meshlet's own are prefixed `meshlet_`.
 */
export class ProxyStats {
  readonly registry = new Registry();

  readonly requestTotal = new HistogramFamily(
    'meshlet_request_total_seconds',
    'S_total: the whole request as the downstream sees it at the proxy, from the request reaching the proxy to its last byte out',
    TIMING_LABELS,
    LATENCY_BUCKETS_SECONDS,
  );
  readonly requestOverhead = new HistogramFamily(
    'meshlet_request_overhead_seconds',
    'S_overhead: the part of S_total the proxy itself adds (parsing, routing, balancing, connection queueing, waiting between retries)',
    TIMING_LABELS,
    LATENCY_BUCKETS_SECONDS,
  );
  readonly requestGrid = new HistogramFamily(
    'meshlet_request_grid_seconds',
    'S_grid = S_total - S_overhead: time in the upstream service and the network to it',
    TIMING_LABELS,
    LATENCY_BUCKETS_SECONDS,
  );

  readonly hcmCounters = counterFamilies(HCM_COUNTERS, 'envoy_http', 'envoy_http_conn_manager_prefix');
  readonly downstreamRqByClass = new CounterFamily('envoy_http_downstream_rq_xx', 'Downstream responses by code class', [
    'envoy_response_code_class',
    'envoy_http_conn_manager_prefix',
  ]);
  readonly downstreamCxActive: GaugeFamily;
  readonly downstreamRqActive: GaugeFamily;
  readonly downstreamCxUpgradesActive: GaugeFamily;
  readonly globalCxOverflow = new CounterFamily(
    'envoy_listener_downstream_global_cx_overflow',
    'Connections closed on accept: global_downstream_max_connections reached, or stop_accepting_connections engaged',
    ['envoy_listener_address'],
  );
  readonly downstreamResponseFlags = new CounterFamily(
    'meshlet_http_downstream_rq_response_flag_total',
    'Downstream requests by Envoy response flag (UH, UF, UT, URX, NR, UC, ...)',
    ['response_flag', 'envoy_http_conn_manager_prefix'],
  );

  readonly clusterCounters = counterFamilies(CLUSTER_COUNTERS, 'envoy_cluster', 'envoy_cluster_name');
  readonly clusterRqByCode = new CounterFamily('envoy_cluster_upstream_rq', 'Upstream responses by code', ['envoy_response_code', 'envoy_cluster_name']);
  readonly clusterRqByClass = new CounterFamily('envoy_cluster_upstream_rq_xx', 'Upstream responses by code class', [
    'envoy_response_code_class',
    'envoy_cluster_name',
  ]);
  readonly clusterGrpcStatus = new CounterFamily('meshlet_cluster_grpc_responses_total', 'Upstream gRPC responses by grpc-status', ['envoy_cluster_name', 'grpc_status']);
  readonly listenerSsl = counterFamilies(SSL_COUNTERS, 'envoy_listener', 'envoy_listener_address');
  readonly clusterSsl = counterFamilies(SSL_COUNTERS, 'envoy_cluster', 'envoy_cluster_name');
  readonly sslFailVerify = new CounterFamily(
    'meshlet_ssl_fail_verify_total',
    'Peers refused by TLS verification, by exact reason (no_cert, untrusted_ca, expired, not_yet_valid, san_mismatch, invalid_cert)',
    ['side', 'name', 'reason'],
  );
  readonly noFilterChainMatch = new CounterFamily(
    'envoy_listener_no_filter_chain_match',
    'Connections closed because no filter chain matched them',
    ['envoy_listener_address'],
  );
  readonly clusterCxActive: GaugeFamily;
  readonly clusterRqActive: GaugeFamily;
  readonly clusterMembershipTotal: GaugeFamily;
  readonly clusterMembershipHealthy: GaugeFamily;
  readonly outlierEjectionsActive: GaugeFamily;
  readonly healthCheckHealthy: GaugeFamily;
  /** Envoy's `circuit_breakers.default.*` gauges, by field of BreakerGauges. */
  readonly circuitBreakers: Record<keyof BreakerGauges, GaugeFamily>;

  // xDS: whether config reaches this proxy, and which.
  readonly cdsUpdateSuccess = new CounterFamily('envoy_cluster_manager_cds_update_success', 'CDS responses accepted', []);
  readonly cdsUpdateRejected = new CounterFamily('envoy_cluster_manager_cds_update_rejected', 'CDS responses rejected (NACKed)', []);
  readonly ldsUpdateSuccess = new CounterFamily('envoy_listener_manager_lds_update_success', 'LDS responses accepted', []);
  readonly ldsUpdateRejected = new CounterFamily('envoy_listener_manager_lds_update_rejected', 'LDS responses rejected (NACKed)', []);
  readonly rdsUpdateSuccess = new CounterFamily('envoy_http_rds_update_success', 'RouteConfiguration updates accepted', ['envoy_rds_route_config']);
  readonly rdsUpdateRejected = new CounterFamily('envoy_http_rds_update_rejected', 'RouteConfiguration updates rejected (NACKed)', ['envoy_rds_route_config']);
  readonly edsUpdateSuccess = new CounterFamily('envoy_cluster_update_success', 'ClusterLoadAssignment (EDS) updates accepted', ['envoy_cluster_name']);
  readonly edsUpdateRejected = new CounterFamily('envoy_cluster_update_rejected', 'ClusterLoadAssignment (EDS) updates rejected (NACKed)', ['envoy_cluster_name']);
  readonly controlPlaneConnected: GaugeFamily;
  readonly xdsLastAckVersion: GaugeFamily;
  readonly xdsConfigAge: GaugeFamily;

  constructor(gauges: {
    /** Called at scrape time to refresh live gauges from their owners. */
    refreshDownstream: (stats: ProxyStats) => void;
    refreshClusters: (stats: ProxyStats) => void;
    refreshXds: (stats: ProxyStats) => void;
  }) {
    const refreshDownstream = () => gauges.refreshDownstream(this);
    const refreshClusters = () => gauges.refreshClusters(this);
    const refreshXds = () => gauges.refreshXds(this);
    this.downstreamCxActive = new GaugeFamily('envoy_http_downstream_cx_active', 'Open downstream connections', ['envoy_http_conn_manager_prefix'], refreshDownstream);
    this.downstreamRqActive = new GaugeFamily('envoy_http_downstream_rq_active', 'Downstream requests in flight', ['envoy_http_conn_manager_prefix'], refreshDownstream);
    // Its cells are counted up and down by the streams themselves: nothing to refresh.
    this.downstreamCxUpgradesActive = new GaugeFamily('envoy_http_downstream_cx_upgrades_active', 'Upgraded streams (WebSocket) open', ['envoy_http_conn_manager_prefix'], () => {});
    this.clusterCxActive = new GaugeFamily('envoy_cluster_upstream_cx_active', 'Open upstream connections', ['envoy_cluster_name'], refreshClusters);
    this.clusterRqActive = new GaugeFamily('envoy_cluster_upstream_rq_active', 'Upstream requests in flight', ['envoy_cluster_name'], refreshClusters);
    // Every worker sees the same membership: across workers it is the max, not the sum.
    this.clusterMembershipTotal = new GaugeFamily('envoy_cluster_membership_total', 'Hosts in the cluster', ['envoy_cluster_name'], refreshClusters, 'max');
    this.clusterMembershipHealthy = new GaugeFamily('envoy_cluster_membership_healthy', 'Healthy hosts in the cluster', ['envoy_cluster_name'], refreshClusters, 'max');
    this.outlierEjectionsActive = new GaugeFamily(
      'envoy_cluster_outlier_detection_ejections_active',
      'Hosts currently ejected by outlier detection',
      ['envoy_cluster_name'],
      refreshClusters,
      'max',
    );
    this.healthCheckHealthy = new GaugeFamily('envoy_cluster_health_check_healthy', 'Hosts passing active health checks', ['envoy_cluster_name'], refreshClusters, 'max');
    this.circuitBreakers = Object.fromEntries(
      Object.entries(BREAKER_GAUGES).map(([field, [name, help, aggregator]]) => [
        field,
        new GaugeFamily(`envoy_cluster_circuit_breakers_default_${name}`, help, ['envoy_cluster_name'], refreshClusters, aggregator),
      ]),
    ) as Record<keyof BreakerGauges, GaugeFamily>;
    // With --workers each worker has its own stream: summed, this is the number of connected workers.
    this.controlPlaneConnected = new GaugeFamily('envoy_control_plane_connected_state', 'Whether the ADS stream to the control plane is up (1) or not (0)', [], refreshXds);
    this.xdsLastAckVersion = new GaugeFamily(
      'meshlet_xds_last_ack_version',
      'The version of the last accepted (ACKed) response per resource type (info metric: value 1)',
      ['type_url', 'version'],
      refreshXds,
      'max',
    );
    // Across workers, the stalest one.
    this.xdsConfigAge = new GaugeFamily('meshlet_xds_config_age_seconds', 'Seconds since the last accepted response per resource type', ['type_url'], refreshXds, 'max');
    for (const family of this.families()) this.registry.registerMetric(family as never);
  }

  private families() {
    return [
      this.requestTotal,
      this.requestOverhead,
      this.requestGrid,
      ...Object.values(this.hcmCounters),
      this.downstreamRqByClass,
      this.downstreamCxActive,
      this.downstreamRqActive,
      this.downstreamCxUpgradesActive,
      this.globalCxOverflow,
      this.downstreamResponseFlags,
      ...Object.values(this.clusterCounters),
      this.clusterRqByCode,
      this.clusterRqByClass,
      this.clusterGrpcStatus,
      ...Object.values(this.listenerSsl),
      ...Object.values(this.clusterSsl),
      this.sslFailVerify,
      this.noFilterChainMatch,
      this.clusterCxActive,
      this.clusterRqActive,
      this.clusterMembershipTotal,
      this.clusterMembershipHealthy,
      this.outlierEjectionsActive,
      this.healthCheckHealthy,
      ...Object.values(this.circuitBreakers),
      this.cdsUpdateSuccess,
      this.cdsUpdateRejected,
      this.ldsUpdateSuccess,
      this.ldsUpdateRejected,
      this.rdsUpdateSuccess,
      this.rdsUpdateRejected,
      this.edsUpdateSuccess,
      this.edsUpdateRejected,
      this.controlPlaneConnected,
      this.xdsLastAckVersion,
      this.xdsConfigAge,
    ];
  }

  forgetCluster(name: string): void {
    for (const family of this.families()) {
      family.forget('envoy_cluster_name', name);
      family.forget('cluster', name);
    }
  }
}
