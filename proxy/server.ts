import type { Logger } from 'pino';
import { AdminServer } from './admin/admin-server';
import { collectConfigGarbage } from './heap';
import { ClusterManager } from './cluster/cluster-manager';
import type { BootstrapConfig } from './config/bootstrap';
import { listenerConfig } from './config/listener-parser';
import { AccessLogger } from './listener/access-log';
import { HttpConnectionManager } from './listener/http-connection-manager';
import { HttpListener } from './listener/http-listener';
import type { ListenerConfig } from './listener/listener-config';
import { ListenerStats, ProxyStats, sslStats } from './metrics/proxy-stats';
import { SecretManager } from './tls/secret-manager';
import { OverloadManager } from './overload/overload-manager';
import { TlsMaterial } from './tls/tls-material';
import type { RouteTable } from './router/route-table';
import { XdsConfig } from '../xds/xds-config';

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
  /** --max-active-requests: requests in flight past this are shed with 503 OM. */
  readonly maxActiveRequests?: number;
}

/**
 * One proxy process: admin, clusters, listeners, in start-up order, and their
 * orderly shutdown. Readiness turns LIVE only once every cluster has its first
 * endpoints and every listener is bound (with ADS: once the first clusters,
 * endpoints, listeners and routes are applied, in that order), so an app that
 * waits on `/ready` never sends into a proxy without config.
 */
export class ProxyServer {
  private currentState: ServerState = 'PRE_INITIALIZING';
  healthCheckFailed = false;
  readonly startedAt = Date.now();
  readonly stats: ProxyStats;
  readonly clusters: ClusterManager;
  /** Certificates and trust bundles by name: the bootstrap's, and SDS's. */
  readonly secrets: SecretManager;
  readonly overload: OverloadManager;
  readonly listeners = new Map<string, HttpListener>();
  /** Listeners replaced by one on another address, or removed, finishing their requests. */
  private readonly drainingListeners = new Map<HttpListener, Promise<void>>();
  /** The ADS client and the dynamic resources (in each worker with --workers; not in the primary). */
  readonly xds: XdsConfig | undefined;
  private admin: AdminServer | undefined;
  private shuttingDown: Promise<void> | undefined;
  private readonly drainSteps: (() => Promise<void>)[] = [];
  private readonly drainStartSteps: (() => Promise<void>)[] = [];
  private drainStarted: Promise<void> | undefined;
  private readonly liveCallbacks: (() => void)[] = [];
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
        // Chains (PERMISSIVE's TLS and plaintext ones) may share a stat prefix: their gauges add up.
        const connections = new Map<string, number>();
        const requests = new Map<string, number>();
        for (const listener of this.listeners.values()) {
          for (const chain of listener.chainStats()) {
            connections.set(chain.statPrefix, (connections.get(chain.statPrefix) ?? 0) + chain.connections);
            requests.set(chain.statPrefix, (requests.get(chain.statPrefix) ?? 0) + chain.activeRequests);
          }
        }
        for (const [prefix, value] of connections) stats.downstreamCxActive.cell(prefix).value = value;
        for (const [prefix, value] of requests) stats.downstreamRqActive.cell(prefix).value = value;
      },
      refreshXds: (stats) => this.xds?.refreshGauges(stats),
    });
    this.secrets = new SecretManager(bootstrap.secrets, log);
    this.overload = new OverloadManager(bootstrap.overload, options.maxActiveRequests);
    this.clusters = new ClusterManager(this.stats, log, this.secrets);
    if (bootstrap.ads !== undefined && this.role !== 'primary') this.xds = new XdsConfig(this, bootstrap, bootstrap.ads, log, this.stats);
  }

  get state(): ServerState {
    return this.currentState;
  }

  /** The first change to LIVE (in the primary with --workers: once every worker is) calls the onLive callbacks. */
  set state(next: ServerState) {
    const was = this.currentState;
    this.currentState = next;
    if (next === 'LIVE' && was !== 'LIVE') for (const callback of this.liveCallbacks.splice(0)) callback();
  }

  /** Calls `callback` once, when the proxy first turns LIVE (its first config applied and warm); not after it has drained. */
  onLive(callback: () => void): void {
    if (this.currentState === 'LIVE') callback();
    else if (this.currentState !== 'DRAINING') this.liveCallbacks.push(callback);
  }

  /**
   * Work done first when draining starts (shutdown, /drain_listeners, and /healthcheck/fail, which
   * a pod's preStop calls before the app is stopped), with readiness already 503 DRAINING and
   * before any listener stops accepting: e.g. leaving a service registry, so that peers stop
   * sending new requests while in-flight ones finish. The step bounds its own time.
   */
  addDrainStartStep(step: () => Promise<void>): void {
    this.drainStartSteps.push(step);
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
    // EDS clusters and RDS listeners are the xDS client's: they warm as their resources arrive.
    // Static clusters warm meanwhile: those with SDS certificates need the ADS stream up.
    const staticClusters = Promise.all(this.bootstrap.clusters.filter((c) => c.type !== 'EDS').map((c) => this.clusters.addOrUpdate(c)));
    await this.xds?.start();
    await staticClusters;
    if (this.role !== 'primary') {
      for (const listener of this.bootstrap.listeners) {
        const tables = listener.chains.map((c) => (c.routes.kind === 'inline' ? c.routes.table : undefined));
        if (tables.every((t) => t !== undefined)) await this.addOrUpdateListener(listenerConfig(listener, tables));
      }
    }
    collectConfigGarbage();
    // The primary is live once its workers are (see workers.ts).
    if (this.role !== 'primary') this.state = 'LIVE';
    if (this.role === 'single') this.log.info(
      { listeners: [...this.listeners.values()].map((l) => `${l.config.name}@${l.config.address}:${l.port}`), admin: this.adminPort },
      'meshlet is live',
    );
  }

  /**
   * Adds a listener, or updates one without dropping anything: on the same address the socket
   * and its connections stay and new requests see the new config; on another address the new
   * listener binds first, then the old one drains. Rejects when the address cannot be bound.
   */
  async addOrUpdateListener(config: ListenerConfig): Promise<void> {
    const current = this.listeners.get(config.name);
    const managers = this.connectionManagers(config, current);
    // Envoy's listener warming: a TLS chain waits for its SDS certificate before it takes connections.
    await Promise.all(managers.map((m) => m.tls?.ready()));
    if (current !== undefined && current.config.address === config.address && current.config.port === config.port) {
      current.update(config, managers);
      return;
    }
    const address = `${config.address}_${config.port}`;
    const listener = new HttpListener(config, managers, {
      ssl: sslStats(this.stats, 'downstream', address),
      noFilterChainMatch: this.stats.noFilterChainMatch.cell(address),
      globalCxOverflow: this.stats.globalCxOverflow.cell(address),
      overload: this.overload,
      log: this.log,
    });
    await listener.listen();
    this.listeners.set(config.name, listener);
    if (current !== undefined) this.drainInBackground(current);
  }

  /** An RDS update for one listener: its chains' route tables. */
  setRouteTables(listenerName: string, routeTables: readonly RouteTable[]): void {
    this.listeners.get(listenerName)?.setRouteTables(routeTables);
  }

  /** Stops a listener: it drains (in-flight requests finish within the drain time) in the background. */
  removeListener(name: string): void {
    const listener = this.listeners.get(name);
    if (listener === undefined) return;
    this.listeners.delete(name);
    this.drainInBackground(listener);
  }

  private drainInBackground(listener: HttpListener): void {
    const drained = listener.drain(this.options.drainTimeMs).then(() => {
      for (const hcm of listener.connectionManagers) hcm.accessLog.flush();
      this.drainingListeners.delete(listener);
    });
    this.drainingListeners.set(listener, drained);
  }

  /** A connection manager per filter chain; an update keeps a chain's access log sinks when they are unchanged. */
  private connectionManagers(config: ListenerConfig, current: HttpListener | undefined): HttpConnectionManager[] {
    return config.chains.map((chain, i) => {
      const previous = current?.connectionManagers[i];
      const sameLogs = previous !== undefined && JSON.stringify(previous.config.accessLogs) === JSON.stringify(chain.hcm.accessLogs);
      return new HttpConnectionManager(
        chain.hcm,
        config.name,
        this.clusters,
        new ListenerStats(this.stats, config.name, chain.hcm.statPrefix),
        sameLogs ? previous.accessLog : new AccessLogger(chain.hcm.accessLogs, config.name),
        chain.tls && new TlsMaterial(chain.tls, this.secrets),
        this.overload,
      );
    });
  }

  /**
   * Envoy's `POST /drain_listeners`: readiness fails, listeners stop accepting and drain
   * (in-flight requests finish within the drain time, keep-alive clients are told
   * `connection: close`), but the process stays, e.g. for a pod whose app still shuts down.
   */
  async drainListeners(): Promise<void> {
    this.state = 'DRAINING';
    await this.startDraining();
    for (const listener of this.listeners.values()) this.drainInBackground(listener);
    this.listeners.clear();
    return Promise.all(this.drainingListeners.values()).then(() => undefined);
  }

  /**
   * /healthcheck/fail: readiness says DRAINING and the drain-start steps run (a registration is
   * left), while listeners keep serving until SIGTERM. /healthcheck/ok makes /ready LIVE again;
   * what the steps left stays left.
   */
  failHealthChecks(): Promise<void> {
    this.healthCheckFailed = true;
    return this.startDraining();
  }

  /** The drain-start steps, once, however many ways draining is asked for. */
  private startDraining(): Promise<void> {
    this.liveCallbacks.length = 0;
    this.drainStarted ??= Promise.all(this.drainStartSteps.map((step) => step())).then(() => undefined);
    return this.drainStarted;
  }

  /** Drains listeners (in-flight requests finish, within the drain time), then closes upstreams and admin. Idempotent. */
  shutdown(reason: string): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.log.info({ reason, drainTimeMs: this.options.drainTimeMs }, 'draining');
      this.state = 'DRAINING';
      await this.startDraining();
      this.xds?.close();
      await Promise.all([...this.listeners.values()].map((l) => l.drain(this.options.drainTimeMs)).concat([...this.drainingListeners.values()]));
      for (const step of this.drainSteps) await step();
      for (const listener of this.listeners.values()) for (const hcm of listener.connectionManagers) hcm.accessLog.flush();
      await this.clusters.closeAll();
      await this.admin?.close();
      this.overload.close();
      this.log.info('stopped');
    })();
    return this.shuttingDown;
  }
}
