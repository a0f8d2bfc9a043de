/**
 * Which control plane replica an ADS stream goes to. The bootstrap's ADS cluster lists the
 * replicas; like Envoy with its default round robin over the xDS cluster's hosts, the first
 * stream goes to the first endpoint and every new stream to the one after the previous one,
 * in config order, wrapping around. Any stream end moves on: an ADS stream is meant to last,
 * so a replica that ends one (crash, restart, drain) or cannot be reached is the one to leave.
 *
 * The rotation is meshlet's and not grpc-js's (one channel with every address under
 * pick_first or round_robin): pick_first always starts over from the first address and stays
 * on a connected one when only the stream fails; round_robin keeps a connection open to every
 * replica; and neither says which replica a stream is on.
 */
export interface ControlPlaneRotation {
  /** The ADS cluster's endpoints as gRPC targets (host:port), in config order. */
  readonly targets: readonly string[];
  /** The one the current (or next) stream goes to. */
  readonly index: number;
}

/** host:port for grpc-js, an IPv6 address in brackets. */
export function grpcTarget(endpoint: { readonly address: string; readonly port: number }): string {
  return `${endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address}:${endpoint.port}`;
}

/** The first stream goes to the first endpoint. */
export function firstControlPlane(targets: readonly string[]): ControlPlaneRotation {
  if (targets.length === 0) throw new Error('the ADS cluster has no endpoints');
  return { targets, index: 0 };
}

export function currentControlPlane(rotation: ControlPlaneRotation): string {
  return rotation.targets[rotation.index]!;
}

/** After a stream ended (or never connected): the next endpoint, wrapping around. */
export function nextControlPlane(rotation: ControlPlaneRotation): ControlPlaneRotation {
  return { ...rotation, index: (rotation.index + 1) % rotation.targets.length };
}
