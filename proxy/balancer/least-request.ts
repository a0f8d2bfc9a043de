import { EdfScheduler } from './edf-scheduler';
import { allWeightsEqual, type BalancerHost } from './host';
import type { LoadBalancer, LoadBalancerFactory, RandomSource } from './load-balancer';
import { NO_HOST } from './no-host';

const DEFAULT_CHOICE_COUNT = 2;
const DEFAULT_ACTIVE_REQUEST_BIAS = 1;

/**
 * Power of `choiceCount` choices: sample hosts uniformly (with replacement, as Envoy does)
 * and keep the one with the fewest active requests, the first sampled winning ties. The
 * busiest host only gets a request when every sample lands on it, so it drains.
 */
class ChoicesPicker implements LoadBalancer {
  constructor(
    private readonly hosts: readonly BalancerHost[],
    private readonly choiceCount: number,
    private readonly random: RandomSource,
  ) {}

  pick(): BalancerHost {
    const hosts = this.hosts;
    let best = hosts[Math.floor(this.random() * hosts.length)];
    for (let i = 1; i < this.choiceCount; i++) {
      const sampled = hosts[Math.floor(this.random() * hosts.length)];
      if (sampled.activeRequests < best.activeRequests) best = sampled;
    }
    return best;
  }
}

/**
 * Weights differ: EDF over `weight / (activeRequests + 1) ^ bias`, each host's weight taken
 * again when it is rescheduled after being picked, as Envoy does. A loaded host is picked
 * less often but never starved, which P2C cannot promise once weights are involved.
 */
class WeightedPicker implements LoadBalancer {
  private readonly scheduler: EdfScheduler;

  constructor(
    private readonly hosts: readonly BalancerHost[],
    private readonly bias: number,
  ) {
    this.scheduler = new EdfScheduler(hosts.map((h) => this.effectiveWeight(h)));
  }

  pick(): BalancerHost {
    const host = this.hosts[this.scheduler.peek()];
    this.scheduler.reschedule(this.effectiveWeight(host));
    return host;
  }

  private effectiveWeight(host: BalancerHost): number {
    // Envoy special-cases the default bias too: a division is much cheaper than Math.pow.
    if (this.bias === 1) return host.weight / (host.activeRequests + 1);
    return host.weight / Math.pow(host.activeRequests + 1, this.bias);
  }
}

/** LEAST_REQUEST, reading `activeRequests` live from the hosts at every pick. */
export const createLeastRequest: LoadBalancerFactory = (hosts, options) => {
  if (hosts.length === 0) return NO_HOST;
  const config = options.leastRequest;
  if (allWeightsEqual(hosts)) {
    return new ChoicesPicker(
      hosts,
      config?.choiceCount ?? DEFAULT_CHOICE_COUNT,
      options.random ?? Math.random,
    );
  }
  return new WeightedPicker(hosts, config?.activeRequestBias ?? DEFAULT_ACTIVE_REQUEST_BIAS);
};
