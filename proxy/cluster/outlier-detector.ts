import type { UpstreamOutcome } from './upstream-outcome';

/**
 * Envoy's outlier detection (passive health checking) for one cluster, as a pure state machine:
 * "given this outcome / this interval tick, in this state → eject host X, return host Y". Time and
 * randomness come in as arguments, so tests drive it directly; the cluster applies its decisions
 * (the host's FAILED_OUTLIER_CHECK flag, a new picker, the counters) and runs the interval timer.
 *
 * Follows Envoy's DetectorImpl / DetectorHostMonitorImpl:
 *
 * - Every outcome is reduced to an HTTP status unless `split_external_local_origin_errors`:
 *   connect failures and resets count as 503, timeouts as 504 (so they are 5xx *and* gateway
 *   failures). With the split they feed `consecutive_local_origin_failure` and the local-origin
 *   success rate instead, and any response counts as a local-origin success.
 * - Consecutive counters fire when they *reach* their threshold (Envoy's `==`), then reset; a
 *   non-5xx response resets the 5xx and gateway counters, a 5xx that is not 502/503/504 resets the
 *   gateway counter.
 * - Each `interval`: ejected hosts whose time is up come back (their consecutive counters reset),
 *   the success-rate buckets rotate, success rate / failure percentage ejections are evaluated over
 *   the interval that just ended, and hosts healthy for a whole interval get their ejection
 *   multiplier decremented.
 * - An ejection lasts `min(base_ejection_time × multiplier, max_ejection_time) + jitter`, the
 *   multiplier growing with each ejection (up to where the cap is reached).
 * - `max_ejection_percent` counts the ejection being decided: it happens only if
 *   `100 × (active + 1) / hosts <= max_ejection_percent`, or when nothing is ejected and
 *   `always_eject_one_host` is set. Then `enforcing_<type>` percent of detections are enforced.
 */

/** Envoy's OutlierEjectionType, spelled as in its stat names (`ejections_enforced_<type>`). */
export type OutlierEjectionType =
  | 'consecutive_5xx'
  | 'consecutive_gateway_failure'
  | 'consecutive_local_origin_failure'
  | 'success_rate'
  | 'local_origin_success_rate'
  | 'failure_percentage'
  | 'local_origin_failure_percentage';

export const OUTLIER_EJECTION_TYPES: readonly OutlierEjectionType[] = [
  'consecutive_5xx',
  'consecutive_gateway_failure',
  'consecutive_local_origin_failure',
  'success_rate',
  'local_origin_success_rate',
  'failure_percentage',
  'local_origin_failure_percentage',
];

/** `cluster.outlier_detection`, with Envoy's defaults applied. */
export interface OutlierDetectionConfig {
  readonly consecutive5xx: number;
  readonly consecutiveGatewayFailure: number;
  readonly consecutiveLocalOriginFailure: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  readonly maxEjectionTimeJitterMs: number;
  readonly maxEjectionPercent: number;
  readonly alwaysEjectOneHost: boolean;
  readonly splitExternalLocalOriginErrors: boolean;
  readonly successRateMinimumHosts: number;
  readonly successRateRequestVolume: number;
  /** Divided by 1000: 1900 → 1.9 standard deviations. */
  readonly successRateStdevFactor: number;
  readonly failurePercentageThreshold: number;
  readonly failurePercentageMinimumHosts: number;
  readonly failurePercentageRequestVolume: number;
  /** `enforcing_*`: the percentage of detected outliers of each type that are really ejected. */
  readonly enforcing: Readonly<Record<OutlierEjectionType, number>>;
  readonly successfulActiveHealthCheckUnejectHost: boolean;
}

/** Envoy's defaults (note: gateway failures and failure percentage are detected but not enforced by default). */
export const DEFAULT_OUTLIER_DETECTION: OutlierDetectionConfig = {
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  consecutiveLocalOriginFailure: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionTimeJitterMs: 0,
  maxEjectionPercent: 10,
  alwaysEjectOneHost: false,
  splitExternalLocalOriginErrors: false,
  successRateMinimumHosts: 5,
  successRateRequestVolume: 100,
  successRateStdevFactor: 1900,
  failurePercentageThreshold: 85,
  failurePercentageMinimumHosts: 5,
  failurePercentageRequestVolume: 50,
  enforcing: {
    consecutive_5xx: 100,
    consecutive_gateway_failure: 0,
    consecutive_local_origin_failure: 100,
    success_rate: 100,
    local_origin_success_rate: 100,
    failure_percentage: 0,
    local_origin_failure_percentage: 0,
  },
  successfulActiveHealthCheckUnejectHost: true,
};

/** What the detector decided; the cluster applies it and counts it. */
export type OutlierDecision<H> =
  /** Detected and enforced: the host is out until `untilMs`. */
  | { readonly kind: 'ejected'; readonly host: H; readonly type: OutlierEjectionType; readonly untilMs: number }
  /** Detected, allowed by max_ejection_percent, but not enforced (enforcing_<type>). */
  | { readonly kind: 'not_enforced'; readonly host: H; readonly type: OutlierEjectionType }
  /** Detected, but max_ejection_percent is reached (`ejections_overflow`). */
  | { readonly kind: 'overflow'; readonly host: H; readonly type: OutlierEjectionType }
  /** Back in service: its ejection time is up, or it passed an active health check. */
  | { readonly kind: 'unejected'; readonly host: H };

/** Success/total per interval: the bucket being written, and the one of the interval that just ended. */
class SuccessRateBuckets {
  private total = 0;
  private success = 0;
  private lastTotal = 0;
  private lastSuccess = 0;

  put(success: boolean): void {
    this.total++;
    if (success) this.success++;
  }

  rotate(): void {
    this.lastTotal = this.total;
    this.lastSuccess = this.success;
    this.total = 0;
    this.success = 0;
  }

  /** [success rate in percent, request volume] of the last interval; undefined with no requests. */
  last(): [number, number] | undefined {
    return this.lastTotal === 0 ? undefined : [(this.lastSuccess * 100) / this.lastTotal, this.lastTotal];
  }
}

/** Per-host state (Envoy's DetectorHostMonitorImpl). */
export class HostMonitor {
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  ejected = false;
  numEjections = 0;
  /** The ejection time multiplier. */
  ejectTimeBackoff = 0;
  lastEjectionMs: number | undefined;
  lastUnejectionMs: number | undefined;
  jitterMs = 0;
  readonly external = new SuccessRateBuckets();
  readonly localOrigin = new SuccessRateBuckets();
  /** Of the last interval, for /clusters; -1 when there were too few requests. */
  successRate = -1;
  localOriginSuccessRate = -1;

  resetConsecutive(): void {
    this.consecutive5xx = 0;
    this.consecutiveGatewayFailure = 0;
    this.consecutiveLocalOriginFailure = 0;
  }
}

/** The cluster's success rate mean and ejection threshold of the last interval; -1 when not computed. */
export interface SuccessRateNumbers {
  average: number;
  ejectionThreshold: number;
}

/** Envoy's successRateEjectionThreshold: mean − factor × population standard deviation. */
export function successRateEjectionThreshold(rates: readonly number[], stdevFactor: number): SuccessRateNumbers {
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  let variance = 0;
  for (const r of rates) variance += (r - mean) ** 2;
  variance /= rates.length;
  return { average: mean, ejectionThreshold: mean - stdevFactor * Math.sqrt(variance) };
}

const NO_DECISIONS: readonly never[] = Object.freeze([]);

export class OutlierDetector<H> {
  private readonly monitors = new Map<H, HostMonitor>();
  /** Reused by report(): the request path reports every attempt and most report nothing to decide. */
  private readonly scratch: OutlierDecision<H>[] = [];
  private active = 0;
  readonly externalNumbers: SuccessRateNumbers = { average: -1, ejectionThreshold: -1 };
  readonly localOriginNumbers: SuccessRateNumbers = { average: -1, ejectionThreshold: -1 };

  constructor(
    readonly config: OutlierDetectionConfig,
    /** Uniform in [0, 1); decides enforcement and jitter. */
    private readonly random: () => number = Math.random,
  ) {}

  /** Hosts currently ejected (Envoy's `outlier_detection.ejections_active`). */
  get activeEjections(): number {
    return this.active;
  }

  monitor(host: H): HostMonitor | undefined {
    return this.monitors.get(host);
  }

  isEjected(host: H): boolean {
    return this.monitors.get(host)?.ejected === true;
  }

  /** The cluster's hosts changed: kept hosts keep their state, new ones start clean, removed ones are forgotten. */
  setHosts(hosts: Iterable<H>): void {
    const next = new Set(hosts);
    for (const [host, m] of this.monitors) {
      if (next.has(host)) continue;
      if (m.ejected) this.active--;
      this.monitors.delete(host);
    }
    for (const host of next) if (!this.monitors.has(host)) this.monitors.set(host, new HostMonitor());
  }

  /** How one attempt to `host` ended (Envoy's putResult / putHttpResponseCode). */
  report(host: H, outcome: UpstreamOutcome, nowMs: number): readonly OutlierDecision<H>[] {
    const m = this.monitors.get(host);
    if (m === undefined) return NO_DECISIONS;
    const decisions = this.scratch;
    if (!this.config.splitExternalLocalOriginErrors) {
      // Envoy's resultToHttpCode: connect failures and resets are 503, timeouts 504.
      const status = outcome.kind === 'response' ? outcome.status : outcome.kind === 'timeout' ? 504 : 503;
      this.putHttpResponseCode(host, m, status, nowMs, decisions);
    } else if (outcome.kind === 'response') {
      // The connection worked (LocalOriginConnectSuccess), then the server answered.
      m.localOrigin.put(true);
      m.consecutiveLocalOriginFailure = 0;
      this.putHttpResponseCode(host, m, outcome.status, nowMs, decisions);
    } else {
      m.localOrigin.put(false);
      if (++m.consecutiveLocalOriginFailure === this.config.consecutiveLocalOriginFailure) {
        this.onConsecutiveError(host, m, 'consecutive_local_origin_failure', nowMs, decisions);
      }
    }
    if (decisions.length === 0) return NO_DECISIONS;
    const out = decisions.slice();
    decisions.length = 0;
    return out;
  }

  /**
   * The interval timer fired: returns hosts whose time is up, rotates the success-rate buckets,
   * evaluates success-rate and failure-percentage ejections, and decays ejection multipliers.
   */
  onInterval(nowMs: number): OutlierDecision<H>[] {
    const decisions: OutlierDecision<H>[] = [];
    const c = this.config;
    for (const [host, m] of this.monitors) {
      if (m.ejected && nowMs - m.lastEjectionMs! >= this.ejectionTimeMs(m)) {
        this.uneject(host, m, nowMs, decisions);
      }
      m.external.rotate();
      m.localOrigin.rotate();
      m.successRate = -1;
      m.localOriginSuccessRate = -1;
    }
    this.processSuccessRate(false, nowMs, decisions);
    this.processSuccessRate(true, nowMs, decisions);
    for (const m of this.monitors.values()) {
      if (!m.ejected && m.lastUnejectionMs !== undefined && nowMs - m.lastUnejectionMs >= c.intervalMs && m.ejectTimeBackoff > 0) {
        m.ejectTimeBackoff--;
      }
    }
    return decisions;
  }

  /**
   * A host passed an active health check (and is not failed by it): with
   * `successful_active_health_check_uneject_host` (default true) an ejected host comes back.
   */
  healthCheckPassed(host: H, nowMs: number): OutlierDecision<H>[] {
    const m = this.monitors.get(host);
    if (m === undefined || !m.ejected || !this.config.successfulActiveHealthCheckUnejectHost) return [];
    const decisions: OutlierDecision<H>[] = [];
    this.uneject(host, m, nowMs, decisions);
    return decisions;
  }

  /** How long the current ejection of `m` lasts. */
  ejectionTimeMs(m: HostMonitor): number {
    const c = this.config;
    return Math.min(c.baseEjectionTimeMs * m.ejectTimeBackoff, c.maxEjectionTimeMs) + m.jitterMs;
  }

  private putHttpResponseCode(host: H, m: HostMonitor, status: number, nowMs: number, decisions: OutlierDecision<H>[]): void {
    const c = this.config;
    if (status >= 500 && status < 600) {
      m.external.put(false);
      if (status === 502 || status === 503 || status === 504) {
        if (++m.consecutiveGatewayFailure === c.consecutiveGatewayFailure) {
          this.onConsecutiveError(host, m, 'consecutive_gateway_failure', nowMs, decisions);
        }
      } else {
        m.consecutiveGatewayFailure = 0;
      }
      if (++m.consecutive5xx === c.consecutive5xx) this.onConsecutiveError(host, m, 'consecutive_5xx', nowMs, decisions);
    } else {
      m.external.put(true);
      m.consecutive5xx = 0;
      m.consecutiveGatewayFailure = 0;
    }
  }

  private onConsecutiveError(host: H, m: HostMonitor, type: OutlierEjectionType, nowMs: number, decisions: OutlierDecision<H>[]): void {
    // Already out: the counter runs on until the host comes back (unejection resets it).
    if (m.ejected) return;
    this.eject(host, m, type, nowMs, decisions);
    if (type === 'consecutive_5xx') m.consecutive5xx = 0;
    else if (type === 'consecutive_gateway_failure') m.consecutiveGatewayFailure = 0;
    else m.consecutiveLocalOriginFailure = 0;
  }

  /** Envoy's ejectHost: max_ejection_percent, then enforcing_<type>. */
  private eject(host: H, m: HostMonitor, type: OutlierEjectionType, nowMs: number, decisions: OutlierDecision<H>[]): void {
    const c = this.config;
    const ejectedPercent = (100 * (this.active + 1)) / this.monitors.size;
    let allowed = ejectedPercent <= Math.min(100, c.maxEjectionPercent);
    if (c.alwaysEjectOneHost) allowed ||= this.active === 0;
    if (!allowed) {
      decisions.push({ kind: 'overflow', host, type });
      return;
    }
    if (Math.floor(this.random() * 100) >= c.enforcing[type]) {
      decisions.push({ kind: 'not_enforced', host, type });
      return;
    }
    this.active++;
    m.ejected = true;
    m.numEjections++;
    m.lastEjectionMs = nowMs;
    m.jitterMs = Math.floor(this.random() * (c.maxEjectionTimeJitterMs + 1));
    if (m.ejectTimeBackoff * c.baseEjectionTimeMs < c.maxEjectionTimeMs + c.baseEjectionTimeMs) m.ejectTimeBackoff++;
    decisions.push({ kind: 'ejected', host, type, untilMs: nowMs + this.ejectionTimeMs(m) });
  }

  private uneject(host: H, m: HostMonitor, nowMs: number, decisions: OutlierDecision<H>[]): void {
    this.active--;
    m.ejected = false;
    // So that a few new errors do not eject again through a counter left near its threshold.
    m.resetConsecutive();
    m.lastUnejectionMs = nowMs;
    decisions.push({ kind: 'unejected', host });
  }

  /** Envoy's processSuccessRateEjections for the external-origin or local-origin results. */
  private processSuccessRate(localOrigin: boolean, nowMs: number, decisions: OutlierDecision<H>[]): void {
    const c = this.config;
    const numbers = localOrigin ? this.localOriginNumbers : this.externalNumbers;
    numbers.average = -1;
    numbers.ejectionThreshold = -1;
    if (this.monitors.size < c.successRateMinimumHosts && this.monitors.size < c.failurePercentageMinimumHosts) return;
    const successRateHosts: [H, HostMonitor, number][] = [];
    const failurePercentageHosts: [H, HostMonitor, number][] = [];
    for (const [host, m] of this.monitors) {
      if (m.ejected) continue;
      const last = (localOrigin ? m.localOrigin : m.external).last();
      if (last === undefined) continue;
      const [rate, volume] = last;
      if (volume >= Math.min(c.successRateRequestVolume, c.failurePercentageRequestVolume)) {
        if (localOrigin) m.localOriginSuccessRate = rate;
        else m.successRate = rate;
      }
      if (volume >= c.successRateRequestVolume) successRateHosts.push([host, m, rate]);
      if (volume >= c.failurePercentageRequestVolume) failurePercentageHosts.push([host, m, rate]);
    }
    if (successRateHosts.length > 0 && successRateHosts.length >= c.successRateMinimumHosts) {
      const result = successRateEjectionThreshold(
        successRateHosts.map(([, , rate]) => rate),
        c.successRateStdevFactor / 1000,
      );
      numbers.average = result.average;
      numbers.ejectionThreshold = result.ejectionThreshold;
      for (const [host, m, rate] of successRateHosts) {
        if (rate < result.ejectionThreshold && !m.ejected) {
          this.eject(host, m, localOrigin ? 'local_origin_success_rate' : 'success_rate', nowMs, decisions);
        }
      }
    }
    if (failurePercentageHosts.length > 0 && failurePercentageHosts.length >= c.failurePercentageMinimumHosts) {
      for (const [host, m, rate] of failurePercentageHosts) {
        if (100 - rate >= c.failurePercentageThreshold && !m.ejected) {
          this.eject(host, m, localOrigin ? 'local_origin_failure_percentage' : 'failure_percentage', nowMs, decisions);
        }
      }
    }
  }
}
