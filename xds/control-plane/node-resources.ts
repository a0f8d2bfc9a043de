/** Which generated resources each kind of node gets. */
import { inboundCluster, routedVersions, serviceClusters } from './cluster-resources';
import type { GatewayCertificates } from './gateway-certificates';
import type { GeneratedResource } from './generated-resource';
import { apiListener, gatewayListeners, httpListener, inboundListener } from './listener-resources';
import type { GatewaySpec, MeshConfig } from './mesh-config';
import type { NodeRole } from './node-role';
import type { PerApi } from './resource-types';
import {
  OUTBOUND_ROUTES,
  gatewayRouteConfiguration,
  httpsRedirectRouteConfigurations,
  inboundRouteConfiguration,
  outboundRouteConfiguration,
} from './route-resources';
import { gatewayCertificateSecret } from './secret-resources';

export type NodeResources = PerApi<readonly GeneratedResource[]>;

/**
 * What every node gets: every service's clusters and endpoints, the outbound route table, and
 * an on-demand API listener per service for proxyless gRPC clients. Computed once per mesh and
 * shared, so identical resources are encoded and versioned once.
 */
export function sharedResources(mesh: MeshConfig): NodeResources {
  const routed = routedVersions(mesh);
  const clusters = mesh.services.map((service) => serviceClusters(service, routed.get(service.name)));
  return {
    CDS: clusters.flatMap((c) => c.clusters),
    EDS: clusters.flatMap((c) => c.endpoints),
    LDS: mesh.services.map((s) => apiListener(s.name, OUTBOUND_ROUTES)),
    RDS: [outboundRouteConfiguration(mesh)],
    SDS: [],
  };
}

/** What only this role gets, on top of the shared resources; `certificates`: of the gateways' tls entries. */
export function roleResources(role: NodeRole, certificates: GatewayCertificates): NodeResources {
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
      return {
        CDS: [],
        EDS: [],
        LDS: gatewayListeners(gateway),
        RDS: [gatewayRouteConfiguration(gateway), ...httpsRedirectRouteConfigurations(gateway)],
        SDS: gatewaySecrets(gateway, certificates),
      };
    }
    case 'client':
      return { CDS: [], EDS: [], LDS: [], RDS: [], SDS: [] };
  }
}

/**
 * A gateway's certificates, one Secret per tls entry: unlike a node's own certificate they are
 * files of the mesh, so the role's snapshot holds them, one resource for all its replicas.
 */
function gatewaySecrets(gateway: GatewaySpec, certificates: GatewayCertificates): GeneratedResource[] {
  if (gateway.tls === undefined) return [];
  const loaded = certificates.get(gateway.name);
  // Generating a listener whose certificates no one serves would leave the gateway waiting for them.
  if (loaded?.length !== gateway.tls.certificates.length) throw new Error(`the certificates of gateway "${gateway.name}" were not loaded (loadGatewayCertificates)`);
  return loaded.map((certificate, i) => gatewayCertificateSecret(i, certificate));
}
