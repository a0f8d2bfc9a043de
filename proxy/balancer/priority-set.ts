import { EdfScheduler } from './edf-scheduler';
import type { BalancerHost, PickContext } from './host';
import type {
  LoadBalancer,
  LoadBalancerFactory,
  LoadBalancerOptions,
  RandomSource,
} from './load-balancer';
import { NO_HOST } from './no-host';
import { computeZoneRouting, isLocalLocality, ZoneAwarePicker } from './zone-aware';

export const DEFAULT_OVERPROVISIONING_FACTOR = 140;
export const DEFAULT_PANIC_THRESHOLD_PERCENT = 50;

/** How a policy is built and what the priority set must do around it. */
export interface LoadBalancingPolicy {
  readonly factory: LoadBalancerFactory;
  /**
   * The policy maps a request hash to a host (Envoy's thread-aware balancers: ring hash,
   * Maglev). The priority is then chosen from the same hash, so a hash keeps its priority
   * while loads stay put, and locality weights are left to the policy to fold into its
   * host weights, since choosing a locality first would remap hashes.
   */
  readonly consistentHashing: boolean;
}

/** Host counts of one priority level. */
export interface LevelHealth {
  readonly hosts: number;
  readonly healthy: number;
}

export interface PriorityLoad {
  /** Integer percent of traffic per priority, summing to 100. */
  readonly load: readonly number[];
  /** Per priority: balance over all of its hosts, ignoring health. */
  readonly panic: readonly boolean[];
}

/**
 * Envoy's priority load (LoadBalancerBase::recalculatePerPriorityState and
 * recalculatePerPriorityPanic) for levels P0, P1, … (at least one), in its integer
 * arithmetic so percentages match Envoy's:
 *
 * - a level's health is `min(100, ⌊overprovisioning × healthy / hosts⌋)`, so with the
 *   default 140 a level keeps all its share until fewer than ~71.4% of its hosts are healthy;
 * - levels take their health, scaled by the total health when that is below 100, in
 *   priority order until 100 is used up; rounding leftovers go to the first healthy level;
 * - when the total (capped at 100) falls short of 100, a level whose healthy percentage is
 *   below the panic threshold balances over all its hosts; when every level is in panic, the
 *   load follows host counts instead of health;
 * - with panic disabled (threshold 0) and no healthy host anywhere, P0 gets everything and
 *   finds no host.
 */
export function computePriorityLoad(
  levels: readonly LevelHealth[],
  overprovisioningFactor = DEFAULT_OVERPROVISIONING_FACTOR,
  panicThresholdPercent = DEFAULT_PANIC_THRESHOLD_PERCENT,
): PriorityLoad {
  const health = levels.map((l) =>
    l.hosts === 0 ? 0 : Math.min(100, Math.floor((overprovisioningFactor * l.healthy) / l.hosts)),
  );
  const totalHealth = Math.min(100, health.reduce((a, b) => a + b, 0));
  const load = levels.map(() => 0);
  if (totalHealth > 0) {
    let remaining = 100;
    health.forEach((h, p) => {
      load[p] = Math.min(remaining, Math.floor((h * 100) / totalHealth));
      remaining -= load[p];
    });
    load[health.findIndex((h) => h > 0)] += remaining;
  }

  const threshold = Math.min(100, Math.max(0, panicThresholdPercent));
  if (threshold === 0 && totalHealth === 0) {
    load[0] = 100;
    return { load, panic: levels.map(() => false) };
  }
  const panic = levels.map(
    (l) => totalHealth < 100 && (l.hosts === 0 ? 0 : (100 * l.healthy) / l.hosts) < threshold,
  );
  if (panic.every(Boolean)) {
    const totalHosts = levels.reduce((a, l) => a + l.hosts, 0);
    let remaining = 100;
    levels.forEach((l, p) => {
      load[p] = totalHosts === 0 ? 0 : Math.floor((100 * l.hosts) / totalHosts);
      remaining -= load[p];
    });
    load[Math.max(0, levels.findIndex((l) => l.hosts > 0))] += remaining;
  }
  return { load, panic };
}

/**
 * Envoy's effective locality weight: the configured weight scaled down by the locality's
 * health, with the same overprovisioning headroom as priorities.
 */
export function effectiveLocalityWeight(
  localityWeight: number,
  hosts: number,
  healthy: number,
  overprovisioningFactor = DEFAULT_OVERPROVISIONING_FACTOR,
): number {
  if (hosts === 0) return 0;
  return localityWeight * Math.min(1, ((overprovisioningFactor / 100) * healthy) / hosts);
}

/** Chooses a locality by EDF over effective weights, then a host with its policy. */
class LocalityPicker implements LoadBalancer {
  private readonly scheduler: EdfScheduler;

  constructor(
    weights: readonly number[],
    private readonly localities: readonly LoadBalancer[],
  ) {
    this.scheduler = new EdfScheduler(weights);
  }

  pick(ctx?: PickContext): BalancerHost | undefined {
    return this.localities[this.scheduler.pick()].pick(ctx);
  }
}

/**
 * Chooses a priority through a table of 100 slots, one per percent of load, so the choice
 * is one index whatever the number of priorities; slot `h % 100` is the priority Envoy's
 * choosePriority lands on for `h`. `h` is random per request, as in Envoy, except for
 * consistent-hashing policies given a hash.
 */
class PriorityPicker implements LoadBalancer {
  constructor(
    private readonly slots: readonly LoadBalancer[],
    private readonly byHash: boolean,
    private readonly random: RandomSource,
  ) {}

  pick(ctx?: PickContext): BalancerHost | undefined {
    const hash = this.byHash ? ctx?.hash : undefined;
    const slot = hash === undefined ? Math.floor(this.random() * 100) : hash % 100;
    return this.slots[slot].pick(ctx);
  }
}

function groupBy(hosts: readonly BalancerHost[], keyOf: (h: BalancerHost) => string): BalancerHost[][] {
  const groups = new Map<string, BalancerHost[]>();
  for (const host of hosts) {
    const key = keyOf(host);
    const group = groups.get(key);
    if (group) group.push(host);
    else groups.set(key, [host]);
  }
  return [...groups.values()];
}

function groupByPriority(hosts: readonly BalancerHost[]): BalancerHost[][] {
  const levels: BalancerHost[][] = [];
  for (const host of hosts) {
    if (!Number.isSafeInteger(host.priority) || host.priority < 0) {
      throw new RangeError(`host ${host.key}: priority must be a non-negative integer, got ${host.priority}`);
    }
    while (levels.length <= host.priority) levels.push([]);
    levels[host.priority].push(host);
  }
  return levels;
}

function buildLevel(
  level: readonly BalancerHost[],
  priority: number,
  panic: boolean,
  policy: LoadBalancingPolicy,
  options: LoadBalancerOptions,
): LoadBalancer {
  if (panic && options.failTrafficOnPanic) return NO_HOST;
  const eligible = panic ? level : level.filter((h) => h.healthy);
  // Envoy routes by zone at P0 only, never in panic, and not with locality weighting or a consistent hash.
  if (options.zoneAware !== undefined && priority === 0 && !panic && !options.localityWeighted && !policy.consistentHashing) {
    return buildZoneAware(level, eligible, policy, options);
  }
  // Envoy skips locality selection in panic: the whole level is eligible as one set.
  if (!options.localityWeighted || panic || policy.consistentHashing) {
    return policy.factory(eligible, options);
  }
  const overprovisioning = options.overprovisioningFactor ?? DEFAULT_OVERPROVISIONING_FACTOR;
  const weights: number[] = [];
  const pickers: LoadBalancer[] = [];
  for (const locality of groupBy(level, (h) => h.locality)) {
    const healthy = locality.filter((h) => h.healthy);
    const weight = effectiveLocalityWeight(
      locality[0].localityWeight,
      locality.length,
      healthy.length,
      overprovisioning,
    );
    if (weight > 0) {
      weights.push(weight);
      pickers.push(policy.factory(healthy, options));
    }
  }
  // Like Envoy, a level with no weighted, healthy locality is balanced as a flat set.
  if (pickers.length === 0) return policy.factory(eligible, options);
  return pickers.length === 1 ? pickers[0] : new LocalityPicker(weights, pickers);
}

/** Zone-aware routing over one (non-panic) level, or the plain picker when it does not apply. */
function buildZoneAware(
  level: readonly BalancerHost[],
  healthy: readonly BalancerHost[],
  policy: LoadBalancingPolicy,
  options: LoadBalancerOptions,
): LoadBalancer {
  const zoneAware = options.zoneAware!;
  const all = policy.factory(healthy, options);
  const localities = groupBy(level, (h) => h.locality);
  const healthyByLocality = localities.map((l) => l.filter((h) => h.healthy));
  const routing = computeZoneRouting(
    localities.map((l, i) => ({ local: isLocalLocality(l[0].locality, zoneAware.localLocality), healthy: healthyByLocality[i].length })),
    zoneAware.minClusterSize,
  );
  if (routing.kind === 'none' || zoneAware.routingEnabledPercent <= 0) return all;
  const pickers = healthyByLocality.map((hosts) => (hosts.length === 0 ? NO_HOST : policy.factory(hosts, options)));
  if (routing.kind === 'direct' && zoneAware.routingEnabledPercent >= 100) return pickers[routing.local];
  return new ZoneAwarePicker(
    routing,
    pickers,
    healthyByLocality.map((h) => h.length),
    all,
    zoneAware.routingEnabledPercent,
    options.random ?? Math.random,
  );
}

/**
 * Builds the picker for a whole cluster: Envoy's priority levels, panic threshold and
 * (optionally) locality weighting around one policy. Per-pick cost is only what the hosts
 * need: when all traffic goes to one priority without locality choice, the policy's own
 * picker is returned.
 */
export function buildPrioritySet(
  hosts: readonly BalancerHost[],
  policy: LoadBalancingPolicy,
  options: LoadBalancerOptions = {},
): LoadBalancer {
  if (hosts.length === 0) return NO_HOST;
  const levels = groupByPriority(hosts);
  const { load, panic } = computePriorityLoad(
    levels.map((l) => ({ hosts: l.length, healthy: l.filter((h) => h.healthy).length })),
    options.overprovisioningFactor,
    options.panicThresholdPercent,
  );
  const pickers = levels.map((level, p) =>
    load[p] === 0 ? NO_HOST : buildLevel(level, p, panic[p], policy, options),
  );
  const only = load.indexOf(100);
  if (only >= 0) return pickers[only];
  const slots: LoadBalancer[] = [];
  load.forEach((percent, p) => {
    for (let i = 0; i < percent; i++) slots.push(pickers[p]);
  });
  return new PriorityPicker(slots, policy.consistentHashing, options.random ?? Math.random);
}
