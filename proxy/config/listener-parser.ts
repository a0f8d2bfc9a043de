import type { ConfigIssue } from '../../xds/config-error';
import { ConfigError } from '../../xds/config-error';
import type { AccessLogConfig, HttpConnectionManagerConfig, ListenerConfig } from '../listener/listener-config';
import { compileRouteConfiguration, type RouteTable, type RouteTableOptions } from '../router/route-table';
import { checkAdsConfigSource } from './config-source';
import { onlyFields } from './field-support';
import { parseSocketAddress } from './socket-address';

const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const ACCESS_LOG_TYPES: Record<string, AccessLogConfig['sink']> = {
  'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog': 'stdout',
  'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog': 'stderr',
  'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog': 'file',
};

/** How a listener's connection manager compiles a route configuration (its host-port stripping). */
export type RouteCompileOptions = Omit<RouteTableOptions, 'basePath'>;

/**
 * A listener as parsed once from config: complete with its inline route table, or waiting for
 * the RouteConfiguration that RDS delivers (Envoy's warming listener). Immutable.
 */
export interface ParsedListener {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly hcm: Omit<HttpConnectionManagerConfig, 'routeTable'>;
  readonly routes: { readonly kind: 'inline'; readonly table: RouteTable } | { readonly kind: 'rds'; readonly name: string };
  readonly routeOptions: RouteCompileOptions;
  /** The decoded Envoy Listener, for /config_dump. */
  readonly source: unknown;
}

export interface ListenerParseContext {
  /** Clusters a route may name; undefined when they come from CDS later and cannot be checked yet. */
  readonly clusterNames: ReadonlySet<string> | undefined;
  /** Whether the bootstrap has an ADS stream, which RDS needs. */
  readonly ads: boolean;
}

/** The complete listener once its routes are known. */
export function listenerConfig(listener: ParsedListener, routeTable: RouteTable): ListenerConfig {
  return { name: listener.name, address: listener.address, port: listener.port, hcm: { ...listener.hcm, routeTable }, source: listener.source };
}

/** Envoy `Listener` (normalized decoder output) with one HTTP connection manager → ParsedListener. */
export function parseListener(listener: any, path: string, issues: ConfigIssue[], context: ListenerParseContext): ParsedListener | undefined {
  onlyFields(listener, path, ['name', 'address', 'filter_chains'], issues);
  const address = parseSocketAddress(listener.address, `${path}.address`, issues);
  const chains: any[] = listener.filter_chains ?? [];
  if (chains.length !== 1) {
    issues.push({ path: `${path}.filter_chains`, message: `exactly one filter chain is supported, found ${chains.length}` });
    return undefined;
  }
  const chainPath = `${path}.filter_chains[0]`;
  onlyFields(chains[0], chainPath, ['filters'], issues);
  const filters: any[] = chains[0].filters ?? [];
  if (filters.length !== 1 || filters[0].typed_config?.['@type'] !== HCM_TYPE) {
    issues.push({ path: `${chainPath}.filters`, message: `exactly one filter, ${HCM_FILTER} with typed_config ${HCM_TYPE}, is supported` });
    return undefined;
  }
  const hcmPath = `${chainPath}.filters[0].typed_config`;
  const raw = filters[0].typed_config;
  const routeOptions: RouteCompileOptions = {
    stripAnyHostPort: raw.strip_any_host_port === true,
    stripMatchingHostPort: raw.strip_matching_host_port === true ? (address?.port ?? 0) : undefined,
  };
  const hcm = parseHttpConnectionManager(raw, hcmPath, issues);
  const routes = parseRouteSpecifier(raw, hcmPath, issues, context, routeOptions);
  if (address === undefined || hcm === undefined || routes === undefined) return undefined;
  return {
    name: listener.name || `${address.address}:${address.port}`,
    address: address.address,
    port: address.port,
    hcm,
    routes,
    routeOptions,
    source: listener,
  };
}

/** The HCM's `route_config` (inline) or `rds` (by name, over ADS). */
function parseRouteSpecifier(
  hcm: any,
  path: string,
  issues: ConfigIssue[],
  context: ListenerParseContext,
  options: RouteCompileOptions,
): ParsedListener['routes'] | undefined {
  if (hcm.rds !== undefined) {
    onlyFields(hcm.rds, `${path}.rds`, ['config_source', 'route_config_name'], issues);
    checkAdsConfigSource(hcm.rds.config_source, `${path}.rds.config_source`, issues, context.ads);
    return { kind: 'rds', name: hcm.rds.route_config_name };
  }
  if (hcm.route_config === undefined) {
    issues.push({ path: `${path}.route_config`, message: 'required: an inline route_config, or rds over ADS' });
    return undefined;
  }
  // Envoy checks the clusters of a route table given inline unless told not to (validate_clusters).
  const table = compileRoutes(hcm.route_config, `${path}.route_config`, issues, options, context.clusterNames, true);
  return table && { kind: 'inline', table };
}

/**
 * Compiles a RouteConfiguration for a listener. With `validate_clusters` (whose default differs:
 * true inline, false over RDS, as in Envoy) every cluster a route names must exist.
 */
export function compileRoutes(
  routeConfig: any,
  path: string,
  issues: ConfigIssue[],
  options: RouteCompileOptions,
  clusterNames: ReadonlySet<string> | undefined,
  validateClustersByDefault: boolean,
): RouteTable | undefined {
  const { validate_clusters: validate = validateClustersByDefault, ...routes } = routeConfig;
  if (validate && clusterNames !== undefined) checkClusterReferences(routes, path, clusterNames, issues);
  try {
    return compileRouteConfiguration(routes, { ...options, basePath: path });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
    return undefined;
  }
}

function parseHttpConnectionManager(hcm: any, path: string, issues: ConfigIssue[]): ParsedListener['hcm'] | undefined {
  onlyFields(hcm, path, [
    'stat_prefix', 'codec_type', 'route_config', 'rds', 'http_filters', 'access_log', 'use_remote_address', 'xff_num_trusted_hops',
    'generate_request_id', 'server_name', 'via', 'strip_any_host_port', 'strip_matching_host_port',
    'common_http_protocol_options', 'request_timeout', 'request_headers_timeout', 'max_request_headers_kb',
  ], issues);
  if (hcm.codec_type !== undefined && hcm.codec_type !== 'AUTO' && hcm.codec_type !== 'HTTP1') {
    issues.push({ path: `${path}.codec_type`, message: `${hcm.codec_type} is not supported (AUTO, HTTP1)` });
  }
  onlyFields(hcm.common_http_protocol_options, `${path}.common_http_protocol_options`, ['idle_timeout', 'max_stream_duration'], issues);
  parseHttpFilters(hcm.http_filters ?? [], `${path}.http_filters`, issues);
  const accessLogs = parseAccessLogs(hcm.access_log ?? [], `${path}.access_log`, issues);
  return {
    statPrefix: hcm.stat_prefix ?? '',
    useRemoteAddress: hcm.use_remote_address === true,
    xffNumTrustedHops: hcm.xff_num_trusted_hops ?? 0,
    generateRequestId: hcm.generate_request_id ?? true,
    serverName: hcm.server_name ?? 'meshlet',
    via: hcm.via ?? '',
    accessLogs,
    idleTimeoutMs: hcm.common_http_protocol_options?.idle_timeout ?? 3_600_000,
    maxStreamDurationMs: hcm.common_http_protocol_options?.max_stream_duration ?? 0,
    requestHeadersTimeoutMs: hcm.request_headers_timeout ?? 0,
    requestTimeoutMs: hcm.request_timeout ?? 0,
    maxRequestHeadersKb: hcm.max_request_headers_kb ?? 60,
  };
}

function parseHttpFilters(filters: any[], path: string, issues: ConfigIssue[]): void {
  filters.forEach((filter, i) => {
    const at = `${path}[${i}]`;
    onlyFields(filter, at, ['name', 'typed_config'], issues);
    const type = filter.typed_config?.['@type'];
    if (type !== ROUTER_TYPE) issues.push({ path: at, message: `HTTP filter "${filter.name}" (${type ?? 'no typed_config'}) is not supported; meshlet has envoy.filters.http.router` });
    else onlyFields(filter.typed_config, `${at}.typed_config`, [], issues);
  });
  if (filters.length === 0 || filters[filters.length - 1].typed_config?.['@type'] !== ROUTER_TYPE) {
    issues.push({ path, message: 'the last HTTP filter must be envoy.filters.http.router' });
  }
}

function parseAccessLogs(logs: any[], path: string, issues: ConfigIssue[]): AccessLogConfig[] {
  const out: AccessLogConfig[] = [];
  logs.forEach((log, i) => {
    const at = `${path}[${i}]`;
    onlyFields(log, at, ['name', 'typed_config'], issues);
    const sink = ACCESS_LOG_TYPES[log.typed_config?.['@type']];
    if (sink === undefined) {
      issues.push({ path: `${at}.typed_config`, message: `access logger ${log.typed_config?.['@type'] ?? '(none)'} is not supported (stdout, stderr, file)` });
      return;
    }
    onlyFields(log.typed_config, `${at}.typed_config`, sink === 'file' ? ['path'] : [], issues);
    out.push({ sink, path: log.typed_config.path });
  });
  return out;
}

/** A route table naming an unknown cluster is rejected (Envoy's validate_clusters), with the path. */
function checkClusterReferences(routeConfig: any, path: string, clusterNames: ReadonlySet<string>, issues: ConfigIssue[]): void {
  (routeConfig.virtual_hosts ?? []).forEach((vhost: any, v: number) => {
    (vhost.routes ?? []).forEach((route: any, r: number) => {
      const at = `${path}.virtual_hosts[${v}].routes[${r}].route`;
      const action = route.route;
      if (action?.cluster !== undefined && !clusterNames.has(action.cluster)) {
        issues.push({ path: `${at}.cluster`, message: `unknown cluster "${action.cluster}"` });
      }
      (action?.weighted_clusters?.clusters ?? []).forEach((wc: any, w: number) => {
        if (!clusterNames.has(wc.name)) issues.push({ path: `${at}.weighted_clusters.clusters[${w}].name`, message: `unknown cluster "${wc.name}"` });
      });
    });
  });
}
