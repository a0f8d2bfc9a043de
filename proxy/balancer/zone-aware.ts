import type { BalancerHost, PickContext } from './host';
import type { LoadBalancer, RandomSource } from './load-balancer';

/**
 * Envoy's zone-aware routing (ZoneAwareLoadBalancerBase, `common_lb_config.zone_aware_lb_config`)
 * for priority 0: keep traffic in the proxy's own locality as long as that locality has at least
 * its share of the healthy upstream hosts, and send the part it cannot take to the localities
 * with capacity to spare.
 *
 * Envoy compares the upstream's healthy-host distribution with the *local cluster's* (the
 * distribution of the proxies calling it). meshlet knows no local cluster, so it assumes the
 * callers are spread evenly over the upstream's localities: each locality should take 1/N of
 * the traffic. So, with N localities and the local one holding `u` of the healthy hosts:
 *
 * - `u >= 1/N` (and > 0): everything goes to the local locality (LocalityDirect);
 * - otherwise the local locality takes `u / (1/N)` of the requests and the rest is spread over the
 *   other localities in proportion to their residual capacity `max(0, u_i − 1/N)`
 *   (LocalityResidual) — with no healthy local host, all of it;
 * - no zone routing at all (plain balancing over P0's healthy hosts) with fewer than 2 localities,
 *   no upstream host in the local locality, fewer healthy hosts than `min_cluster_size`, or for
 *   the `100 − routing_enabled` percent of requests not sampled for zone routing.
 *
 * Percentages are in Envoy's integer basis points (1/10000).
 */
export interface ZoneAwareOptions {
  /** `routing_enabled`: percent of requests that are zone-routed (Envoy default 100). */
  readonly routingEnabledPercent: number;
  /** `min_cluster_size`: below this many healthy hosts, no zone routing (Envoy default 6). */
  readonly minClusterSize: number;
  /** The proxy's own locality (the bootstrap's `node.locality`); empty fields match any value. */
  readonly localLocality: LocalLocality;
}

export interface LocalLocality {
  readonly region?: string;
  readonly zone?: string;
  readonly subZone?: string;
}

/** Whether a host locality ("region/zone/sub_zone") is the proxy's own: every field the node sets must match. */
export function isLocalLocality(hostLocality: string, local: LocalLocality): boolean {
  if (!local.region && !local.zone && !local.subZone) return false;
  const [region = '', zone = '', subZone = ''] = hostLocality.split('/');
  return (!local.region || local.region === region) && (!local.zone || local.zone === zone) && (!local.subZone || local.subZone === subZone);
}

/** One upstream locality of priority 0. */
export interface LocalityHealth {
  readonly local: boolean;
  readonly healthy: number;
}

export type ZoneRouting =
  | { readonly kind: 'none' }
  | { readonly kind: 'direct'; readonly local: number }
  | {
      readonly kind: 'residual';
      /** Index of the local locality. */
      readonly local: number;
      /** Basis points of requests kept in the local locality. */
      readonly localPercentToRoute: number;
      /** Cumulative residual capacity per locality (basis points); the local one adds nothing. */
      readonly residualCapacity: readonly number[];
    };

/** The routing state for these localities (Envoy's regenerateLocalityRoutingStructures). */
export function computeZoneRouting(localities: readonly LocalityHealth[], minClusterSize: number): ZoneRouting {
  const n = localities.length;
  const local = localities.findIndex((l) => l.local);
  if (n < 2 || local < 0) return { kind: 'none' };
  const totalHealthy = localities.reduce((a, l) => a + l.healthy, 0);
  if (totalHealthy < minClusterSize || totalHealthy === 0) return { kind: 'none' };
  const localShare = Math.floor(10000 / n);
  const upstream = localities.map((l) => Math.floor((10000 * l.healthy) / totalHealthy));
  if (upstream[local]! > 0 && upstream[local]! >= localShare) return { kind: 'direct', local };
  const residualCapacity: number[] = [];
  let cumulative = 0;
  for (let i = 0; i < n; i++) {
    if (i !== local && upstream[i]! > localShare) cumulative += upstream[i]! - localShare;
    residualCapacity.push(cumulative);
  }
  return { kind: 'residual', local, localPercentToRoute: Math.floor((upstream[local]! * 10000) / localShare), residualCapacity };
}

/**
 * The locality index for one request (Envoy's tryChooseLocalLocalityHosts); `random` is called
 * at most twice. `hasHealthy` serves the corner case of no residual capacity left (rounding),
 * where Envoy picks a locality at random: here, one with a healthy host.
 */
export function chooseLocality(routing: Exclude<ZoneRouting, { kind: 'none' }>, random: RandomSource, hasHealthy: readonly boolean[]): number {
  if (routing.kind === 'direct') return routing.local;
  if (Math.floor(random() * 10000) < routing.localPercentToRoute) return routing.local;
  const capacity = routing.residualCapacity;
  const total = capacity[capacity.length - 1]!;
  if (total === 0) {
    const candidates = hasHealthy.flatMap((h, i) => (h ? [i] : []));
    return candidates.length === 0 ? routing.local : candidates[Math.floor(random() * candidates.length)]!;
  }
  const threshold = Math.floor(random() * total);
  let i = 0;
  while (threshold >= capacity[i]!) i++;
  return i;
}

/** Picks a locality by zone routing, then a host in it with the locality's policy picker. */
export class ZoneAwarePicker implements LoadBalancer {
  private readonly hasHealthy: readonly boolean[];

  constructor(
    private readonly routing: Exclude<ZoneRouting, { kind: 'none' }>,
    /** One per locality, in the order given to computeZoneRouting. */
    private readonly localities: readonly LoadBalancer[],
    healthyCounts: readonly number[],
    /** All healthy hosts of the level: requests not sampled for zone routing. */
    private readonly all: LoadBalancer,
    private readonly routingEnabledPercent: number,
    private readonly random: RandomSource,
  ) {
    this.hasHealthy = healthyCounts.map((n) => n > 0);
  }

  pick(ctx?: PickContext): BalancerHost | undefined {
    if (this.routingEnabledPercent < 100 && Math.floor(this.random() * 100) >= this.routingEnabledPercent) return this.all.pick(ctx);
    return this.localities[chooseLocality(this.routing, this.random, this.hasHealthy)]!.pick(ctx);
  }
}
