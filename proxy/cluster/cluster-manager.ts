import type { Logger } from 'pino';
import type { ProxyStats } from '../metrics/proxy-stats';
import type { SecretManager } from '../tls/secret-manager';
import { TlsMaterial } from '../tls/tls-material';
import { Cluster } from './cluster';
import type { BreakerGauges } from './circuit-breakers';
import type { ClusterConfig, EndpointAssignment } from './cluster-config';

/**
 * All clusters by name. Routes look clusters up by name per request, so an update is one map
 * write. A new or changed cluster warms first (DNS: first resolution; EDS: first assignment)
 * while the previous version keeps serving, as in Envoy.
 */
export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();
  private readonly warmingClusters = new Map<string, Cluster>();
  private warmWaiters: (() => void)[] = [];

  constructor(
    private readonly stats: ProxyStats,
    private readonly log: Logger,
    private readonly secrets: SecretManager,
  ) {}

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  all(): IterableIterator<Cluster> {
    return this.clusters.values();
  }

  /**
   * Adds or replaces a cluster: the new one serves once warm, then the old one is closed. An EDS
   * cluster warms with `assignment`, or with the first one given to assign(). Resolves true once
   * the cluster serves, false if a newer version or a removal superseded it while warming.
   */
  async addOrUpdate(config: ClusterConfig, assignment?: EndpointAssignment): Promise<boolean> {
    const cluster = new Cluster(config, this.stats, this.log, config.tls && new TlsMaterial(config.tls, this.secrets));
    void this.warmingClusters.get(config.name)?.close();
    this.warmingClusters.set(config.name, cluster);
    await cluster.initialize(assignment);
    if (this.warmingClusters.get(config.name) !== cluster) return false;
    this.warmingClusters.delete(config.name);
    const previous = this.clusters.get(config.name);
    this.clusters.set(config.name, cluster);
    this.notifyIfWarm();
    if (previous) await previous.close();
    return true;
  }

  /** An EDS update for the cluster `name`: the serving version and a warming one both take it. */
  assign(name: string, assignment: EndpointAssignment): void {
    this.clusters.get(name)?.assign(assignment);
    this.warmingClusters.get(name)?.assign(assignment);
  }

  async remove(name: string): Promise<void> {
    const warming = this.warmingClusters.get(name);
    this.warmingClusters.delete(name);
    const cluster = this.clusters.get(name);
    this.clusters.delete(name);
    this.notifyIfWarm();
    await Promise.all([warming?.close(), cluster?.close()]);
    // Only now: a cluster replaced by a newer version of the same name keeps its series.
    this.stats.forgetCluster(name);
  }

  /** Resolves when no cluster is warming (the proxy's initialization waits for this). */
  whenWarm(): Promise<void> {
    if (this.warmingClusters.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.warmWaiters.push(resolve));
  }

  private notifyIfWarm(): void {
    if (this.warmingClusters.size > 0) return;
    const waiters = this.warmWaiters;
    this.warmWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Refreshes the live cluster gauges at scrape time. */
  refreshGauges(stats: ProxyStats): void {
    for (const cluster of this.clusters.values()) {
      let connections = 0;
      let active = 0;
      let healthy = 0;
      for (const host of cluster.hosts) {
        connections += host.connections;
        active += host.activeRequests;
        if (host.healthy) healthy++;
      }
      stats.clusterCxActive.cell(cluster.name).value = connections;
      stats.clusterRqActive.cell(cluster.name).value = active;
      stats.clusterMembershipTotal.cell(cluster.name).value = cluster.hosts.length;
      stats.clusterMembershipHealthy.cell(cluster.name).value = healthy;
      if (cluster.outlier !== undefined) stats.outlierEjectionsActive.cell(cluster.name).value = cluster.outlier.activeEjections;
      if (cluster.healthChecker !== undefined) stats.healthCheckHealthy.cell(cluster.name).value = cluster.healthChecker.healthyCount();
      const gauges = cluster.breakers.gauges();
      const trackRemaining = cluster.config.circuitBreakers.trackRemaining === true;
      for (const field of Object.keys(gauges) as (keyof BreakerGauges)[]) {
        // As Envoy: remaining_* only with track_remaining.
        if (!trackRemaining && field.startsWith('remaining')) continue;
        stats.circuitBreakers[field].cell(cluster.name).value = gauges[field];
      }
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.clusters.values(), ...this.warmingClusters.values()].map((c) => c.close()));
    this.clusters.clear();
    this.warmingClusters.clear();
  }
}
