/**
 * Checks a snapshot the way a meshlet proxy will apply it, with the proxy's own parsers, so a
 * mesh edit that the proxies would reject (and NACK) is refused by the control plane first,
 * with the reason, while the last good snapshot keeps being served.
 */
import type { ConfigIssue } from '../config-error';
import { parseCluster, parseLoadAssignment } from '../../proxy/config/cluster-parser';
import { checkClusterReferences, compileRoutes, parseListener } from '../../proxy/config/listener-parser';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../xds-resource-types';
import type { PerApi } from './resource-types';
import { resourcePath, type ResourceSet, type Snapshot } from './snapshot';

/**
 * What checking one resource on its own found, kept per resource object: the resources every
 * role shares are the same objects in every snapshot (ResourceEncoder), so a mesh of N roles
 * parses and compiles them once, not N times.
 */
export class ResourceChecks {
  private readonly found = new WeakMap<object, readonly ConfigIssue[]>();

  issuesOf(resource: object, check: (issues: ConfigIssue[]) => void): readonly ConfigIssue[] {
    let issues = this.found.get(resource);
    if (issues === undefined) {
      const fresh: ConfigIssue[] = [];
      check(fresh);
      issues = fresh;
      this.found.set(resource, issues);
    }
    return issues;
  }
}

export function validateSnapshot(snapshot: Snapshot, checks = new ResourceChecks()): ConfigIssue[] {
  return validateResources(snapshot.resources, snapshot.resources, snapshot.role, checks);
}

/**
 * Checks the resources of `own`, whose references must resolve in `visible` (a snapshot's
 * resources, which include `own`): a mesh checks what every node gets once, then each role's
 * own layer against the role's whole snapshot. `owner` names them in messages.
 */
export function validateResources(own: PerApi<ResourceSet>, visible: PerApi<ResourceSet>, owner: string, checks = new ResourceChecks()): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { CDS, EDS, RDS } = visible;
  for (const cluster of own.CDS.values()) {
    const path = resourcePath(CLUSTER, cluster.name);
    issues.push(...checks.issuesOf(cluster, (found) => parseCluster(cluster.decoded, path, found, { ads: true })));
    if (cluster.decoded.type === 'EDS' && !EDS.has(cluster.name)) issues.push({ path, message: `no ClusterLoadAssignment "${cluster.name}" in the snapshot` });
  }
  for (const assignment of own.EDS.values()) {
    issues.push(...checks.issuesOf(assignment, (found) => parseLoadAssignment(assignment.decoded, resourcePath(CLUSTER_LOAD_ASSIGNMENT, assignment.name), found, false)));
  }
  // Over RDS Envoy does not check that routed clusters exist (validate_clusters defaults to
  // false); the control plane knows all of them, so a dangling reference is its own mistake.
  // The references depend on the role's clusters; the compilation does not.
  for (const routes of own.RDS.values()) {
    const path = resourcePath(ROUTE_CONFIGURATION, routes.name);
    checkClusterReferences(routes.decoded, path, CDS, issues);
    issues.push(...checks.issuesOf(routes, (found) => compileRoutes(routes.decoded, path, found, {}, undefined, false)));
  }
  for (const listener of own.LDS.values()) {
    const path = resourcePath(LISTENER, listener.name);
    // API listeners are for gRPC clients, which meshlet's proxy is not; it only shares their routes.
    const managers: Array<[any, string]> = listener.onDemand
      ? [[listener.decoded.api_listener?.api_listener, `${path}.api_listener.api_listener`]]
      : (listener.decoded.filter_chains ?? []).map((chain: any, i: number) => [chain.filters?.[0]?.typed_config, `${path}.filter_chains[${i}].filters[0].typed_config`]);
    if (!listener.onDemand) parseListener(listener.decoded, path, issues, { clusterNames: CDS, ads: true });
    for (const [hcm, hcmPath] of managers) {
      const routeName = hcm?.rds?.route_config_name;
      if (!RDS.has(routeName)) issues.push({ path: `${hcmPath}.rds.route_config_name`, message: `route configuration "${routeName}" is not in the snapshot of ${owner}` });
    }
  }
  return issues;
}
