/**
 * Envoy's circuit breakers for one cluster (default priority): limits on what the
 * cluster has in flight, checked before a request or retry is sent, so an overloaded
 * upstream is refused at once (503 UO) instead of queueing without bound.
 */
export interface CircuitBreakerThresholds {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

/** Envoy's defaults. */
export const DEFAULT_THRESHOLDS: CircuitBreakerThresholds = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
};

export class CircuitBreakers {
  activeRequests = 0;
  activeRetries = 0;

  constructor(readonly thresholds: CircuitBreakerThresholds = DEFAULT_THRESHOLDS) {}

  /** A new request (first attempt) may go out; pair with releaseRequest(). */
  tryAcquireRequest(): boolean {
    if (this.activeRequests >= this.thresholds.maxRequests) return false;
    this.activeRequests++;
    return true;
  }

  releaseRequest(): void {
    this.activeRequests--;
  }

  /** A retry may go out; pair with releaseRetry(). */
  tryAcquireRetry(): boolean {
    if (this.activeRetries >= this.thresholds.maxRetries) return false;
    this.activeRetries++;
    return true;
  }

  releaseRetry(): void {
    this.activeRetries--;
  }
}
