import { typeNameOf } from '../envoy-protos';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET, type XdsResourceType } from '../xds-resource-types';

/** The xDS APIs the control plane serves, by their usual short names. */
export type XdsApi = XdsResourceType['api'];

/**
 * In the order a change is pushed, make before break as the xDS protocol asks: the secrets
 * that TLS clusters and listeners name, clusters, then their endpoints, then the listeners and
 * routes that may start using them.
 */
export const RESOURCE_TYPES: readonly XdsResourceType[] = [SECRET, CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION];

const BY_URL = new Map(RESOURCE_TYPES.map((t) => [t.typeUrl, t]));

/** The resource type of a request's type_url, or undefined for types this control plane does not serve. */
export function resourceTypeOf(typeUrl: string): XdsResourceType | undefined {
  return BY_URL.get(typeUrl);
}

/** The protobuf message name, e.g. `envoy.config.cluster.v3.Cluster`. */
export function messageTypeOf(type: XdsResourceType): string {
  return typeNameOf(type.typeUrl);
}

/** Per xDS API: what a node gets, as generated or as versioned. */
export type PerApi<T> = Readonly<Record<XdsApi, T>>;
