import { ConfigError, type ConfigIssue } from '../config-error';
import { NO_GATEWAY_CERTIFICATES, type GatewayCertificates } from './gateway-certificates';
import type { MeshConfig } from './mesh-config';
import { meshRoles } from './node-role';
import { roleResources, sharedResources } from './node-resources';
import { ResourceEncoder, buildSnapshot, type Snapshot } from './snapshot';
import { ResourceChecks, validateSnapshot } from './snapshot-validator';

/**
 * The snapshot of every role the mesh defines (each service's sidecar, each gateway, other
 * clients), keyed by role. All are built and validated up front, so a mesh is either served
 * whole or rejected whole. `certificates`: of the gateways' tls entries, loaded with the mesh
 * file (loadGatewayCertificates); only a mesh without them can do without.
 * @throws ConfigError with every problem in the generated resources
 */
export function buildMeshSnapshots(mesh: MeshConfig, certificates: GatewayCertificates = NO_GATEWAY_CERTIFICATES): ReadonlyMap<string, Snapshot> {
  const encoder = new ResourceEncoder();
  const shared = sharedResources(mesh);
  const snapshots = new Map(meshRoles(mesh).map((role) => [role.key, buildSnapshot(role.key, [shared, roleResources(role, certificates)], encoder)]));
  const checks = new ResourceChecks();
  const issues = [...encoder.issues, ...[...snapshots.values()].flatMap((snapshot) => validateSnapshot(snapshot, checks))];
  if (issues.length > 0) throw new ConfigError(dedupe(issues));
  return snapshots;
}

/** Shared resources are checked in every role's snapshot; report each problem once. */
function dedupe(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\n${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
