import { ConfigError, type ConfigIssue } from '../../xds/config-error';
import { DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES } from './direct-response';
import { removeHeader, type FlatHeaders } from './flat-headers';
import { compileHeaderMutations } from './header-mutation';
import { compileRoute, type CompiledRoute, type MatchedRoute, type RouteScope } from './matched-route';
import type { RouteConfiguration, VirtualHost } from './route-configuration';
import type { RouteMatcher } from './route-matcher';
import type { RouteRequest } from './route-request';
import { compileRetryPolicy } from './retry-policy';
import { checkSupportedFields, fieldPath } from './supported-fields';
import { buildVirtualHostSelector, type PortStripping, type VirtualHostSelector } from './virtual-host-selector';

export type { ClusterChoice } from './cluster-selector';
export type { MatchedRoute, RouteKind } from './matched-route';
export type { HeaderContext, RouteRequest } from './route-request';

export class VirtualHostEntry {
  constructor(
    readonly name: string,
    private readonly matchers: readonly RouteMatcher[],
    /** In config order, parallel to the matchers. */
    readonly routes: readonly MatchedRoute[],
  ) {}

  /** The first route whose match accepts the request, as in Envoy. */
  route(req: RouteRequest): MatchedRoute | undefined {
    const matchers = this.matchers;
    for (let i = 0; i < matchers.length; i++) {
      if (matchers[i]!.matches(req)) return this.routes[i];
    }
    return undefined;
  }
}

/** An Envoy RouteConfiguration compiled once; immutable, shared by every request. */
export class RouteTable {
  constructor(
    readonly name: string,
    private readonly virtualHosts: VirtualHostSelector<VirtualHostEntry>,
    private readonly internalOnlyHeaders: readonly string[],
  ) {}

  selectVirtualHost(authority: string): VirtualHostEntry | undefined {
    return this.virtualHosts.select(authority);
  }

  route(req: RouteRequest): MatchedRoute | undefined {
    return this.virtualHosts.select(req.authority)?.route(req);
  }

  /**
   * Envoy's connection manager drops internal_only_headers from requests that did not come
   * from an internal address, before routing; deciding "internal" is the caller's.
   */
  get hasInternalOnlyHeaders(): boolean {
    return this.internalOnlyHeaders.length > 0;
  }

  removeInternalOnlyHeaders(headers: FlatHeaders): void {
    for (const name of this.internalOnlyHeaders) removeHeader(headers, name);
  }
}

export interface RouteTableOptions {
  /** Config path of the RouteConfiguration, prefixed to every issue path. */
  readonly basePath: string;
  /** HCM strip_any_host_port. */
  readonly stripAnyHostPort?: boolean;
  /** The listener port, when the HCM sets strip_matching_host_port. */
  readonly stripMatchingHostPort?: number;
}

/** Compiles a RouteConfiguration, or throws a ConfigError listing every issue found. */
export function compileRouteConfiguration(config: RouteConfiguration, options: RouteTableOptions): RouteTable {
  const issues: ConfigIssue[] = [];
  const base = options.basePath;
  checkSupportedFields(config, 'RouteConfiguration', base, issues);
  const configMutations = compileHeaderMutations(config, base, issues);
  const shared = {
    configMutations,
    mostSpecificHeaderMutationsWins: config.most_specific_header_mutations_wins === true,
    maxDirectResponseBodyBytes: config.max_direct_response_body_size_bytes ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES,
  };
  const names = new Map<string, string>();
  const vhosts = (config.virtual_hosts ?? []).map((vhost, i) => {
    const path = fieldPath(base, `virtual_hosts[${i}]`);
    const entry = compileVirtualHost(vhost, shared, path, issues);
    if (vhost.name) {
      // Names label metrics and default route names, so Envoy requires them unique.
      const first = names.get(vhost.name);
      if (first === undefined) names.set(vhost.name, fieldPath(path, 'name'));
      else issues.push({ path: fieldPath(path, 'name'), message: `duplicate virtual host name ${JSON.stringify(vhost.name)} (also at ${first})` });
    }
    return { value: entry, domains: vhost.domains ?? [], path };
  });
  const portStripping: PortStripping =
    options.stripAnyHostPort === true || config.ignore_port_in_host_matching === true ? 'any' : options.stripMatchingHostPort;
  const selector = buildVirtualHostSelector(vhosts, portStripping, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  const internalOnlyHeaders = (config.internal_only_headers ?? []).map((h) => h.toLowerCase());
  return new RouteTable(config.name ?? '', selector, internalOnlyHeaders);
}

function compileVirtualHost(
  vhost: VirtualHost,
  shared: Pick<RouteScope, 'configMutations' | 'mostSpecificHeaderMutationsWins' | 'maxDirectResponseBodyBytes'>,
  path: string,
  issues: ConfigIssue[],
): VirtualHostEntry {
  checkSupportedFields(vhost, 'VirtualHost', path, issues);
  const name = vhost.name ?? '';
  if (name === '') issues.push({ path: fieldPath(path, 'name'), message: 'is required' });
  if ((vhost.domains ?? []).length === 0) issues.push({ path: fieldPath(path, 'domains'), message: 'must list at least one domain' });
  const scope = {
    ...shared,
    virtualHostName: name,
    virtualHostMutations: compileHeaderMutations(vhost, path, issues),
    virtualHostRetryPolicy: vhost.retry_policy,
    virtualHostRetry: vhost.retry_policy === undefined ? undefined : compileRetryPolicy(vhost.retry_policy, fieldPath(path, 'retry_policy'), issues),
    virtualHostBufferLimitBytes: vhost.per_request_buffer_limit_bytes,
  };
  const routes = (vhost.routes ?? [])
    .map((route, i) => compileRoute(route, i, scope, fieldPath(path, `routes[${i}]`), issues))
    .filter((r): r is CompiledRoute => r !== undefined);
  return new VirtualHostEntry(
    name,
    routes.map((r) => r.matcher),
    routes.map((r) => r.route),
  );
}
