import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../balancer/load-balancer';
import type { PickContext } from '../balancer/host';
import { clusterStats, type ClusterStats, type ProxyStats } from '../metrics/proxy-stats';
import type { ClusterConfig, EndpointAssignment, EndpointConfig } from './cluster-config';
import { CircuitBreakers } from './circuit-breakers';
import type { UpstreamOutcome } from './upstream-outcome';
import { UpstreamHost } from './upstream-host';

/**
 * A cluster at run time: its hosts, the immutable picker over them, and its stats.
 * The picker is rebuilt whenever the host set or a host's health changes; a pick
 * never sees a half-updated set.
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
  readonly stats: ClusterStats;
  readonly breakers = new CircuitBreakers();

  constructor(
    readonly config: ClusterConfig,
    proxyStats: ProxyStats,
    private readonly log: Logger,
  ) {
    this.stats = clusterStats(proxyStats, config.name);
    this.lbOptions = config.lbOptions;
    this.lb = createLoadBalancer(config.lbPolicy, this.hostList, this.lbOptions);
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
  reportOutcome(_host: UpstreamHost, _outcome: UpstreamOutcome): void {}

  pick(ctx?: PickContext): UpstreamHost | undefined {
    return this.lb.pick(ctx) as UpstreamHost | undefined;
  }

  /** An EDS update: the endpoints and the assignment's overprovisioning factor. */
  assign(assignment: EndpointAssignment): void {
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
        next.push(new UpstreamHost(endpoint, this.config));
      }
    }
    this.hostList = next;
    this.lb = createLoadBalancer(this.config.lbPolicy, next, this.lbOptions);
    // Removed hosts finish their in-flight requests, then close.
    for (const gone of previous.values()) void gone.close();
  }

  /** Rebuilds the picker after hosts changed health (health checks and outlier detection call this). */
  healthChanged(): void {
    this.lb = createLoadBalancer(this.config.lbPolicy, this.hostList, this.lbOptions);
  }

  /** Closes the hosts once their in-flight requests finish. Stats stay: a replacing cluster of the same name shares them. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.dnsTimer) clearInterval(this.dnsTimer);
    // A cluster removed while warming stops waiting for endpoints.
    this.firstAssignment?.();
    await Promise.all(this.hostList.map((h) => h.close()));
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
