import type { Logger } from 'pino';
import { AdminServer } from './admin/admin-server';
import { collectConfigGarbage } from './heap';
import { ClusterManager } from './cluster/cluster-manager';
import type { BootstrapConfig } from './config/bootstrap';
import { AccessLogger } from './listener/access-log';
import { HttpConnectionManager } from './listener/http-connection-manager';
import { HttpListener } from './listener/http-listener';
import type { ListenerConfig } from './listener/listener-config';
import { ListenerStats, ProxyStats } from './metrics/proxy-stats';

/** Envoy's server states, as `/ready` reports them. */
export type ServerState = 'PRE_INITIALIZING' | 'INITIALIZING' | 'LIVE' | 'DRAINING';

/**
 * `single`: one process does everything. With `--workers N`, the `primary` serves admin
 * (metrics aggregated over the workers) and no listeners; each `worker` serves the
 * listeners and no admin.
 */
export type ProcessRole = 'single' | 'primary' | 'worker';

export interface ProxyServerOptions {
  /** How long in-flight requests may take to finish on shutdown (Envoy's --drain-time-s). */
  readonly drainTimeMs: number;
  readonly role?: ProcessRole;
}

/**
 * One proxy process: admin, clusters, listeners, in start-up order, and their
 * orderly shutdown. Readiness turns LIVE only once every cluster has its first
 * endpoints and every listener is bound, so an app that waits on `/ready`
 * never sends into a proxy without config.
 */
export class ProxyServer {
  state: ServerState = 'PRE_INITIALIZING';
  healthCheckFailed = false;
  readonly startedAt = Date.now();
  readonly stats: ProxyStats;
  readonly clusters: ClusterManager;
  readonly listeners = new Map<string, HttpListener>();
  private admin: AdminServer | undefined;
  private shuttingDown: Promise<void> | undefined;
  private readonly drainSteps: (() => Promise<void>)[] = [];
  /** Where /stats/prometheus reads from; the primary replaces it with the workers' aggregate. */
  metricsText: () => Promise<string> = () => this.stats.registry.metrics();

  constructor(
    readonly bootstrap: BootstrapConfig,
    readonly log: Logger,
    readonly options: ProxyServerOptions,
  ) {
    this.stats = new ProxyStats({
      refreshClusters: (stats) => this.clusters.refreshGauges(stats),
      refreshDownstream: (stats) => {
        for (const listener of this.listeners.values()) {
          const prefix = listener.config.hcm.statPrefix;
          stats.downstreamCxActive.cell(prefix).value = listener.connectionCount;
          stats.downstreamRqActive.cell(prefix).value = listener.hcm.activeRequests;
        }
      },
    });
    this.clusters = new ClusterManager(this.stats, log);
  }

  get adminPort(): number | undefined {
    return this.admin?.port;
  }

  get role(): ProcessRole {
    return this.options.role ?? 'single';
  }

  /** Work to finish while draining, before upstreams close (the primary's: its workers). */
  addDrainStep(step: () => Promise<void>): void {
    this.drainSteps.push(step);
  }

  async start(): Promise<void> {
    if (this.bootstrap.admin && this.role !== 'worker') {
      this.admin = new AdminServer(this, this.bootstrap.admin.address, this.bootstrap.admin.port);
      await this.admin.listen();
    }
    this.state = 'INITIALIZING';
    await Promise.all(this.bootstrap.clusters.map((c) => this.clusters.addOrUpdate(c)));
    if (this.role !== 'primary') for (const config of this.bootstrap.listeners) await this.addListener(config);
    collectConfigGarbage();
    // The primary is live once its workers are (see workers.ts).
    if (this.role !== 'primary') this.state = 'LIVE';
    if (this.role === 'single') this.log.info(
      { listeners: [...this.listeners.values()].map((l) => `${l.config.name}@${l.config.address}:${l.port}`), admin: this.adminPort },
      'meshlet is live',
    );
  }

  private async addListener(config: ListenerConfig): Promise<void> {
    const hcm = new HttpConnectionManager(
      config.hcm,
      config.name,
      this.clusters,
      new ListenerStats(this.stats, config.name, config.hcm.statPrefix),
      new AccessLogger(config.hcm.accessLogs, config.name),
      'http',
    );
    const listener = new HttpListener(config, hcm);
    await listener.listen();
    this.listeners.set(config.name, listener);
  }

  /** Drains listeners (in-flight requests finish, within the drain time), then closes upstreams and admin. Idempotent. */
  shutdown(reason: string): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.log.info({ reason, drainTimeMs: this.options.drainTimeMs }, 'draining');
      this.state = 'DRAINING';
      await Promise.all([...this.listeners.values()].map((l) => l.drain(this.options.drainTimeMs)));
      for (const step of this.drainSteps) await step();
      for (const listener of this.listeners.values()) listener.hcm.accessLog.flush();
      await this.clusters.closeAll();
      await this.admin?.close();
      this.log.info('stopped');
    })();
    return this.shuttingDown;
  }
}
