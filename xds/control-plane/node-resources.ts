/** Which generated resources each kind of node gets. */
import { inboundCluster, serviceClusters } from './cluster-resources';
import type { GeneratedResource } from './generated-resource';
import { apiListener, httpListener, inboundListener } from './listener-resources';
import type { MeshConfig } from './mesh-config';
import type { NodeRole } from './node-role';
import type { PerApi } from './resource-types';
import { OUTBOUND_ROUTES, gatewayRouteConfiguration, inboundRouteConfiguration, outboundRouteConfiguration } from './route-resources';

export type NodeResources = PerApi<readonly GeneratedResource[]>;

/**
 * What every node gets: every service's clusters and endpoints, the outbound route table, and
 * an on-demand API listener per service for proxyless gRPC clients. Computed once per mesh and
 * shared, so identical resources are encoded and versioned once.
 */
export function sharedResources(mesh: MeshConfig): NodeResources {
  const clusters = mesh.services.map(serviceClusters);
  return {
    CDS: clusters.flatMap((c) => c.clusters),
    EDS: clusters.flatMap((c) => c.endpoints),
    LDS: mesh.services.map((s) => apiListener(s.name, OUTBOUND_ROUTES)),
    RDS: [outboundRouteConfiguration(mesh)],
    SDS: [],
  };
}

/** What only this role gets, on top of the shared resources. */
export function roleResources(role: NodeRole): NodeResources {
  switch (role.kind) {
    case 'sidecar': {
      const { service } = role;
      const { address, outboundPort, appPort } = service.sidecar;
      const outbound = httpListener(OUTBOUND_ROUTES, address, outboundPort, OUTBOUND_ROUTES);
      if (appPort === undefined) return { CDS: [], EDS: [], LDS: [outbound], RDS: [], SDS: [] };
      return {
        CDS: [inboundCluster(service, appPort)],
        EDS: [],
        LDS: [outbound, inboundListener(service)],
        RDS: [inboundRouteConfiguration(service)],
        SDS: [],
      };
    }
    case 'gateway': {
      const { gateway } = role;
      return { CDS: [], EDS: [], LDS: [httpListener(gateway.name, gateway.address, gateway.port, gateway.name)], RDS: [gatewayRouteConfiguration(gateway)], SDS: [] };
    }
    case 'client':
      return { CDS: [], EDS: [], LDS: [], RDS: [], SDS: [] };
  }
}
