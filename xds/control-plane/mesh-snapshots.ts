import { ConfigError, type ConfigIssue } from '../config-error';
import { NO_GATEWAY_CERTIFICATES, type GatewayCertificates } from './gateway-certificates';
import type { MeshConfig } from './mesh-config';
import { meshRoles } from './node-role';
import { roleResources, sharedResources } from './node-resources';
import { ResourceEncoder, SnapshotCache, buildSnapshot, type Snapshot } from './snapshot';
import { ResourceChecks, validateResources } from './snapshot-validator';

/** What a rebuild keeps from the last one: encoded resources, sets, and what checking them found. */
export class MeshBuildCache {
  readonly snapshots = new SnapshotCache();
  readonly checks = new ResourceChecks();
}

/**
 * The snapshot of every role the mesh defines (each service's sidecar, each gateway, other
 * clients), keyed by role. All are built and validated up front, so a mesh is either served
 * whole or rejected whole. `certificates`: of the gateways' tls entries, loaded with the mesh
 * file (loadGatewayCertificates); only a mesh without them can do without. With the `cache` of
 * the previous build, only what changed is encoded and checked again.
 *
 * What every node gets is checked once; each role's own resources are checked against its
 * whole snapshot, so a mesh of N services costs N small checks, not N of the whole mesh.
 * @throws ConfigError with every problem in the generated resources
 */
export function buildMeshSnapshots(mesh: MeshConfig, certificates: GatewayCertificates = NO_GATEWAY_CERTIFICATES, cache = new MeshBuildCache()): ReadonlyMap<string, Snapshot> {
  cache.snapshots.nextBuild();
  const encoder = new ResourceEncoder(cache.snapshots);
  const everyNode = 'every node';
  const shared = encoder.layer(everyNode, sharedResources(mesh));
  const issues = validateResources(shared, shared, everyNode, cache.checks);
  const snapshots = new Map<string, Snapshot>();
  for (const role of meshRoles(mesh)) {
    const own = encoder.layer(role.key, roleResources(role, certificates));
    const snapshot = buildSnapshot(role.key, [shared, own], encoder);
    issues.push(...validateResources(own, snapshot.resources, role.key, cache.checks));
    snapshots.set(role.key, snapshot);
  }
  issues.unshift(...encoder.issues);
  if (issues.length > 0) throw new ConfigError(dedupe(issues));
  return snapshots;
}

/** A resource generated for several roles is checked in each; report each problem once. */
function dedupe(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\n${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
