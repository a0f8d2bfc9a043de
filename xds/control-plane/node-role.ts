import type { GatewaySpec, MeshConfig, ServiceSpec } from './mesh-config';

/**
 * What a connecting node is, read from its `node.cluster` (Envoy's --service-cluster):
 * the sidecar of a mesh service, a gateway, or anything else (a proxyless gRPC client, a
 * tool), which gets the mesh's clusters and routes but no listeners of its own.
 */
export type NodeRole =
  | { readonly kind: 'sidecar'; readonly key: string; readonly service: ServiceSpec }
  | { readonly kind: 'gateway'; readonly key: string; readonly gateway: GatewaySpec }
  | { readonly kind: 'client'; readonly key: string };

const CLIENT: NodeRole = { kind: 'client', key: 'client' };

export function roleOf(mesh: MeshConfig, nodeCluster: string): NodeRole {
  const service = mesh.services.find((s) => s.name === nodeCluster);
  if (service) return sidecarRole(service);
  const gateway = mesh.gateways.find((g) => g.name === nodeCluster);
  return gateway ? gatewayRole(gateway) : CLIENT;
}

/** Every role the mesh defines, so all of them are generated and validated before any is served. */
export function meshRoles(mesh: MeshConfig): NodeRole[] {
  return [...mesh.services.map(sidecarRole), ...mesh.gateways.map(gatewayRole), CLIENT];
}

/** Whom a node of this role is in the mesh (its certificate's SPIFFE ID); other clients are nobody. */
export function roleSpiffeId(role: NodeRole): string | undefined {
  switch (role.kind) {
    case 'sidecar':
      return role.service.spiffeId;
    case 'gateway':
      return role.gateway.spiffeId;
    case 'client':
      return undefined;
  }
}

function sidecarRole(service: ServiceSpec): NodeRole {
  return { kind: 'sidecar', key: `sidecar:${service.name}`, service };
}

function gatewayRole(gateway: GatewaySpec): NodeRole {
  return { kind: 'gateway', key: `gateway:${gateway.name}`, gateway };
}
