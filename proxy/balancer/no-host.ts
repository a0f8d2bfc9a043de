import type { LoadBalancer } from './load-balancer';

/** The picker of an empty host set; shared because it has no state. */
export const NO_HOST: LoadBalancer = { pick: () => undefined };
