import type { BalancerHost } from './host';
import type { LoadBalancer, LoadBalancerFactory, RandomSource } from './load-balancer';
import { NO_HOST } from './no-host';

/**
 * Uniform over the hosts it is given. Endpoint weights are ignored, as in Envoy, whose
 * RandomLoadBalancer indexes `hosts[random % hosts.size()]` and whose docs say only that it
 * "selects a random available host". Locality weights still apply, through the priority set.
 */
class RandomPicker implements LoadBalancer {
  constructor(
    private readonly hosts: readonly BalancerHost[],
    private readonly random: RandomSource,
  ) {}

  pick(): BalancerHost {
    return this.hosts[Math.floor(this.random() * this.hosts.length)];
  }
}

/** RANDOM. */
export const createRandom: LoadBalancerFactory = (hosts, options) =>
  hosts.length === 0 ? NO_HOST : new RandomPicker(hosts, options.random ?? Math.random);
