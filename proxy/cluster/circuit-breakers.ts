import type { CounterCell } from '../metrics/metric-family';

/**
 * Envoy's circuit breakers for one cluster (priority DEFAULT: meshlet's routes have no
 * priority, so HIGH thresholds are parsed but never consulted): limits on what the cluster has
 * in flight, checked before a request or retry is sent, so an overloaded upstream is refused at
 * once (503 UO) instead of queueing without bound.
 *
 * - `max_requests`: requests in flight to the cluster.
 * - `max_pending_requests`: requests waiting for a connection. A request waits when the host it
 *   goes to has all its connections busy at their limit; it is refused when it would wait and
 *   `max_pending_requests` are already waiting (undici's queued requests, summed over hosts).
 * - `max_connections`: enforced through the hosts' pool sizes (Cluster.connectionLimitPerHost: the
 *   limit shared out over the hosts, capped by `per_host_thresholds`); a request that has to wait
 *   because of it counts `upstream_cx_overflow`.
 * - `max_retries`, or `retry_budget` when set (which then replaces max_retries, as in Envoy):
 *   retries in flight may be at most max(min_retry_concurrency, budget_percent × active requests).
 *
 * The caller counts refusals (`upstream_rq_pending_overflow` for a refused request, as Envoy does
 * for both max_requests and max_pending_requests; `upstream_rq_retry_overflow` for a refused retry);
 * the breakers count `upstream_cx_overflow`, which only they see.
 */
export interface RetryBudget {
  /** Percent of the active requests that may be retries. Envoy's default 20. */
  readonly budgetPercent: number;
  /** Retries always allowed whatever the budget. Envoy's default 3. */
  readonly minRetryConcurrency: number;
}

export interface CircuitBreakerThresholds {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  /** When set, replaces maxRetries. */
  readonly retryBudget?: RetryBudget;
  /** Export `remaining_*` gauges (Envoy's `track_remaining`). */
  readonly trackRemaining?: boolean;
}

/** Envoy's defaults. */
export const DEFAULT_THRESHOLDS: CircuitBreakerThresholds = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
};

export const DEFAULT_RETRY_BUDGET: RetryBudget = { budgetPercent: 20, minRetryConcurrency: 3 };

/** What the breakers need to know of the cluster's hosts and where they count refusals. */
export interface BreakerContext {
  /** Requests waiting for a connection, over all hosts. Only called when a request would wait. */
  pendingRequests(): number;
  /** Open connections, over all hosts (for the cx_open gauge). */
  connections(): number;
  /** The most connections the cluster's pools may open together (the sum of the hosts' pool sizes). */
  connectionCapacity(): number;
  readonly stats?: { readonly cxOverflow: CounterCell };
}

/** A host a request is about to go to: would it wait for a connection? */
export interface BreakerHost {
  readonly activeRequests: number;
  readonly connectionLimit: number;
}

/** The breakers' state as Envoy's gauges show it (circuit_breakers.default.*). */
export interface BreakerGauges {
  readonly cxOpen: number;
  readonly rqPendingOpen: number;
  readonly rqOpen: number;
  readonly rqRetryOpen: number;
  readonly remainingCx: number;
  readonly remainingPending: number;
  readonly remainingRq: number;
  readonly remainingRetries: number;
}

const NO_HOSTS: BreakerContext = { pendingRequests: () => 0, connections: () => 0, connectionCapacity: () => Infinity };

/** The retries allowed in flight now: max_retries, or the retry budget's share of the active requests. */
export function allowedRetries(thresholds: CircuitBreakerThresholds, activeRequests: number): number {
  const budget = thresholds.retryBudget;
  if (budget === undefined) return thresholds.maxRetries;
  return Math.max(budget.minRetryConcurrency, Math.floor((budget.budgetPercent / 100) * activeRequests));
}

export class CircuitBreakers {
  activeRequests = 0;
  activeRetries = 0;

  constructor(
    readonly thresholds: CircuitBreakerThresholds = DEFAULT_THRESHOLDS,
    private readonly context: BreakerContext = NO_HOSTS,
  ) {}

  /**
   * A new request (first attempt) may go out; pair with releaseRequest(). Refused when
   * `max_requests` are in flight, or when it would wait for a connection and
   * `max_pending_requests` already wait. With `host` (the host it goes to) the wait is known;
   * without, it is estimated cluster-wide: requests in flight fill every connection the cluster
   * may open (each connection serves one request at a time).
   */
  tryAcquireRequest(host?: BreakerHost): boolean {
    const t = this.thresholds;
    if (this.activeRequests >= t.maxRequests) return false;
    const waits =
      host !== undefined ? host.activeRequests >= host.connectionLimit : this.activeRequests >= Math.min(t.maxConnections, this.context.connectionCapacity());
    if (waits) {
      // The connection limit makes this request wait (Envoy counts the connection it could not open).
      const stats = this.context.stats;
      if (stats !== undefined) stats.cxOverflow.value++;
      if (this.context.pendingRequests() >= t.maxPendingRequests) return false;
    }
    this.activeRequests++;
    return true;
  }

  releaseRequest(): void {
    this.activeRequests--;
  }

  /** A retry may go out; pair with releaseRetry(). Refused beyond max_retries, or the retry budget when set. */
  tryAcquireRetry(): boolean {
    if (this.activeRetries >= allowedRetries(this.thresholds, this.activeRequests)) return false;
    this.activeRetries++;
    return true;
  }

  releaseRetry(): void {
    this.activeRetries--;
  }

  /** Envoy's circuit_breakers.default.{cx,rq_pending,rq,rq_retry}_open and remaining_* now. */
  gauges(): BreakerGauges {
    const t = this.thresholds;
    const connections = this.context.connections();
    const pending = this.context.pendingRequests();
    const retries = allowedRetries(t, this.activeRequests);
    return {
      cxOpen: connections >= t.maxConnections ? 1 : 0,
      rqPendingOpen: pending >= t.maxPendingRequests ? 1 : 0,
      rqOpen: this.activeRequests >= t.maxRequests ? 1 : 0,
      rqRetryOpen: this.activeRetries >= retries ? 1 : 0,
      remainingCx: Math.max(0, t.maxConnections - connections),
      remainingPending: Math.max(0, t.maxPendingRequests - pending),
      remainingRq: Math.max(0, t.maxRequests - this.activeRequests),
      remainingRetries: Math.max(0, retries - this.activeRetries),
    };
  }
}
