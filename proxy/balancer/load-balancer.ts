import type { BalancerHost, PickContext } from './host';
import { createLeastRequest } from './least-request';
import { buildPrioritySet, type LoadBalancingPolicy } from './priority-set';
import { createRandom } from './random';
import { createRingHash } from './ring-hash';
import { createRoundRobin } from './weighted-round-robin';
import type { ZoneAwareOptions } from './zone-aware';

/**
 * Picks one upstream host per request. A picker is built for one host set and never sees the
 * set change: the owner builds a new one when hosts or their health change and swaps it in,
 * so `pick()` needs no locks, no bookkeeping of membership, and allocates nothing.
 */
export interface LoadBalancer {
  /** undefined when there is no host to send the request to. */
  pick(ctx?: PickContext): BalancerHost | undefined;
}

/** Uniform in [0, 1), like Math.random. */
export type RandomSource = () => number;

/** Envoy's `Cluster.RingHashLbConfig`. */
export interface RingHashOptions {
  /** Default 1024. */
  readonly minimumRingSize?: number;
  /** Default and cap 8M (8,388,608), Envoy's own limit. */
  readonly maximumRingSize?: number;
}

/** Envoy's `Cluster.LeastRequestLbConfig`. */
export interface LeastRequestOptions {
  /** Hosts sampled per pick when all weights are equal. Default 2. */
  readonly choiceCount?: number;
  /** Exponent of `(activeRequests + 1)` dividing the weight when weights differ. Default 1.0. */
  readonly activeRequestBias?: number;
}

/** Cluster-level balancing configuration, already decoded from the Envoy config. */
export interface LoadBalancerOptions {
  readonly ringHash?: RingHashOptions;
  readonly leastRequest?: LeastRequestOptions;
  /** `common_lb_config.locality_weighted_lb_config` is present. */
  readonly localityWeighted?: boolean;
  /** `ClusterLoadAssignment.policy.overprovisioning_factor`, in percent. Default 140. */
  readonly overprovisioningFactor?: number;
  /** `common_lb_config.healthy_panic_threshold`, in percent. Default 50; 0 disables panic. */
  readonly panicThresholdPercent?: number;
  /**
   * `common_lb_config.zone_aware_lb_config` with the proxy's own locality: zone-aware routing at
   * priority 0 (not with locality weighting or consistent hashing, as in Envoy).
   */
  readonly zoneAware?: ZoneAwareOptions;
  /** `zone_aware_lb_config.fail_traffic_on_panic`: a level in panic finds no host instead of using all of them. */
  readonly failTrafficOnPanic?: boolean;
  /** Default Math.random; tests inject a deterministic one. */
  readonly random?: RandomSource;
}

/**
 * Builds a policy's picker. Called by the priority set with the hosts it has already chosen
 * for one priority (or locality): healthy ones, or all of them in panic. The policy balances
 * over exactly the hosts it is given and does not look at `healthy` itself.
 */
export type LoadBalancerFactory = (
  hosts: readonly BalancerHost[],
  options: LoadBalancerOptions,
) => LoadBalancer;

/** Envoy `Cluster.LbPolicy` names implemented here. */
export type BuiltinPolicyName = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH';

export interface PolicyTraits {
  /** See `LoadBalancingPolicy.consistentHashing`. Default false. */
  readonly consistentHashing?: boolean;
}

const policies = new Map<string, LoadBalancingPolicy>();

/** Registers a policy under its Envoy `lb_policy` name; a name cannot be taken twice. */
export function registerLoadBalancer(
  name: string,
  factory: LoadBalancerFactory,
  traits: PolicyTraits = {},
): void {
  if (policies.has(name)) throw new Error(`load balancing policy ${name} is already registered`);
  policies.set(name, { factory, consistentHashing: traits.consistentHashing ?? false });
}

/**
 * The picker for a cluster's current hosts: priorities, panic and locality weighting applied
 * around the named policy. Build a new one whenever the hosts or their health change.
 */
export function createLoadBalancer(
  policyName: BuiltinPolicyName | (string & {}),
  hosts: readonly BalancerHost[],
  options: LoadBalancerOptions = {},
): LoadBalancer {
  const policy = policies.get(policyName);
  if (!policy) {
    throw new Error(
      `unknown load balancing policy ${policyName} (known: ${[...policies.keys()].join(', ')})`,
    );
  }
  return buildPrioritySet(hosts, policy, options);
}

registerLoadBalancer('ROUND_ROBIN', createRoundRobin);
registerLoadBalancer('LEAST_REQUEST', createLeastRequest);
registerLoadBalancer('RANDOM', createRandom);
registerLoadBalancer('RING_HASH', createRingHash, { consistentHashing: true });
