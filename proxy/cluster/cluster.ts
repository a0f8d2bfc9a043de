import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../balancer/load-balancer';
import type { PickContext } from '../balancer/host';
import type { buildConnector } from 'undici';
import { clusterStats, sslStats, type ClusterCounterName, type ClusterStats, type ProxyStats } from '../metrics/proxy-stats';
import type { TlsMaterial } from '../tls/tls-material';
import { tlsConnector } from '../upstream/tls-connector';
import type { ClusterConfig, EndpointAssignment, EndpointConfig } from './cluster-config';
import { CircuitBreakers } from './circuit-breakers';
import { HealthChecker, type CheckResult, type HealthTransition } from './health-checker';
import { HealthFlag } from './health-flags';
import { OutlierDetector, type OutlierDecision, type OutlierEjectionType } from './outlier-detector';
import type { UpstreamOutcome } from './upstream-outcome';
import { UpstreamHost } from './upstream-host';

type Connector = buildConnector.connector;

/** The counters of each outlier ejection type: [detected, enforced]. */
const EJECTION_COUNTERS: Record<OutlierEjectionType, readonly [ClusterCounterName, ClusterCounterName]> = {
  consecutive_5xx: ['outlierDetectedConsecutive5xx', 'outlierEnforcedConsecutive5xx'],
  consecutive_gateway_failure: ['outlierDetectedConsecutiveGatewayFailure', 'outlierEnforcedConsecutiveGatewayFailure'],
  consecutive_local_origin_failure: ['outlierDetectedConsecutiveLocalOriginFailure', 'outlierEnforcedConsecutiveLocalOriginFailure'],
  success_rate: ['outlierDetectedSuccessRate', 'outlierEnforcedSuccessRate'],
  local_origin_success_rate: ['outlierDetectedLocalOriginSuccessRate', 'outlierEnforcedLocalOriginSuccessRate'],
  failure_percentage: ['outlierDetectedFailurePercentage', 'outlierEnforcedFailurePercentage'],
  local_origin_failure_percentage: ['outlierDetectedLocalOriginFailurePercentage', 'outlierEnforcedLocalOriginFailurePercentage'],
};

/**
 * A cluster at run time: its hosts, the immutable picker over them, and its stats.
 * The picker is rebuilt whenever the host set or a host's health changes; a pick
 * never sees a half-updated set.
 *
 * A host is healthy (Envoy's health flags) unless failed by its EDS/config `health_status`,
 * by active health checking (`health_checks`) or by outlier detection (`outlier_detection`);
 * both of those run here, next to the circuit breakers (`circuit_breakers`). With health checks,
 * the cluster is warm only once every host has had its first check, as in Envoy.
 */
export class Cluster {
  private hostList: readonly UpstreamHost[] = [];
  private lb: LoadBalancer;
  /** The config's options, with the overprovisioning factor of the last EDS assignment. */
  private lbOptions: LoadBalancerOptions;
  private dnsTimer: NodeJS.Timeout | undefined;
  /** An EDS cluster warming: resolves initialize() when its first assignment arrives. */
  private firstAssignment: (() => void) | undefined;
  private closed = false;
  private outlierTimer: NodeJS.Timeout | undefined;
  /** The sum of the hosts' connection limits (see connectionLimitPerHost). */
  private connectionCapacity = Infinity;
  readonly stats: ClusterStats;
  readonly breakers: CircuitBreakers;
  /** Present with `outlier_detection`. */
  readonly outlier: OutlierDetector<UpstreamHost> | undefined;
  /** Present with `health_checks`. */
  readonly healthChecker: HealthChecker<UpstreamHost> | undefined;

  /** With an UpstreamTlsContext: how the hosts' pools open connections (set once its secrets are there). */
  private connector: Connector | undefined;
  /** An EDS assignment that came while the TLS secrets were still awaited. */
  private earlyAssignment: EndpointAssignment | undefined;

  constructor(
    readonly config: ClusterConfig,
    private readonly proxyStats: ProxyStats,
    private readonly log: Logger,
    /** The cluster's TLS (undefined: plaintext); owned: closed with the cluster. */
    private readonly tls: TlsMaterial | undefined,
  ) {
    this.stats = clusterStats(proxyStats, config.name);
    this.lbOptions = config.lbOptions;
    this.lb = createLoadBalancer(config.lbPolicy, this.hostList, this.lbOptions);
    this.breakers = new CircuitBreakers(config.circuitBreakers, {
      pendingRequests: () => {
        let pending = 0;
        for (const h of this.hostList) pending += h.pendingRequests;
        return pending;
      },
      connections: () => {
        let connections = 0;
        for (const h of this.hostList) connections += h.connections;
        return connections;
      },
      connectionCapacity: () => this.connectionCapacity,
      stats: this.stats,
    });
    if (config.outlierDetection !== undefined) {
      this.outlier = new OutlierDetector(config.outlierDetection);
      this.outlierTimer = setInterval(() => this.onOutlierInterval(), config.outlierDetection.intervalMs);
      this.outlierTimer.unref();
    }
    if (config.healthCheck !== undefined) {
      this.healthChecker = new HealthChecker<UpstreamHost>(config.healthCheck, config.name, {
        // Envoy: until the cluster is used, hosts are checked at no_traffic_interval.
        hasTraffic: () => this.stats.rqTotal.value > 0,
        onAttempt: () => this.stats.healthCheckAttempt.value++,
        onResult: (host, result, transition) => this.onHealthCheck(host, result, transition),
        // Envoy checks through the cluster's transport socket: with TLS, the requests' connector.
        connect: tls === undefined ? undefined : (host, callback) => this.connectForHealthCheck(host, callback),
      });
    }
  }

  get name(): string {
    return this.config.name;
  }

  get hosts(): readonly UpstreamHost[] {
    return this.hostList;
  }

  /**
   * Resolves once the cluster has its first host set: DNS clusters after the first resolution
   * (successful or not), EDS clusters when their first assignment is given here or to assign().
   */
  async initialize(assignment?: EndpointAssignment): Promise<void> {
    // Envoy: a cluster with SDS secrets warms until they arrive.
    if (this.tls !== undefined) {
      await this.tls.ready();
      this.connector = tlsConnector(this.tls, this.config.connectTimeoutMs, sslStats(this.proxyStats, 'upstream', this.name), this.log, this.name);
    }
    await this.discoverHosts(assignment ?? this.earlyAssignment);
    // Envoy: a health-checked cluster is initialized once each host has been checked once.
    if (!this.closed) await this.healthChecker?.firstRound();
  }

  private async discoverHosts(assignment: EndpointAssignment | undefined): Promise<void> {
    if (this.config.type === 'STATIC') {
      this.setEndpoints(this.config.endpoints);
      return;
    }
    if (this.config.type === 'EDS') {
      if (assignment !== undefined) return this.assign(assignment);
      return new Promise((resolve) => (this.firstAssignment = resolve));
    }
    await this.resolve();
    // Superseded or removed while resolving: no refresh timer for a closed cluster.
    if (this.closed) return;
    this.dnsTimer = setInterval(() => void this.resolve(), this.config.dnsRefreshRateMs);
    this.dnsTimer.unref();
  }

  /** How an attempt to `host` ended: the input of outlier detection. */
  reportOutcome(host: UpstreamHost, outcome: UpstreamOutcome): void {
    const outlier = this.outlier;
    if (outlier === undefined) return;
    const decisions = outlier.report(host, outcome, performance.now());
    if (decisions.length > 0 && this.applyOutlierDecisions(decisions)) this.healthChanged();
  }

  /**
   * The most connections one host may open: `circuit_breakers` `max_connections` is cluster-wide,
   * so it is shared out over the hosts (at least one each), and capped by `per_host_thresholds`.
   * A host's pool takes the value current when it is created.
   */
  connectionLimitPerHost(): number {
    const { maxConnections, perHostMaxConnections } = this.config;
    const share = Math.max(1, Math.floor(maxConnections / Math.max(1, this.hostList.length)));
    return Math.min(share, perHostMaxConnections ?? Infinity);
  }

  pick(ctx?: PickContext): UpstreamHost | undefined {
    return this.lb.pick(ctx) as UpstreamHost | undefined;
  }

  /** An EDS update: the endpoints and the assignment's overprovisioning factor. */
  assign(assignment: EndpointAssignment): void {
    // Hosts made before the TLS connector would connect in plaintext: the latest assignment waits for it.
    if (this.tls !== undefined && this.connector === undefined) {
      this.earlyAssignment = assignment;
      return;
    }
    const factor = assignment.overprovisioningFactor ?? this.config.lbOptions.overprovisioningFactor;
    if (factor !== this.lbOptions.overprovisioningFactor) this.lbOptions = { ...this.config.lbOptions, overprovisioningFactor: factor };
    this.setEndpoints(assignment.endpoints);
    this.firstAssignment?.();
    this.firstAssignment = undefined;
  }

  /** Replaces the endpoint set, keeping the host (and its warm connections) of every unchanged endpoint. */
  setEndpoints(endpoints: readonly EndpointConfig[]): void {
    const previous = new Map(this.hostList.map((h) => [h.key, h]));
    const next: UpstreamHost[] = [];
    for (const endpoint of endpoints) {
      const key = `${endpoint.address}:${endpoint.port}`;
      const kept = previous.get(key);
      if (kept !== undefined && sameEndpoint(kept.endpoint, endpoint)) {
        previous.delete(key);
        next.push(kept);
      } else {
        next.push(new UpstreamHost(endpoint, this.config, () => this.connectionLimitPerHost(), this.connector));
      }
    }
    this.hostList = next;
    // New hosts start failed by active health checking until their first check passes.
    if (!this.closed) this.healthChecker?.setHosts(next);
    this.outlier?.setHosts(next);
    let capacity = 0;
    for (const h of next) capacity += h.connectionLimit;
    this.connectionCapacity = capacity;
    this.lb = createLoadBalancer(this.config.lbPolicy, next, this.lbOptions);
    // Removed hosts finish their in-flight requests, then close.
    for (const gone of previous.values()) void gone.close();
  }

  /** Rebuilds the picker after hosts changed health (health checks and outlier detection call this). */
  healthChanged(): void {
    this.lb = createLoadBalancer(this.config.lbPolicy, this.hostList, this.lbOptions);
  }

  /** Closes the hosts once their in-flight requests finish; health checks and outlier detection stop. Stats stay: a replacing cluster of the same name shares them. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.dnsTimer) clearInterval(this.dnsTimer);
    if (this.outlierTimer) clearInterval(this.outlierTimer);
    this.healthChecker?.stop();
    this.tls?.close();
    // A cluster removed while warming stops waiting for endpoints.
    this.firstAssignment?.();
    await Promise.all(this.hostList.map((h) => h.close()));
  }

  /** Outlier detection's interval: hosts whose ejection is over come back; success-rate ejections. */
  private onOutlierInterval(): void {
    const decisions = this.outlier!.onInterval(performance.now());
    if (decisions.length > 0 && this.applyOutlierDecisions(decisions)) this.healthChanged();
  }

  /** Applies the detector's decisions to the hosts and the counters; true when a host's health changed. */
  private applyOutlierDecisions(decisions: readonly OutlierDecision<UpstreamHost>[]): boolean {
    const stats = this.stats;
    let changed = false;
    for (const d of decisions) {
      if (d.kind === 'unejected') {
        changed = d.host.setFlag(HealthFlag.FAILED_OUTLIER_CHECK, false) || changed;
        this.log.info({ cluster: this.name, host: d.host.key }, 'host returned from outlier ejection');
        continue;
      }
      const [detected, enforced] = EJECTION_COUNTERS[d.type];
      stats[detected].value++;
      if (d.kind === 'overflow') stats.outlierEjectionsOverflow.value++;
      if (d.kind !== 'ejected') continue;
      stats[enforced].value++;
      stats.outlierEjections.value++;
      changed = d.host.setFlag(HealthFlag.FAILED_OUTLIER_CHECK, true) || changed;
      this.log.info(
        { cluster: this.name, host: d.host.key, type: d.type, ejectionMs: Math.round(d.untilMs - performance.now()) },
        'host ejected by outlier detection',
      );
    }
    return changed;
  }

  /** A health check ended; the session has already updated the host's FAILED_ACTIVE_HC flag. */
  private onHealthCheck(host: UpstreamHost, result: CheckResult, transition: HealthTransition): void {
    const stats = this.stats;
    if (result === 'success') stats.healthCheckSuccess.value++;
    else {
      stats.healthCheckFailure.value++;
      if (result === 'network_failure' || result === 'network_timeout') stats.healthCheckNetworkFailure.value++;
    }
    let changed = transition === 'changed';
    if (transition === 'changed') {
      this.log.debug({ cluster: this.name, host: host.key, result, healthy: !host.hasFlag(HealthFlag.FAILED_ACTIVE_HC) }, 'active health check state');
    }
    // Envoy's successful_active_health_check_uneject_host: a passing check returns an ejected host.
    if (result === 'success' && this.outlier !== undefined && !host.hasFlag(HealthFlag.FAILED_ACTIVE_HC)) {
      const decisions = this.outlier.healthCheckPassed(host, performance.now());
      if (decisions.length > 0) changed = this.applyOutlierDecisions(decisions) || changed;
    }
    if (changed && !this.closed) this.healthChanged();
  }

  /**
   * A health check's connection over the cluster's TLS: the same connector as the hosts' pools
   * (client certificate, peer verification, SSL stats and refusal logs), HTTP/1.1 by ALPN.
   */
  private connectForHealthCheck(host: UpstreamHost, callback: (err: Error | null, socket: Socket | null) => void): void {
    const connector = this.connector;
    // Hosts (and so their checks) exist only once the connector does; this is for safety.
    if (connector === undefined) return callback(new Error('TLS secrets not ready'), null);
    const { address, port } = host.endpoint;
    connector(
      { protocol: 'https:', hostname: address, host: address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`, port: String(port) },
      (err, socket) => (err === null ? callback(null, socket) : callback(err, null)),
    );
  }

  private async resolve(): Promise<void> {
    const resolved: EndpointConfig[] = [];
    for (const endpoint of this.config.endpoints) {
      if (isIP(endpoint.address)) {
        resolved.push(endpoint);
        continue;
      }
      try {
        const addresses = await lookup(endpoint.address, { all: true, family: this.config.dnsFamily });
        // LOGICAL_DNS uses one address at a time, as Envoy does; STRICT_DNS every address.
        const used = this.config.type === 'LOGICAL_DNS' ? addresses.slice(0, 1) : addresses;
        for (const a of used) resolved.push({ ...endpoint, address: a.address });
      } catch (err) {
        // Keep the last good hosts of this name: a resolver hiccup must not empty the cluster.
        this.log.warn({ cluster: this.name, host: endpoint.address, err: (err as Error).message }, 'DNS resolution failed');
        for (const h of this.hostList) if (h.endpoint.port === endpoint.port) resolved.push(h.endpoint);
      }
    }
    const changed =
      resolved.length !== this.hostList.length || resolved.some((e, i) => !sameEndpoint(e, this.hostList[i]!.endpoint));
    if (changed) this.setEndpoints(resolved);
  }
}

function sameEndpoint(a: EndpointConfig, b: EndpointConfig): boolean {
  return (
    a.address === b.address &&
    a.port === b.port &&
    a.weight === b.weight &&
    a.priority === b.priority &&
    a.locality === b.locality &&
    a.localityWeight === b.localityWeight &&
    a.healthy === b.healthy
  );
}
