/**
 * Checks a snapshot the way a meshlet proxy will apply it, with the proxy's own parsers, so a
 * mesh edit that the proxies would reject (and NACK) is refused by the control plane first,
 * with the reason, while the last good snapshot keeps being served.
 */
import type { ConfigIssue } from '../config-error';
import { parseCluster, parseLoadAssignment } from '../../proxy/config/cluster-parser';
import { compileRoutes, parseListener } from '../../proxy/config/listener-parser';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../xds-resource-types';
import { resourcePath, type Snapshot } from './snapshot';

export function validateSnapshot(snapshot: Snapshot): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { CDS, EDS, LDS, RDS } = snapshot.resources;
  const clusterNames = new Set(CDS.keys());
  for (const cluster of CDS.values()) {
    const path = resourcePath(CLUSTER, cluster.name);
    parseCluster(cluster.decoded, path, issues, { ads: true });
    if (cluster.decoded.type === 'EDS' && !EDS.has(cluster.name)) issues.push({ path, message: `no ClusterLoadAssignment "${cluster.name}" in the snapshot` });
  }
  for (const assignment of EDS.values()) parseLoadAssignment(assignment.decoded, resourcePath(CLUSTER_LOAD_ASSIGNMENT, assignment.name), issues, false);
  // Over RDS Envoy does not check that routed clusters exist (validate_clusters defaults to
  // false); the control plane knows all of them, so a dangling reference is its own mistake.
  for (const routes of RDS.values()) compileRoutes(routes.decoded, resourcePath(ROUTE_CONFIGURATION, routes.name), issues, {}, clusterNames, true);
  for (const listener of LDS.values()) {
    const path = resourcePath(LISTENER, listener.name);
    // API listeners are for gRPC clients, which meshlet's proxy is not; it only shares their routes.
    const managers: Array<[any, string]> = listener.onDemand
      ? [[listener.decoded.api_listener?.api_listener, `${path}.api_listener.api_listener`]]
      : (listener.decoded.filter_chains ?? []).map((chain: any, i: number) => [chain.filters?.[0]?.typed_config, `${path}.filter_chains[${i}].filters[0].typed_config`]);
    if (!listener.onDemand) parseListener(listener.decoded, path, issues, { clusterNames, ads: true });
    for (const [hcm, hcmPath] of managers) {
      const routeName = hcm?.rds?.route_config_name;
      if (!RDS.has(routeName)) issues.push({ path: `${hcmPath}.rds.route_config_name`, message: `route configuration "${routeName}" is not in the snapshot of ${snapshot.role}` });
    }
  }
  return issues;
}
