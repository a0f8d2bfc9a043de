import type { ConfigIssue } from '../../xds/config-error';
import { compileClusterSelector, type ClusterChoice, type ClusterSelector } from './cluster-selector';
import { compileDirectResponse, type DirectResponse } from './direct-response';
import type { FlatHeaders } from './flat-headers';
import { compileHashPolicy, type HashPolicy } from './hash-policy';
import { compileHeaderMutations, type HeaderMutation, type HeaderMutations } from './header-mutation';
import { compilePathRewrite, type PathRewrite } from './path-rewrite';
import { compileRedirect, type Redirect } from './redirect';
import type { RetryPolicy as RetryPolicyConfig, Route, RouteAction } from './route-configuration';
import { compileRetryPolicy, type RetryPolicy } from './retry-policy';
import { compileUpgradeConfigs } from './upgrade-configs';
import { compileRouteMatch, type RouteMatcher } from './route-matcher';
import type { HeaderContext, RouteRequest } from './route-request';
import { checkSupportedFields, fieldPath, presentFields } from './supported-fields';

/** Envoy's route timeout when RouteAction.timeout is absent. */
const DEFAULT_TIMEOUT_MS = 15000;

/**
 * How much of a request body meshlet buffers so that a retry can replay it, when neither the
 * route nor its virtual host sets per_request_buffer_limit_bytes (Envoy falls back to the
 * listener's 1 MiB connection buffer; a sidecar keeps it small).
 */
export const DEFAULT_PER_REQUEST_BUFFER_LIMIT_BYTES = 16 * 1024;

export type RouteKind = 'cluster' | 'direct_response' | 'redirect';

interface MatchedRouteParts {
  readonly name: string;
  readonly virtualHostName: string;
  readonly kind: RouteKind;
  readonly clusters?: ClusterSelector;
  readonly directResponse?: DirectResponse;
  readonly redirect?: Redirect;
  readonly pathRewrite?: PathRewrite;
  readonly hostRewriteLiteral?: string;
  readonly autoHostRewrite?: boolean;
  readonly timeoutMs?: number;
  readonly maxStreamDurationMs?: number;
  readonly grpcTimeoutHeaderMaxMs?: number;
  readonly grpcTimeoutHeaderOffsetMs?: number;
  readonly retryPolicy?: RetryPolicyConfig;
  readonly retry?: RetryPolicy;
  readonly perRequestBufferLimitBytes?: number;
  readonly hashPolicy?: HashPolicy;
  readonly upgrades?: ReadonlyMap<string, boolean>;
  readonly idleTimeoutMs?: number;
  readonly requestMutations: readonly HeaderMutation[];
  readonly responseMutations: readonly HeaderMutation[];
}

/**
 * A compiled route, returned as is for every request it matches. Everything here is fixed at
 * compile time; the methods only read it and the request.
 */
export class MatchedRoute {
  /** route.name, or `<virtual host>/<index>` for an unnamed route; it labels metrics. */
  readonly name: string;
  readonly virtualHostName: string;
  readonly kind: RouteKind;
  readonly directResponse: DirectResponse | undefined;
  /** Its `status`; the Location comes from redirectLocation(). */
  readonly redirect: Redirect | undefined;
  readonly hostRewriteLiteral: string | undefined;
  /** The caller sets Host to the chosen upstream host (auto_host_rewrite). */
  readonly autoHostRewrite: boolean;
  /** 0 disables the timeout. */
  readonly timeoutMs: number;
  /** Route `max_stream_duration.max_stream_duration`: the whole stream's limit (0: the listener's applies). */
  readonly maxStreamDurationMs: number;
  /** `max_stream_duration.grpc_timeout_header_max`: set, a request's grpc-timeout is its timeout (capped unless 0). */
  readonly grpcTimeoutHeaderMaxMs: number | undefined;
  readonly grpcTimeoutHeaderOffsetMs: number;
  /** The raw RetryPolicy (the route's, else the virtual host's), as configured. */
  readonly retryPolicy: RetryPolicyConfig | undefined;
  /** The same, compiled (proxy/router/retry-policy.ts); undefined when the route has none. */
  readonly retry: RetryPolicy | undefined;
  /** per_request_buffer_limit_bytes (the route's, else the virtual host's): the largest body a retry can replay. */
  readonly perRequestBufferLimitBytes: number;
  readonly hashPolicy: HashPolicy | undefined;
  /** The route's `upgrade_configs` (type → enabled), overriding the connection manager's; undefined when it has none. */
  readonly upgrades: ReadonlyMap<string, boolean> | undefined;
  /** The route's `idle_timeout`: replaces the connection manager's stream_idle_timeout when set (0 disables it). */
  readonly idleTimeoutMs: number | undefined;
  /**
   * Whether header mutations or hashing read a HeaderContext; when false the caller
   * need not build one, nor call the mutation methods (the common route costs nothing).
   */
  readonly usesContext: boolean;
  private readonly clusters: ClusterSelector | undefined;
  private readonly pathRewrite: PathRewrite | undefined;
  /** Levels in application order (the weighted cluster's, when there is one, goes first). */
  private readonly requestMutations: readonly HeaderMutation[];
  private readonly responseMutations: readonly HeaderMutation[];

  constructor(parts: MatchedRouteParts) {
    this.name = parts.name;
    this.virtualHostName = parts.virtualHostName;
    this.kind = parts.kind;
    this.clusters = parts.clusters;
    this.directResponse = parts.directResponse;
    this.redirect = parts.redirect;
    this.pathRewrite = parts.pathRewrite;
    this.hostRewriteLiteral = parts.hostRewriteLiteral;
    this.autoHostRewrite = parts.autoHostRewrite ?? false;
    this.timeoutMs = parts.timeoutMs ?? 0;
    this.maxStreamDurationMs = parts.maxStreamDurationMs ?? 0;
    this.grpcTimeoutHeaderMaxMs = parts.grpcTimeoutHeaderMaxMs;
    this.grpcTimeoutHeaderOffsetMs = parts.grpcTimeoutHeaderOffsetMs ?? 0;
    this.retryPolicy = parts.retryPolicy;
    this.retry = parts.retry;
    this.perRequestBufferLimitBytes = parts.perRequestBufferLimitBytes ?? DEFAULT_PER_REQUEST_BUFFER_LIMIT_BYTES;
    this.hashPolicy = parts.hashPolicy;
    this.upgrades = parts.upgrades;
    this.idleTimeoutMs = parts.idleTimeoutMs;
    this.requestMutations = parts.requestMutations;
    this.responseMutations = parts.responseMutations;
    this.usesContext =
      this.requestMutations.length > 0 ||
      this.responseMutations.length > 0 ||
      this.hashPolicy !== undefined ||
      this.clusters?.mutatesHeaders === true;
  }

  /** `random` uniform in [0, 1). Only for kind 'cluster'. */
  selectCluster(random: number): ClusterChoice {
    if (this.clusters === undefined) throw new Error(`route ${this.name} is a ${this.kind} route, not a cluster route`);
    return this.clusters.select(random);
  }

  /** `path` without its query string; the caller appends the query again. */
  rewritePath(path: string): string {
    return this.pathRewrite === undefined ? path : this.pathRewrite.rewrite(path);
  }

  /**
   * The string to hash for ring-hash style balancing, or undefined (no policy, or nothing to
   * hash). Call it after applyRequestHeaderMutations, as Envoy hashes the mutated request.
   */
  hashKey(req: RouteRequest, ctx: HeaderContext): string | undefined {
    return this.hashPolicy?.key(req, ctx);
  }

  applyRequestHeaderMutations(headers: FlatHeaders, ctx: HeaderContext, choice: ClusterChoice): void {
    choice.requestHeaders?.apply(headers, ctx);
    for (const level of this.requestMutations) level.apply(headers, ctx);
  }

  /** `choice` is undefined for direct responses and redirects. */
  applyResponseHeaderMutations(headers: FlatHeaders, ctx: HeaderContext, choice?: ClusterChoice): void {
    choice?.responseHeaders?.apply(headers, ctx);
    for (const level of this.responseMutations) level.apply(headers, ctx);
  }

  /** Only for kind 'redirect'. */
  redirectLocation(req: RouteRequest): string {
    if (this.redirect === undefined) throw new Error(`route ${this.name} is a ${this.kind} route, not a redirect`);
    return this.redirect.location(req);
  }
}

/** What a route inherits from its virtual host and route configuration. */
export interface RouteScope {
  readonly virtualHostName: string;
  readonly virtualHostMutations: HeaderMutations;
  readonly configMutations: HeaderMutations;
  readonly mostSpecificHeaderMutationsWins: boolean;
  readonly maxDirectResponseBodyBytes: number;
  readonly virtualHostRetryPolicy: RetryPolicyConfig | undefined;
  /** The virtual host's retry_policy compiled (once, at the virtual host's path). */
  readonly virtualHostRetry: RetryPolicy | undefined;
  readonly virtualHostBufferLimitBytes: number | undefined;
}

export interface CompiledRoute {
  readonly matcher: RouteMatcher;
  readonly route: MatchedRoute;
}

// The whole oneofs, including members meshlet reports as unsupported.
const ACTIONS = ['route', 'redirect', 'direct_response', 'filter_action', 'non_forwarding_action'] as const;
const CLUSTER_SPECIFIERS = [
  'cluster',
  'cluster_header',
  'weighted_clusters',
  'cluster_specifier_plugin',
  'inline_cluster_specifier_plugin',
] as const;
const HOST_REWRITES = ['host_rewrite_literal', 'auto_host_rewrite', 'host_rewrite_header', 'host_rewrite_path_regex'] as const;

export function compileRoute(
  config: Route,
  index: number,
  scope: RouteScope,
  path: string,
  issues: ConfigIssue[],
): CompiledRoute | undefined {
  checkSupportedFields(config, 'Route', path, issues);
  let matcher: RouteMatcher | undefined;
  if (config.match === undefined) issues.push({ path: fieldPath(path, 'match'), message: 'is required' });
  else matcher = compileRouteMatch(config.match, fieldPath(path, 'match'), issues);

  const own = compileHeaderMutations(config, path, issues);
  // Envoy applies the most specific level first, so on overwrite the least specific one wins,
  // unless most_specific_header_mutations_wins reverses the order.
  const ordered = (level: 'request' | 'response'): HeaderMutation[] => {
    const levels = [own[level], scope.virtualHostMutations[level], scope.configMutations[level]];
    if (scope.mostSpecificHeaderMutationsWins) levels.reverse();
    return levels.filter((m): m is HeaderMutation => m !== undefined);
  };
  const common = {
    name: config.name || `${scope.virtualHostName}/${index}`,
    virtualHostName: scope.virtualHostName,
    requestMutations: ordered('request'),
    responseMutations: ordered('response'),
    perRequestBufferLimitBytes: config.per_request_buffer_limit_bytes ?? scope.virtualHostBufferLimitBytes,
  };

  const actions = presentFields(config, ACTIONS);
  if (actions.length !== 1) {
    issues.push({ path, message: `exactly one of ${ACTIONS.join(', ')} is required` });
    return undefined;
  }
  const matchedPrefixLength = matcher?.matchedPrefixLength;
  let route: MatchedRoute | undefined;
  switch (actions[0]!) {
    case 'route':
      route = compileRouteAction(config.route!, matchedPrefixLength, scope, common, fieldPath(path, 'route'), issues);
      break;
    case 'redirect': {
      const redirect = compileRedirect(config.redirect!, matchedPrefixLength, fieldPath(path, 'redirect'), issues);
      route = redirect && new MatchedRoute({ ...common, kind: 'redirect', redirect });
      break;
    }
    case 'direct_response': {
      const directResponse = compileDirectResponse(
        config.direct_response!,
        scope.maxDirectResponseBodyBytes,
        fieldPath(path, 'direct_response'),
        issues,
      );
      route = directResponse && new MatchedRoute({ ...common, kind: 'direct_response', directResponse });
      break;
    }
    // filter_action and non_forwarding_action: already reported as unsupported.
  }
  return matcher && route && { matcher, route };
}

function compileRouteAction(
  action: RouteAction,
  matchedPrefixLength: number | undefined,
  scope: RouteScope,
  common: Pick<MatchedRouteParts, 'name' | 'virtualHostName' | 'requestMutations' | 'responseMutations' | 'perRequestBufferLimitBytes'>,
  path: string,
  issues: ConfigIssue[],
): MatchedRoute | undefined {
  checkSupportedFields(action, 'RouteAction', path, issues);
  let clusters: ClusterSelector | undefined;
  const specifiers = presentFields(action, CLUSTER_SPECIFIERS);
  if (specifiers.length !== 1) {
    issues.push({ path, message: `exactly one of ${CLUSTER_SPECIFIERS.join(', ')} is required` });
  } else if (specifiers[0] === 'cluster' || specifiers[0] === 'weighted_clusters') {
    clusters = compileClusterSelector(action, path, issues);
  }
  if (presentFields(action, HOST_REWRITES).length > 1) {
    issues.push({ path, message: `at most one of ${HOST_REWRITES.join(', ')} may be set` });
  }
  const timeoutMs = action.timeout ?? DEFAULT_TIMEOUT_MS;
  if (timeoutMs < 0) issues.push({ path: fieldPath(path, 'timeout'), message: 'must not be negative' });
  if (action.max_stream_duration !== undefined) {
    checkSupportedFields(action.max_stream_duration, 'MaxStreamDuration', fieldPath(path, 'max_stream_duration'), issues);
  }
  const pathRewrite = compilePathRewrite(action, matchedPrefixLength, path, issues);
  const hashPolicy = compileHashPolicy(action.hash_policy ?? [], fieldPath(path, 'hash_policy'), issues);
  // A route's retry_policy replaces its virtual host's whole, as in Envoy.
  const retry =
    action.retry_policy !== undefined ? compileRetryPolicy(action.retry_policy, fieldPath(path, 'retry_policy'), issues) : scope.virtualHostRetry;
  if (clusters === undefined) return undefined;
  return new MatchedRoute({
    ...common,
    kind: 'cluster',
    clusters,
    pathRewrite,
    // Envoy treats an empty host_rewrite_literal as no rewrite.
    hostRewriteLiteral: action.host_rewrite_literal || undefined,
    autoHostRewrite: action.auto_host_rewrite === true,
    timeoutMs,
    maxStreamDurationMs: action.max_stream_duration?.max_stream_duration,
    grpcTimeoutHeaderMaxMs: action.max_stream_duration?.grpc_timeout_header_max,
    grpcTimeoutHeaderOffsetMs: action.max_stream_duration?.grpc_timeout_header_offset,
    retryPolicy: action.retry_policy ?? scope.virtualHostRetryPolicy,
    retry,
    hashPolicy,
    upgrades: action.upgrade_configs && compileUpgradeConfigs(action.upgrade_configs, fieldPath(path, 'upgrade_configs'), issues),
    idleTimeoutMs: action.idle_timeout,
  });
}
