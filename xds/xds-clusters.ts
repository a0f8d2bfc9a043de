import type { Logger } from 'pino';
import type { ClusterConfig, EndpointAssignment } from '../proxy/cluster/cluster-config';
import type { ClusterManager } from '../proxy/cluster/cluster-manager';
import { parseCluster, parseLoadAssignment, type ClusterParseOptions } from '../proxy/config/cluster-parser';
import type { ConfigIssue } from './config-error';
import {
  CLUSTER,
  CLUSTER_LOAD_ASSIGNMENT,
  fromBootstrap,
  resourceError,
  unchanged,
  versioned,
  type Versioned,
  type XdsUpdate,
} from './xds-resource-types';

/** A cluster name's versions: the one serving, and a newer one warming (Envoy's active and warming clusters). */
interface ClusterSlot {
  active?: Versioned<ClusterConfig>;
  warming?: Versioned<ClusterConfig>;
  /** Static EDS clusters live here too (for their endpoints) but are not CDS's to change. */
  readonly isStatic: boolean;
}

/**
 * CDS and EDS: clusters from the control plane, and the endpoints of EDS clusters (static or
 * dynamic). A new or changed cluster warms, the previous version serving meanwhile; an EDS
 * cluster is warm once its ClusterLoadAssignment is known. EDS subscriptions follow the
 * clusters: a new EDS cluster subscribes its assignment, a removed one unsubscribes it.
 */
export class XdsClusters {
  private readonly slots = new Map<string, ClusterSlot>();
  /** ClusterLoadAssignments by name (a cluster's edsServiceName). */
  private readonly assignments = new Map<string, Versioned<EndpointAssignment>>();
  /** version_info of the last accepted CDS response. */
  version = '';

  constructor(
    private readonly manager: ClusterManager,
    private readonly staticClusters: readonly ClusterConfig[],
    private readonly subscribeAssignments: (names: ReadonlySet<string>) => void,
    private readonly log: Logger,
    /** How CDS clusters are parsed: with ADS, the bootstrap's static secrets and `node.locality` (zone-aware routing's local zone). */
    private readonly parseOptions: ClusterParseOptions = { ads: true },
  ) {}

  /** Cluster names a route may name: static and dynamic, serving or warming. */
  names(): Set<string> {
    return new Set([...this.staticClusters.map((c) => c.name), ...this.slots.keys()]);
  }

  /** The static EDS clusters start warming: their assignments are subscribed to. */
  start(): void {
    for (const config of this.staticClusters) {
      if (config.type !== 'EDS') continue;
      this.slots.set(config.name, { isStatic: true });
      this.warm(fromBootstrap(config));
    }
    this.updateSubscription();
  }

  applyClusters(update: XdsUpdate): string | undefined {
    const errors: string[] = [];
    const changed: Versioned<ClusterConfig>[] = [];
    const statics = new Set(this.staticClusters.map((c) => c.name));
    for (const resource of update.resources) {
      if (statics.has(resource.name)) {
        errors.push(resourceError(CLUSTER, resource.name, [{ path: 'name', message: 'a static cluster has this name; CDS cannot change it' }]));
        continue;
      }
      const slot = this.slots.get(resource.name);
      if (unchanged(slot?.warming ?? slot?.active, resource)) continue;
      const issues: ConfigIssue[] = [];
      const config = parseCluster(resource.value, '', issues, this.parseOptions);
      if (config === undefined || issues.length > 0) errors.push(resourceError(CLUSTER, resource.name, issues));
      else changed.push(versioned(resource, config));
    }
    if (errors.length > 0) return errors.join('\n');

    for (const name of update.removed) {
      if (this.slots.get(name)?.isStatic !== false) continue;
      this.slots.delete(name);
      void this.manager.remove(name);
      this.log.info({ cluster: name }, 'cluster removed (CDS)');
    }
    for (const cluster of changed) {
      if (!this.slots.has(cluster.value.name)) this.slots.set(cluster.value.name, { isStatic: false });
      this.warm(cluster);
    }
    this.version = update.version;
    this.updateSubscription();
    return undefined;
  }

  applyEndpoints(update: XdsUpdate): string | undefined {
    const errors: string[] = [];
    const changed: [string, Versioned<EndpointAssignment>][] = [];
    for (const resource of update.resources) {
      if (unchanged(this.assignments.get(resource.name), resource)) continue;
      const issues: ConfigIssue[] = [];
      // Envoy takes IP addresses only from EDS: the control plane resolves names.
      const assignment = parseLoadAssignment(resource.value, '', issues, false);
      if (issues.length > 0) errors.push(resourceError(CLUSTER_LOAD_ASSIGNMENT, resource.name, issues));
      else changed.push([resource.name, versioned(resource, assignment)]);
    }
    if (errors.length > 0) return errors.join('\n');

    if (update.removed.length > 0) {
      // As Envoy: a cluster keeps its last endpoints; removing the cluster (CDS) is how they go.
      this.log.warn({ removed: update.removed }, 'EDS removal of ClusterLoadAssignments ignored; clusters keep their last endpoints');
    }
    const clustersByAssignment = new Map<string, string[]>();
    for (const [name, slot] of this.slots) {
      for (const version of [slot.active, slot.warming]) {
        const service = version?.value.edsServiceName;
        if (service === undefined) continue;
        const names = clustersByAssignment.get(service) ?? [];
        if (!names.includes(name)) names.push(name);
        clustersByAssignment.set(service, names);
      }
    }
    for (const [name, assignment] of changed) {
      this.assignments.set(name, assignment);
      for (const cluster of clustersByAssignment.get(name) ?? []) this.manager.assign(cluster, assignment.value);
    }
    return undefined;
  }

  /** For /config_dump: ClustersConfigDump's dynamic clusters and the EndpointsConfigDump. */
  dump(): { active: Versioned<ClusterConfig>[]; warming: Versioned<ClusterConfig>[]; endpoints: Versioned<EndpointAssignment>[] } {
    const dynamic = [...this.slots.values()].filter((s) => !s.isStatic);
    return {
      active: dynamic.flatMap((s) => (s.active ? [s.active] : [])),
      warming: dynamic.flatMap((s) => (s.warming ? [s.warming] : [])),
      endpoints: [...this.assignments.values()],
    };
  }

  /** The cluster serves once warm; an EDS cluster whose assignment is already known is warm at once. */
  private warm(cluster: Versioned<ClusterConfig>): void {
    const slot = this.slots.get(cluster.value.name)!;
    slot.warming = cluster;
    const service = cluster.value.edsServiceName;
    const known = service === undefined ? undefined : this.assignments.get(service)?.value;
    void this.manager.addOrUpdate(cluster.value, known).then((serving) => {
      if (!serving) return;
      const replaced = slot.active;
      slot.active = cluster;
      if (slot.warming === cluster) slot.warming = undefined;
      // The replaced version's assignment may be used no more.
      if (replaced !== undefined && replaced.value.edsServiceName !== service) this.updateSubscription();
    });
  }

  private updateSubscription(): void {
    const names = new Set<string>();
    for (const slot of this.slots.values()) {
      for (const version of [slot.active, slot.warming]) if (version?.value.edsServiceName) names.add(version.value.edsServiceName);
    }
    for (const name of this.assignments.keys()) if (!names.has(name)) this.assignments.delete(name);
    this.subscribeAssignments(names);
  }
}
