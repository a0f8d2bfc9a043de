import type { Logger } from 'pino';
import type { ProxyStats } from '../metrics/proxy-stats';
import { Cluster } from './cluster';
import type { ClusterConfig } from './cluster-config';

/** All clusters by name. Routes look clusters up by name per request, so an update is one map write. */
export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();

  constructor(
    private readonly stats: ProxyStats,
    private readonly log: Logger,
  ) {}

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  all(): IterableIterator<Cluster> {
    return this.clusters.values();
  }

  /** Adds or replaces a cluster; the new one serves once initialized (warm), then the old one is closed. */
  async addOrUpdate(config: ClusterConfig): Promise<void> {
    const cluster = new Cluster(config, this.stats, this.log);
    await cluster.initialize();
    const previous = this.clusters.get(config.name);
    this.clusters.set(config.name, cluster);
    if (previous) await previous.close();
  }

  async remove(name: string): Promise<void> {
    const cluster = this.clusters.get(name);
    if (!cluster) return;
    this.clusters.delete(name);
    await cluster.close();
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
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.clusters.values()].map((c) => c.close()));
    this.clusters.clear();
  }
}
