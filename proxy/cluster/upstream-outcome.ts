/**
 * How one attempt to one upstream host ended, as the upstream code reports it to the
 * cluster (outlier detection reads it). `response` is any status the upstream sent;
 * the others are failures that originate locally, before or instead of a response.
 */
export type UpstreamOutcome =
  | { readonly kind: 'response'; readonly status: number }
  | { readonly kind: 'connect_failure' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'timeout' };
