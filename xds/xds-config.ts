import type { Logger } from 'pino';
import type { ClusterManager } from '../proxy/cluster/cluster-manager';
import type { BootstrapConfig } from '../proxy/config/bootstrap';
import type { AdsConfig } from '../proxy/config/config-source';
import type { ProxyStats } from '../proxy/metrics/proxy-stats';
import { GaugeFamily } from '../proxy/metrics/metric-family';
import { AdsClient, type AdsHandler } from './ads-client';
import { adsChannelSecurity } from './ads-credentials';
import { grpcTarget } from './control-plane-endpoints';
import { SOTW_PROTOCOL } from './ads-sotw-protocol';
import { DELTA_PROTOCOL } from './delta-protocol';
import { XdsClusters } from './xds-clusters';
import { XdsListeners, type ListenerHost } from './xds-listeners';
import { nodeMessage } from './xds-node';
import type { SecretManager } from '../proxy/tls/secret-manager';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET, type Versioned, type XdsResourceType, type XdsUpdate } from './xds-resource-types';

/** What xDS changes in the proxy (ProxyServer implements it). */
export interface XdsHost extends ListenerHost {
  readonly clusters: ClusterManager;
  readonly secrets: SecretManager;
}

/**
 * The proxy's dynamic configuration: the ADS client, and what its updates change. Start-up
 * follows Envoy's order, so nothing references config that is not there yet: clusters (CDS)
 * and their endpoints (EDS) first, then listeners (LDS) and their routes (RDS); start()
 * resolves once all four are applied, and the proxy turns LIVE then. Later updates apply as
 * they come; while the control plane is away, the last accepted config keeps serving.
 */
export class XdsConfig implements AdsHandler {
  private readonly client: Pick<AdsClient<unknown, unknown, never>, 'start' | 'subscribe' | 'close'>;
  readonly clusters: XdsClusters;
  readonly listeners: XdsListeners;
  /** The control plane (host:port) the ADS stream is up to, undefined while it is down. */
  private controlPlane: string | undefined;
  private readonly controlPlaneInfo: GaugeFamily;
  private readonly lastAccepted = new Map<string, { version: string; at: number }>();
  private readonly firstAccepted = new Map<string, () => void>();

  constructor(
    private readonly host: XdsHost,
    bootstrap: BootstrapConfig,
    private readonly ads: AdsConfig,
    private readonly log: Logger,
    private readonly stats: ProxyStats,
  ) {
    const adsCluster = bootstrap.clusters.find((c) => c.name === ads.clusterName);
    const clientLog = log.child({ xds: ads.protocol });
    const options = {
      ...adsChannelSecurity(bootstrap.adsTls, clientLog),
      target: ads.endpoints.map(grpcTarget),
      connectTimeoutMs: adsCluster?.connectTimeoutMs,
      keepalive: adsCluster?.http2Keepalive,
      node: nodeMessage(bootstrap.node),
      nodeOnFirstMessageOnly: ads.nodeOnFirstMessageOnly,
    };
    this.client =
      ads.protocol === 'delta' ? new AdsClient(DELTA_PROTOCOL, options, this, clientLog) : new AdsClient(SOTW_PROTOCOL, options, this, clientLog);
    const staticSecrets = new Set(bootstrap.secrets.keys());
    this.clusters = new XdsClusters(
      host.clusters,
      bootstrap.clusters,
      (names) => this.client.subscribe(CLUSTER_LOAD_ASSIGNMENT, names),
      log,
      { ads: true, staticSecrets, localLocality: bootstrap.node.locality },
    );
    this.listeners = new XdsListeners(host, bootstrap.listeners, (names) => this.client.subscribe(ROUTE_CONFIGURATION, names), log, staticSecrets);
    // TLS contexts subscribe to the SDS secrets they name, as they are created.
    host.secrets.subscribe = (names) => this.client.subscribe(SECRET, names);
    // Registered here, not with ProxyStats' families: only a proxy with an ADS stream has it.
    // With --workers each worker has its own stream: summed, how many are on each replica.
    this.controlPlaneInfo = new GaugeFamily(
      'meshlet_xds_control_plane_info',
      'The control plane replica the ADS stream is connected to (info metric: value 1; none while disconnected)',
      ['address'],
      () => this.refreshControlPlaneInfo(),
    );
    stats.registry.registerMetric(this.controlPlaneInfo as never);
  }

  async start(): Promise<void> {
    const clustersLoaded = this.ads.cds ? this.firstUpdate(CLUSTER) : undefined;
    if (this.ads.cds) this.client.subscribe(CLUSTER);
    this.clusters.start();
    this.client.start();
    await clustersLoaded;
    await this.host.clusters.whenWarm();

    const listenersLoaded = this.ads.lds ? this.firstUpdate(LISTENER) : undefined;
    if (this.ads.lds) this.client.subscribe(LISTENER);
    this.listeners.start();
    await listenersLoaded;
    await this.listeners.whenWarm();
    this.log.info({ cds: this.clusters.version, lds: this.listeners.version }, 'xDS configuration loaded');
  }

  close(): void {
    this.client.close();
  }

  apply(update: XdsUpdate): string | undefined {
    switch (update.type) {
      case CLUSTER:
        return this.clusters.applyClusters(update);
      case CLUSTER_LOAD_ASSIGNMENT:
        return this.clusters.applyEndpoints(update);
      case LISTENER:
        return this.listeners.applyListeners(update, this.clusters.names());
      case ROUTE_CONFIGURATION:
        return this.listeners.applyRoutes(update, this.clusters.names());
      case SECRET:
        return this.host.secrets.applySecrets(update);
    }
    return `meshlet does not subscribe to ${update.type.typeUrl}`;
  }

  accepted(update: XdsUpdate): void {
    const { type, version, resources, removed } = update;
    this.log.info({ type: type.api, version, resources: resources.length, removed: removed.length }, 'xDS update accepted');
    this.count(type, resources.map((r) => r.name), true);
    this.lastAccepted.set(type.typeUrl, { version, at: Date.now() });
    this.stats.xdsLastAckVersion.forget('type_url', type.typeUrl);
    this.stats.xdsLastAckVersion.cell(type.typeUrl, version).value = 1;
    this.firstAccepted.get(type.typeUrl)?.();
    this.firstAccepted.delete(type.typeUrl);
  }

  rejected(type: XdsResourceType, names: readonly string[], error: string): void {
    this.log.warn({ type: type.api, resources: names, error }, 'xDS update rejected (NACK); the last accepted config keeps serving');
    this.count(type, names, false);
  }

  connected(target: string | undefined): void {
    this.controlPlane = target;
  }

  /** Scrape time: the connection state and how old each type's config is. */
  refreshGauges(stats: ProxyStats): void {
    stats.controlPlaneConnected.cell().value = this.controlPlane === undefined ? 0 : 1;
    const now = Date.now();
    for (const [typeUrl, { at }] of this.lastAccepted) stats.xdsConfigAge.cell(typeUrl).value = (now - at) / 1000;
  }

  /** The dynamic resources in Envoy's config dump layout (see proxy/admin/config-dump.ts). */
  dump(): { clusters: object; endpoints: object; listeners: object; routes: object } {
    const clusters = this.clusters.dump();
    const listeners = this.listeners.dump();
    const state = (v: Versioned<unknown>, key: string) => ({ version_info: v.version, [key]: v.source, last_updated: v.lastUpdated.toISOString() });
    return {
      clusters: {
        version_info: this.clusters.version,
        dynamic_active_clusters: clusters.active.map((c) => state(c, 'cluster')),
        dynamic_warming_clusters: clusters.warming.map((c) => state(c, 'cluster')),
      },
      endpoints: { dynamic_endpoint_configs: clusters.endpoints.map((e) => state(e, 'endpoint_config')) },
      listeners: {
        version_info: this.listeners.version,
        dynamic_listeners: listeners.listeners.map((l) => ({
          name: l.name,
          active_state: l.active && state(l.active, 'listener'),
          warming_state: l.warming && state(l.warming, 'listener'),
        })),
      },
      routes: { dynamic_route_configs: listeners.routes.map((r) => state(r, 'route_config')) },
    };
  }

  private refreshControlPlaneInfo(): void {
    this.controlPlaneInfo.reset();
    if (this.controlPlane !== undefined) this.controlPlaneInfo.cell(this.controlPlane).value = 1;
  }

  private firstUpdate(type: XdsResourceType): Promise<void> {
    return new Promise((resolve) => this.firstAccepted.set(type.typeUrl, resolve));
  }

  /** Envoy's update_success / update_rejected counters: per response for CDS/LDS, per resource for RDS/EDS. */
  private count(type: XdsResourceType, names: readonly string[], success: boolean): void {
    const s = this.stats;
    switch (type) {
      case CLUSTER:
        (success ? s.cdsUpdateSuccess : s.cdsUpdateRejected).cell().value++;
        break;
      case LISTENER:
        (success ? s.ldsUpdateSuccess : s.ldsUpdateRejected).cell().value++;
        break;
      case ROUTE_CONFIGURATION:
        for (const name of names) (success ? s.rdsUpdateSuccess : s.rdsUpdateRejected).cell(name).value++;
        break;
      case CLUSTER_LOAD_ASSIGNMENT:
        for (const name of names) (success ? s.edsUpdateSuccess : s.edsUpdateRejected).cell(name).value++;
        break;
    }
  }
}
