import { hash32 } from './hash';
import type { BalancerHost, PickContext } from './host';
import type {
  LoadBalancer,
  LoadBalancerFactory,
  RandomSource,
  RingHashOptions,
} from './load-balancer';
import { NO_HOST } from './no-host';

const DEFAULT_MINIMUM_RING_SIZE = 1024;
/** Envoy's default maximum and the largest its config accepts. */
export const MAXIMUM_RING_SIZE = 8 * 1024 * 1024;
/** Entries are sorted as `hash * 2^21 + host index` in a Float64Array, exact below 2^53. */
const MAX_RING_HOSTS = 1 << 21;

/** Sorted ring: `owners[i]` owns the arc ending at `hashes[i]`. */
export interface Ring {
  readonly hashes: Uint32Array;
  readonly owners: readonly BalancerHost[];
}

/**
 * Each host's share of the ring, summing to 1. With locality weighting the locality's share
 * is split among its hosts by host weight, as Envoy's thread-aware balancers fold locality
 * weights into one ring per priority (choosing a locality first would break the mapping of
 * a hash to a host). A priority whose localities all lack weights is hashed as if locality
 * weighting were off, as the other policies fall back to; Envoy would build an empty ring.
 */
function shares(hosts: readonly BalancerHost[], localityWeighted: boolean): Float64Array {
  const result = new Float64Array(hosts.length);
  if (localityWeighted) {
    const perLocality = new Map<string, { localityWeight: number; hostWeights: number }>();
    let localityWeights = 0;
    for (const host of hosts) {
      const entry = perLocality.get(host.locality);
      if (entry) {
        entry.hostWeights += host.weight;
      } else {
        perLocality.set(host.locality, { localityWeight: host.localityWeight, hostWeights: host.weight });
        localityWeights += host.localityWeight;
      }
    }
    if (localityWeights > 0) {
      hosts.forEach((host, i) => {
        const locality = perLocality.get(host.locality)!;
        result[i] = (locality.localityWeight / localityWeights) * (host.weight / locality.hostWeights);
      });
      return result;
    }
  }
  let total = 0;
  for (const host of hosts) total += host.weight;
  hosts.forEach((host, i) => (result[i] = host.weight / total));
  return result;
}

/**
 * Builds the ring as Envoy does: the least-weighted host gets a whole number of entries, at
 * least `minimumRingSize` in all, and the scale is cut back to `maximumRingSize`; each host
 * then gets entries in proportion to its share, hashed from `${key}_${i}`. Fractional counts
 * carry over from host to host through running totals. Nothing random goes in, so every
 * build over the same hosts maps every hash the same way, across restarts too.
 */
export function buildRing(
  hosts: readonly BalancerHost[],
  options: RingHashOptions = {},
  localityWeighted = false,
): Ring {
  const maximum = Math.min(options.maximumRingSize ?? MAXIMUM_RING_SIZE, MAXIMUM_RING_SIZE);
  const minimum = Math.max(options.minimumRingSize ?? DEFAULT_MINIMUM_RING_SIZE, 1);
  if (minimum > maximum) {
    throw new RangeError(`ring hash: minimum_ring_size (${minimum}) > maximum_ring_size (${maximum})`);
  }
  if (hosts.length > MAX_RING_HOSTS) {
    throw new RangeError(`ring hash: more than ${MAX_RING_HOSTS} hosts`);
  }
  const share = shares(hosts, localityWeighted);
  let minShare = Infinity;
  for (const s of share) if (s > 0 && s < minShare) minShare = s;
  if (minShare === Infinity) return { hashes: new Uint32Array(0), owners: [] };

  const scale = Math.min(Math.ceil(minShare * minimum) / minShare, maximum);
  const packed = new Float64Array(Math.ceil(scale) + hosts.length);
  let size = 0;
  let current = 0;
  let target = 0;
  hosts.forEach((host, index) => {
    target += scale * share[index];
    for (let i = 0; current < target; i++, current++) {
      packed[size++] = hash32(`${host.key}_${i}`) * MAX_RING_HOSTS + index;
    }
  });
  const sorted = packed.subarray(0, size).sort();
  const hashes = new Uint32Array(size);
  const owners = new Array<BalancerHost>(size);
  for (let i = 0; i < size; i++) {
    hashes[i] = Math.floor(sorted[i] / MAX_RING_HOSTS);
    owners[i] = hosts[sorted[i] % MAX_RING_HOSTS];
  }
  return { hashes, owners };
}

class RingPicker implements LoadBalancer {
  constructor(
    private readonly hashes: Uint32Array,
    private readonly owners: readonly BalancerHost[],
    private readonly random: RandomSource,
  ) {}

  /** The owner of the first entry at or after the hash, wrapping past the last one. */
  pick(ctx?: PickContext): BalancerHost {
    const hash = ctx?.hash ?? Math.floor(this.random() * 0x1_0000_0000);
    const hashes = this.hashes;
    let low = 0;
    let high = hashes.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (hashes[mid] < hash) low = mid + 1;
      else high = mid;
    }
    return this.owners[low === hashes.length ? 0 : low];
  }
}

/**
 * RING_HASH (Ketama). Deviates from Envoy in the hash: 32-bit MurmurHash3 for both the ring
 * and the request instead of 64-bit xxHash, so request hashes and ring positions share
 * `hash32`; the ring is built the same way, so the mapping has the same properties.
 */
export const createRingHash: LoadBalancerFactory = (hosts, options) => {
  const ring = buildRing(hosts, options.ringHash, options.localityWeighted ?? false);
  if (ring.owners.length === 0) return NO_HOST;
  return new RingPicker(ring.hashes, ring.owners, options.random ?? Math.random);
};
