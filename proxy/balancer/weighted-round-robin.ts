import { EdfScheduler } from './edf-scheduler';
import { allWeightsEqual, type BalancerHost } from './host';
import type { LoadBalancer, LoadBalancerFactory } from './load-balancer';
import { NO_HOST } from './no-host';

/** Equal weights: plain rotation, as Envoy does when all weights match (cheaper than EDF). */
class RotationPicker implements LoadBalancer {
  private next = 0;

  constructor(private readonly hosts: readonly BalancerHost[]) {}

  pick(): BalancerHost {
    const host = this.hosts[this.next];
    this.next = this.next + 1 === this.hosts.length ? 0 : this.next + 1;
    return host;
  }
}

class WeightedPicker implements LoadBalancer {
  private readonly scheduler: EdfScheduler;

  constructor(private readonly hosts: readonly BalancerHost[]) {
    this.scheduler = new EdfScheduler(hosts.map((h) => h.weight));
  }

  pick(): BalancerHost {
    return this.hosts[this.scheduler.pick()];
  }
}

/**
 * ROUND_ROBIN. Weighted through an EDF schedule like Envoy's, so weights 1/2/7 give exactly
 * 1/2/7 picks in every 10, spread out. Unlike Envoy, the rotation starts at the first host
 * instead of a random offset: the picker stays deterministic, at the price of every fresh
 * picker starting on the same host.
 */
export const createRoundRobin: LoadBalancerFactory = (hosts) => {
  if (hosts.length === 0) return NO_HOST;
  return allWeightsEqual(hosts) ? new RotationPicker(hosts) : new WeightedPicker(hosts);
};
