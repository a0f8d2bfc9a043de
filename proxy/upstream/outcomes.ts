import type { UpstreamOutcome } from '../cluster/upstream-outcome';
import type { AttemptEnd } from '../router/retry-policy';

/**
 * Shared, immutable values for what the request path reports and decides on, so reporting an
 * attempt's end to the cluster (and deciding on a failure) allocates nothing.
 */
export const CONNECT_FAILURE: UpstreamOutcome = Object.freeze({ kind: 'connect_failure' });
export const RESET: UpstreamOutcome = Object.freeze({ kind: 'reset' });
export const TIMEOUT: UpstreamOutcome = Object.freeze({ kind: 'timeout' });

const responses: UpstreamOutcome[] = [];

/** `{kind: 'response', status}`, one frozen object per status code. */
export function responseOutcome(status: number): UpstreamOutcome {
  return (responses[status] ??= Object.freeze({ kind: 'response', status }));
}

export const CONNECT_FAILURE_END: AttemptEnd = Object.freeze({ kind: 'connect_failure' });
export const RESET_BEFORE_REQUEST_END: AttemptEnd = Object.freeze({ kind: 'reset', requestStarted: false });
export const RESET_END: AttemptEnd = Object.freeze({ kind: 'reset', requestStarted: true });
export const PER_TRY_TIMEOUT_END: AttemptEnd = Object.freeze({ kind: 'per_try_timeout' });

/** Error codes of a TCP connection that never opened. */
export const TCP_CONNECT_ERRORS: ReadonlySet<string | undefined> = new Set(['UND_ERR_CONNECT_TIMEOUT', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH']);
