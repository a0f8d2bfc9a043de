import type { ConfigIssue } from '../../xds/config-error';
import { onlyFields } from '../config/field-support';
import { firstHeaderValue, type FlatHeaders } from './flat-headers';
import { compileHeaderMatcher, type HeaderMatcher } from './header-matcher';
import type { RetryPolicy as RetryPolicyConfig } from './route-configuration';
import type { RouteRequest } from './route-request';
import { fieldPath } from './supported-fields';

/**
 * Envoy's route retry policy, split as Envoy splits it: `RetryPolicy` is the config compiled
 * once (immutable, shared by every request of the route); `RetryState` is the few numbers one
 * request keeps; `decideRetry` is the decision — given the policy, the state and how an attempt
 * ended: retry after N ms, or not, and why. The decision is a pure function; timers, circuit
 * breakers and counters are the caller's (proxy/upstream).
 */

/** `retry_on` conditions, as bits (Envoy's RetryPolicy::RETRY_ON_*). */
export const RetryOn = {
  FiveXx: 1 << 0,
  GatewayError: 1 << 1,
  Reset: 1 << 2,
  ConnectFailure: 1 << 3,
  Retriable4xx: 1 << 4,
  RefusedStream: 1 << 5,
  RetriableStatusCodes: 1 << 6,
  RetriableHeaders: 1 << 7,
  ResetBeforeRequest: 1 << 8,
  // gRPC: a response whose grpc-status (in the headers of a trailers-only response) is this code.
  GrpcCancelled: 1 << 9,
  GrpcDeadlineExceeded: 1 << 10,
  GrpcInternal: 1 << 11,
  GrpcResourceExhausted: 1 << 12,
  GrpcUnavailable: 1 << 13,
} as const;

/** grpc-status values of the gRPC conditions, by their bit. */
const GRPC_RETRY_STATUS: readonly (readonly [number, string, RetryCondition])[] = [
  [RetryOn.GrpcCancelled, '1', 'cancelled'],
  [RetryOn.GrpcDeadlineExceeded, '4', 'deadline-exceeded'],
  [RetryOn.GrpcInternal, '13', 'internal'],
  [RetryOn.GrpcResourceExhausted, '8', 'resource-exhausted'],
  [RetryOn.GrpcUnavailable, '14', 'unavailable'],
];
const GRPC_BITS = GRPC_RETRY_STATUS.reduce((bits, [bit]) => bits | bit, 0);

const RETRY_ON_NAMES: ReadonlyMap<string, number> = new Map([
  ['5xx', RetryOn.FiveXx],
  ['gateway-error', RetryOn.GatewayError],
  ['reset', RetryOn.Reset],
  ['connect-failure', RetryOn.ConnectFailure],
  ['retriable-4xx', RetryOn.Retriable4xx],
  // HTTP/2's REFUSED_STREAM: accepted, but meshlet's upstreams speak HTTP/1.1, where it never happens.
  ['refused-stream', RetryOn.RefusedStream],
  ['retriable-status-codes', RetryOn.RetriableStatusCodes],
  ['retriable-headers', RetryOn.RetriableHeaders],
  ['reset-before-request', RetryOn.ResetBeforeRequest],
  ['cancelled', RetryOn.GrpcCancelled],
  ['deadline-exceeded', RetryOn.GrpcDeadlineExceeded],
  ['internal', RetryOn.GrpcInternal],
  ['resource-exhausted', RetryOn.GrpcResourceExhausted],
  ['unavailable', RetryOn.GrpcUnavailable],
]);

/** Valid Envoy retry_on values (HTTP and gRPC) that meshlet does not implement. */
const NOT_IMPLEMENTED = new Set([
  'envoy-ratelimited',
  'http3-post-connect-failure',
]);

export interface ParsedRetryOn {
  readonly bits: number;
  /** Tokens meshlet does not implement (valid Envoy). */
  readonly notImplemented: readonly string[];
  /** Tokens Envoy does not know either. */
  readonly unknown: readonly string[];
}

/** A comma-separated retry_on list, tokens trimmed and empty ones skipped (Envoy's splitToken). */
export function parseRetryOn(value: string): ParsedRetryOn {
  let bits = 0;
  const notImplemented: string[] = [];
  const unknown: string[] = [];
  for (const raw of value.split(',')) {
    const token = raw.trim();
    if (token === '') continue;
    const bit = RETRY_ON_NAMES.get(token);
    if (bit !== undefined) bits |= bit;
    else if (NOT_IMPLEMENTED.has(token)) notImplemented.push(token);
    else unknown.push(token);
  }
  return { bits, notImplemented, unknown };
}

export const PREVIOUS_HOSTS_PREDICATE = 'envoy.retry_host_predicates.previous_hosts';
const PREVIOUS_HOSTS_TYPE = 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';

/** Envoy's defaults: one retry, 25 ms base interval, max interval 10× the base, one host reselection. */
export const DEFAULT_NUM_RETRIES = 1;
export const DEFAULT_BASE_INTERVAL_MS = 25;
export const DEFAULT_HOST_SELECTION_MAX_ATTEMPTS = 1;
/** A bound on host reselection however large the config's value: past this, reselecting is pointless. */
export const MAX_HOST_SELECTION_ATTEMPTS = 100;

/** A route's (or virtual host's) retry_policy, compiled once; immutable. */
export interface RetryPolicy {
  readonly retryOn: number;
  readonly numRetries: number;
  /** 0: none (the route timeout alone bounds each attempt). */
  readonly perTryTimeoutMs: number;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly retriableStatusCodes: readonly number[];
  readonly retriableHeaders: readonly HeaderMatcher[];
  /** retry_host_predicate previous_hosts: a retry avoids the hosts already tried (failover). */
  readonly avoidPreviousHosts: boolean;
  /** host_selection_retry_max_attempts (at most MAX_HOST_SELECTION_ATTEMPTS): re-picks allowed to find a host not tried yet. */
  readonly hostSelectionMaxAttempts: number;
}

/**
 * What a route without retry_policy retries with when an internal client enables retries with
 * `x-envoy-retry-on`: Envoy's defaults and no conditions of its own.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retryOn: 0,
  numRetries: DEFAULT_NUM_RETRIES,
  perTryTimeoutMs: 0,
  baseIntervalMs: DEFAULT_BASE_INTERVAL_MS,
  maxIntervalMs: DEFAULT_BASE_INTERVAL_MS * 10,
  retriableStatusCodes: [],
  retriableHeaders: [],
  avoidPreviousHosts: false,
  hostSelectionMaxAttempts: DEFAULT_HOST_SELECTION_MAX_ATTEMPTS,
};

const SUPPORTED_FIELDS = [
  'retry_on',
  'num_retries',
  'per_try_timeout',
  'retry_back_off',
  'retry_host_predicate',
  'host_selection_retry_max_attempts',
  'retriable_status_codes',
  'retriable_headers',
];

interface RetryBackOffConfig {
  readonly base_interval?: number;
  readonly max_interval?: number;
}

interface RetryHostPredicateConfig {
  readonly name?: string;
  readonly typed_config?: { readonly '@type'?: string };
}

/** Compiles `config` (a RetryPolicy as decoded: snake_case, durations in ms); issues name their path. */
export function compileRetryPolicy(config: RetryPolicyConfig, path: string, issues: ConfigIssue[]): RetryPolicy | undefined {
  const before = issues.length;
  onlyFields(config, path, SUPPORTED_FIELDS, issues);

  let retryOn = 0;
  if (config.retry_on !== undefined) {
    const parsed = parseRetryOn(String(config.retry_on));
    retryOn = parsed.bits;
    const at = fieldPath(path, 'retry_on');
    for (const token of parsed.notImplemented) issues.push({ path: at, message: `retry condition "${token}" is not supported by meshlet` });
    for (const token of parsed.unknown) issues.push({ path: at, message: `unknown retry condition "${token}"` });
  }

  const numRetries = nonNegative(config.num_retries, DEFAULT_NUM_RETRIES, fieldPath(path, 'num_retries'), issues);
  const perTryTimeoutMs = nonNegative(config.per_try_timeout, 0, fieldPath(path, 'per_try_timeout'), issues);

  let baseIntervalMs = DEFAULT_BASE_INTERVAL_MS;
  let maxIntervalMs = DEFAULT_BASE_INTERVAL_MS * 10;
  const backOff = config.retry_back_off as RetryBackOffConfig | undefined;
  if (backOff !== undefined) {
    const at = fieldPath(path, 'retry_back_off');
    onlyFields(backOff, at, ['base_interval', 'max_interval'], issues);
    if (backOff.base_interval === undefined) issues.push({ path: fieldPath(at, 'base_interval'), message: 'is required' });
    else if (!(backOff.base_interval > 0)) issues.push({ path: fieldPath(at, 'base_interval'), message: 'must be greater than 0' });
    else baseIntervalMs = backOff.base_interval;
    maxIntervalMs = baseIntervalMs * 10;
    if (backOff.max_interval !== undefined) {
      if (!(backOff.max_interval > 0)) issues.push({ path: fieldPath(at, 'max_interval'), message: 'must be greater than 0' });
      else if (backOff.max_interval < baseIntervalMs) {
        issues.push({ path: fieldPath(at, 'max_interval'), message: 'must be greater than or equal to base_interval' });
      } else maxIntervalMs = backOff.max_interval;
    }
  }

  let avoidPreviousHosts = false;
  const predicates = (config.retry_host_predicate ?? []) as readonly RetryHostPredicateConfig[];
  predicates.forEach((predicate, i) => {
    const at = fieldPath(path, `retry_host_predicate[${i}]`);
    onlyFields(predicate, at, ['name', 'typed_config'], issues);
    // Envoy resolves the extension by its typed_config type, else by name.
    const type = predicate.typed_config?.['@type'];
    if (type === PREVIOUS_HOSTS_TYPE || (type === undefined && predicate.name === PREVIOUS_HOSTS_PREDICATE)) {
      avoidPreviousHosts = true;
    } else {
      issues.push({
        path: at,
        message: `retry host predicate ${JSON.stringify(type ?? predicate.name ?? '')} is not supported by meshlet (only ${PREVIOUS_HOSTS_PREDICATE})`,
      });
    }
  });
  const hostSelectionMaxAttempts = nonNegative(
    config.host_selection_retry_max_attempts,
    DEFAULT_HOST_SELECTION_MAX_ATTEMPTS,
    fieldPath(path, 'host_selection_retry_max_attempts'),
    issues,
  );

  const retriableStatusCodes = ((config.retriable_status_codes ?? []) as readonly number[]).map(Number);
  const retriableHeaders: HeaderMatcher[] = [];
  ((config.retriable_headers ?? []) as readonly object[]).forEach((matcher, i) => {
    const compiled = compileHeaderMatcher(matcher, fieldPath(path, `retriable_headers[${i}]`), issues);
    if (compiled !== undefined) retriableHeaders.push(compiled);
  });

  if (issues.length > before) return undefined;
  return {
    retryOn,
    numRetries,
    perTryTimeoutMs,
    baseIntervalMs,
    maxIntervalMs,
    retriableStatusCodes,
    retriableHeaders,
    avoidPreviousHosts,
    hostSelectionMaxAttempts: Math.min(hostSelectionMaxAttempts, MAX_HOST_SELECTION_ATTEMPTS),
  };
}

function nonNegative(value: unknown, fallback: number, path: string, issues: ConfigIssue[]): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    issues.push({ path, message: 'must not be negative' });
    return fallback;
  }
  return n;
}

// --- per request ---------------------------------------------------------------------------

/** The retry headers an internal client sent (Envoy's x-envoy-retry-on and friends). */
export interface RetryRequestHeaders {
  /** x-envoy-retry-on, parsed; unknown tokens are ignored, as Envoy does. */
  readonly retryOn: number;
  /** x-envoy-max-retries when it parses as a non-negative integer. */
  readonly maxRetries: number | undefined;
  /** x-envoy-retriable-status-codes. */
  readonly retriableStatusCodes: readonly number[];
}

/** One request's retry bookkeeping: a few numbers, created only for routes that may retry. */
export class RetryState {
  /** The policy's conditions, plus those of x-envoy-retry-on. */
  readonly retryOn: number;
  retriesLeft: number;
  retriesSent = 0;
  /** Status codes from x-envoy-retriable-status-codes, added to the policy's. */
  readonly extraStatusCodes: readonly number[];
  /**
   * Whether the request can be sent again: it has no body, or its body is still kept whole
   * (within the route's per_request_buffer_limit_bytes); it turns false when the body outgrows it.
   */
  replayable: boolean;

  constructor(policy: RetryPolicy, headers: RetryRequestHeaders | undefined, replayable: boolean) {
    this.retryOn = policy.retryOn | (headers?.retryOn ?? 0);
    // As Envoy: x-envoy-max-retries takes precedence, when any condition is enabled.
    this.retriesLeft = this.retryOn !== 0 && headers?.maxRetries !== undefined ? headers.maxRetries : policy.numRetries;
    this.extraStatusCodes = headers?.retriableStatusCodes ?? [];
    this.replayable = replayable;
  }

  /** Whether this request can retry at all (some condition enabled). */
  get enabled(): boolean {
    return this.retryOn !== 0;
  }

  /** Records a retry being sent (the caller decided it and got the circuit breaker's go). */
  consume(): void {
    this.retriesLeft--;
    this.retriesSent++;
  }
}

/** How one attempt ended, before anything of its response went downstream. */
export type AttemptEnd =
  | { readonly kind: 'response'; readonly status: number; readonly headers: FlatHeaders }
  | { readonly kind: 'connect_failure' }
  /** `requestStarted`: bytes of the request were written upstream (undici's onConnect ran). */
  | { readonly kind: 'reset'; readonly requestStarted: boolean }
  | { readonly kind: 'per_try_timeout' };

/** The retry_on condition that makes an attempt's end retriable. */
export type RetryCondition =
  | '5xx'
  | 'gateway-error'
  | 'reset'
  | 'connect-failure'
  | 'retriable-4xx'
  | 'retriable-status-codes'
  | 'retriable-headers'
  | 'reset-before-request'
  | 'cancelled'
  | 'deadline-exceeded'
  | 'internal'
  | 'resource-exhausted'
  | 'unavailable';

export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number; readonly condition: RetryCondition }
  /** `not_retriable`: no condition matches; the others would have retried but cannot. */
  | { readonly retry: false; readonly reason: 'not_retriable' }
  | { readonly retry: false; readonly reason: 'body_not_replayable' | 'retry_limit_exceeded'; readonly condition: RetryCondition };

const NOT_RETRIABLE: RetryDecision = { retry: false, reason: 'not_retriable' };

/**
 * The decision, pure: `random` is uniform in [0, 1) and drives the backoff jitter. It does not
 * change `state`; the caller calls state.consume() when it sends the retry.
 */
export function decideRetry(policy: RetryPolicy, state: RetryState, end: AttemptEnd, random: number): RetryDecision {
  const condition = retriableBy(policy, state, end);
  if (condition === undefined) return NOT_RETRIABLE;
  if (!state.replayable) return { retry: false, reason: 'body_not_replayable', condition };
  if (state.retriesLeft <= 0) return { retry: false, reason: 'retry_limit_exceeded', condition };
  return { retry: true, delayMs: backoffMs(policy, state.retriesSent + 1, random), condition };
}

/** Which enabled condition (if any) retries this end, in Envoy's order of checks. */
export function retriableBy(policy: RetryPolicy, state: RetryState, end: AttemptEnd): RetryCondition | undefined {
  const on = state.retryOn;
  switch (end.kind) {
    case 'response': {
      const status = end.status;
      if (on & RetryOn.FiveXx && status >= 500 && status <= 599) return '5xx';
      if (on & RetryOn.GatewayError && status >= 502 && status <= 504) return 'gateway-error';
      if (on & RetryOn.Retriable4xx && status === 409) return 'retriable-4xx';
      if (on & RetryOn.RetriableStatusCodes && (policy.retriableStatusCodes.includes(status) || state.extraStatusCodes.includes(status))) {
        return 'retriable-status-codes';
      }
      if (on & RetryOn.RetriableHeaders && policy.retriableHeaders.length > 0) {
        const view = responseView(status, end.headers);
        if (policy.retriableHeaders.some((m) => m.matches(view))) return 'retriable-headers';
      }
      if (on & GRPC_BITS) {
        // Only a trailers-only response has its status in the headers: a status that comes in
        // trailers follows a response already streaming downstream, too late to retry.
        const grpcStatus = firstHeaderValue(end.headers, 'grpc-status');
        if (grpcStatus !== undefined) for (const [bit, code, condition] of GRPC_RETRY_STATUS) if (on & bit && grpcStatus === code) return condition;
      }
      return undefined;
    }
    case 'connect_failure':
      if (on & RetryOn.ConnectFailure) return 'connect-failure';
      return resetCondition(on, false);
    case 'reset':
      return resetCondition(on, end.requestStarted);
    case 'per_try_timeout':
      // Envoy resets the attempt locally and treats it as a reset after the request started.
      return resetCondition(on, true);
  }
}

function resetCondition(on: number, requestStarted: boolean): RetryCondition | undefined {
  if (on & RetryOn.ResetBeforeRequest && !requestStarted) return 'reset-before-request';
  if (on & RetryOn.Reset) return 'reset';
  // Envoy counts a reset as a 5xx (it would become a 503).
  if (on & RetryOn.FiveXx) return '5xx';
  if (on & RetryOn.GatewayError) return 'gateway-error';
  return undefined;
}

/** Response headers as header matchers read them, with `:status` for matchers that name it. */
function responseView(status: number, headers: FlatHeaders): RouteRequest {
  return { method: '', authority: '', path: '', query: '', scheme: 'http', headers: [...headers, ':status', String(status)] };
}

/**
 * Envoy's fully jittered exponential backoff: retry number n (1-based) waits uniformly in
 * [0, (2^n − 1) × base), capped at the max interval.
 */
export function backoffMs(policy: Pick<RetryPolicy, 'baseIntervalMs' | 'maxIntervalMs'>, retryNumber: number, random: number): number {
  const ceiling = (2 ** Math.min(Math.max(retryNumber, 1), 30) - 1) * policy.baseIntervalMs;
  return Math.min(Math.floor(random * ceiling), policy.maxIntervalMs);
}

/**
 * The retry host predicate previous_hosts: pick again (up to `maxAttempts` more times) while
 * the pick is a host already tried; then go with the last pick, as Envoy does.
 */
export function selectRetryHost<H>(pick: () => H | undefined, previous: readonly H[], maxAttempts: number): H | undefined {
  let host = pick();
  for (let i = 0; i < maxAttempts && host !== undefined && previous.includes(host); i++) host = pick();
  return host;
}

/** Methods RFC 9110 calls idempotent (the keep-alive race retry is only safe for these). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * The keep-alive race: the upstream closed an idle keep-alive connection just as this request
 * was written on it, so it failed before any response byte. An idempotent request without a body
 * is sent once more, on a new connection, whether or not the route has a retry policy: the
 * upstream never saw it (Envoy's reset-before-request reasoning, applied to the stale socket).
 */
export function isKeepAliveRace(
  end: AttemptEnd,
  method: string,
  hasBody: boolean,
  reusedConnection: boolean,
  alreadyRetried: boolean,
): boolean {
  return end.kind === 'reset' && end.requestStarted && reusedConnection && !hasBody && !alreadyRetried && IDEMPOTENT.has(method);
}
