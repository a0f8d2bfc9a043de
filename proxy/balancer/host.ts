/**
 * What a balancer needs to know of an upstream endpoint. The cluster owns these objects and
 * pickers hold references to them, never copies: `activeRequests` is read live at pick time,
 * and a change of `healthy` (or of the set) is applied by building a new picker.
 */
export interface BalancerHost {
  /** Stable identity such as "127.0.0.1:8080"; the ring hash places the host by it. */
  readonly key: string;
  /** Endpoint `load_balancing_weight`, >= 1 (default 1). */
  readonly weight: number;
  /** 0 is the highest priority. */
  readonly priority: number;
  /** "region/zone/sub_zone", '' when none. */
  readonly locality: string;
  /** Locality `load_balancing_weight`; 0 when unset. */
  readonly localityWeight: number;
  /** Kept current by the upstream code as requests start and finish. */
  activeRequests: number;
  /** False excludes the host (unless its priority is in panic). */
  healthy: boolean;
}

/** Per-request input to a pick. Callers may reuse one object across requests. */
export interface PickContext {
  /**
   * uint32 computed from the route's `hash_policy` (see `hash32`). Only consistent-hashing
   * policies read it; without it they pick at random, as Envoy does.
   */
  hash?: number;
}

/** Policies switch to cheaper unweighted algorithms when this holds, as Envoy does. */
export function allWeightsEqual(hosts: readonly BalancerHost[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i].weight !== hosts[0].weight) return false;
  return true;
}
