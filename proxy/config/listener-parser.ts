import type { ConfigIssue } from '../../xds/config-error';
import { ConfigError } from '../../xds/config-error';
import type { AccessLogConfig, HttpConnectionManagerConfig, ListenerConfig } from '../listener/listener-config';
import { compileRouteConfiguration, type RouteTable, type RouteTableOptions } from '../router/route-table';
import { compileRbacFilter, type RbacFilter } from '../http-filter/rbac-policy';
import { pathNormalizationConfig } from '../router/path-normalization';
import { compileUpgradeConfigs } from '../router/upgrade-configs';
import type { DownstreamTlsConfig } from '../tls/tls-config';
import type { FilterChainMatch } from '../listener/filter-chain-match';
import { checkAdsConfigSource } from './config-source';
import { parseDownstreamTransportSocket, type SecretContext } from './tls-context-parser';
import { onlyFields } from './field-support';
import { parseSocketAddress } from './socket-address';

const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TLS_INSPECTOR_TYPE = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
const RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const BUFFER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const ACCESS_LOG_TYPES: Record<string, AccessLogConfig['sink']> = {
  'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog': 'stdout',
  'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog': 'stderr',
  'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog': 'file',
};

/** How a listener's connection manager compiles a route configuration (its host-port stripping). */
export type RouteCompileOptions = Omit<RouteTableOptions, 'basePath'>;

/** A filter chain as parsed once: its match, its TLS, and its connection manager, complete or waiting for RDS. */
export interface ParsedFilterChain {
  readonly name: string;
  readonly match: FilterChainMatch;
  readonly tls: DownstreamTlsConfig | undefined;
  readonly hcm: Omit<HttpConnectionManagerConfig, 'routeTable'>;
  readonly routes: { readonly kind: 'inline'; readonly table: RouteTable } | { readonly kind: 'rds'; readonly name: string };
  readonly routeOptions: RouteCompileOptions;
}

/**
 * A listener as parsed once from config: its filter chains, each complete with its inline route
 * table or waiting for the RouteConfiguration that RDS delivers (Envoy's warming listener). Immutable.
 */
export interface ParsedListener {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** `listener_filters` has envoy.filters.listener.tls_inspector: chains can match on transport_protocol and server_names. */
  readonly tlsInspector: boolean;
  readonly chains: readonly ParsedFilterChain[];
  /** The decoded Envoy Listener, for /config_dump. */
  readonly source: unknown;
}

/** The clusters a route may name: a set of names, or any map keyed by them. */
export type ClusterNames = Pick<ReadonlySet<string>, 'has'>;

export interface ListenerParseContext extends SecretContext {
  /** Clusters a route may name; undefined when they come from CDS later and cannot be checked yet. */
  readonly clusterNames: ClusterNames | undefined;
}

/** The complete listener once every chain's routes are known (`tables` in chain order). */
export function listenerConfig(listener: ParsedListener, tables: readonly RouteTable[]): ListenerConfig {
  return {
    name: listener.name,
    address: listener.address,
    port: listener.port,
    tlsInspector: listener.tlsInspector,
    chains: listener.chains.map((chain, i) => ({ name: chain.name, match: chain.match, tls: chain.tls, hcm: { ...chain.hcm, routeTable: tables[i]! } })),
    source: listener.source,
  };
}

/** Envoy `Listener` (normalized decoder output) with HTTP connection managers → ParsedListener. */
export function parseListener(listener: any, path: string, issues: ConfigIssue[], context: ListenerParseContext): ParsedListener | undefined {
  onlyFields(listener, path, ['name', 'address', 'filter_chains', 'listener_filters'], issues);
  const address = parseSocketAddress(listener.address, `${path}.address`, issues);
  const tlsInspector = parseListenerFilters(listener.listener_filters ?? [], `${path}.listener_filters`, issues);
  const raw: any[] = listener.filter_chains ?? [];
  if (raw.length === 0) {
    issues.push({ path: `${path}.filter_chains`, message: 'at least one filter chain is required' });
    return undefined;
  }
  const chains = raw.map((chain, i) => parseFilterChain(chain, `${path}.filter_chains[${i}]`, i, issues, context, address?.port ?? 0));
  const matches = chains.map((c) => c?.match);
  matches.forEach((match, i) => {
    if (match === undefined) return;
    if (!tlsInspector && (match.transportProtocol === 'tls' || match.serverNames.length > 0)) {
      issues.push({ path: `${path}.filter_chains[${i}].filter_chain_match`, message: 'matching on transport_protocol "tls" or server_names needs the envoy.filters.listener.tls_inspector listener filter' });
    }
    const other = matches.findIndex((m) => m !== undefined && overlap(m, match));
    if (other < i) issues.push({ path: `${path}.filter_chains[${i}].filter_chain_match`, message: `overlaps filter_chains[${other}]'s: a connection could match both, which Envoy rejects` });
  });
  if (address === undefined || chains.some((c) => c === undefined)) return undefined;
  return { name: listener.name || `${address.address}:${address.port}`, address: address.address, port: address.port, tlsInspector, chains: chains as ParsedFilterChain[], source: listener };
}

/** `listener_filters`: meshlet has the TLS inspector (what lets one port serve mTLS and plaintext). */
function parseListenerFilters(filters: any[], path: string, issues: ConfigIssue[]): boolean {
  let tlsInspector = false;
  filters.forEach((filter, i) => {
    const at = `${path}[${i}]`;
    onlyFields(filter, at, ['name', 'typed_config'], issues);
    if (filter.typed_config?.['@type'] !== TLS_INSPECTOR_TYPE) {
      issues.push({ path: at, message: `listener filter "${filter.name}" is not supported; meshlet has envoy.filters.listener.tls_inspector` });
      return;
    }
    onlyFields(filter.typed_config, `${at}.typed_config`, [], issues);
    tlsInspector = true;
  });
  return tlsInspector;
}

function parseFilterChain(chain: any, path: string, index: number, issues: ConfigIssue[], context: ListenerParseContext, port: number): ParsedFilterChain | undefined {
  onlyFields(chain, path, ['name', 'filters', 'filter_chain_match', 'transport_socket'], issues);
  const match = parseFilterChainMatch(chain.filter_chain_match ?? {}, `${path}.filter_chain_match`, issues);
  const tls = parseDownstreamTransportSocket(chain.transport_socket, `${path}.transport_socket`, issues, context);
  const filters: any[] = chain.filters ?? [];
  if (filters.length !== 1 || filters[0].typed_config?.['@type'] !== HCM_TYPE) {
    issues.push({ path: `${path}.filters`, message: `exactly one filter, ${HCM_FILTER} with typed_config ${HCM_TYPE}, is supported` });
    return undefined;
  }
  const hcmPath = `${path}.filters[0].typed_config`;
  const raw = filters[0].typed_config;
  const routeOptions: RouteCompileOptions = {
    stripAnyHostPort: raw.strip_any_host_port === true,
    stripMatchingHostPort: raw.strip_matching_host_port === true ? port : undefined,
  };
  const hcm = parseHttpConnectionManager(raw, hcmPath, issues);
  const routes = parseRouteSpecifier(raw, hcmPath, issues, context, routeOptions);
  if (hcm === undefined || routes === undefined || match === undefined) return undefined;
  return { name: chain.name || String(index), match, tls, hcm, routes, routeOptions };
}

function parseFilterChainMatch(match: any, path: string, issues: ConfigIssue[]): FilterChainMatch | undefined {
  onlyFields(match, path, ['transport_protocol', 'server_names'], issues);
  const transportProtocol: string = match.transport_protocol ?? '';
  if (transportProtocol !== '' && transportProtocol !== 'tls' && transportProtocol !== 'raw_buffer') {
    issues.push({ path: `${path}.transport_protocol`, message: `"${transportProtocol}" is not supported (tls, raw_buffer)` });
    return undefined;
  }
  return { transportProtocol: transportProtocol === '' ? undefined : transportProtocol, serverNames: (match.server_names ?? []).map((n: string) => n.toLowerCase()) };
}

/** Whether some connection matches both equally well: the same transport protocol, and a server name in common (or neither naming any). */
function overlap(a: FilterChainMatch, b: FilterChainMatch): boolean {
  if (a.transportProtocol !== b.transportProtocol) return false;
  if (a.serverNames.length === 0 || b.serverNames.length === 0) return a.serverNames.length === b.serverNames.length;
  return a.serverNames.some((n) => b.serverNames.includes(n));
}

/** The HCM's `route_config` (inline) or `rds` (by name, over ADS). */
function parseRouteSpecifier(
  hcm: any,
  path: string,
  issues: ConfigIssue[],
  context: ListenerParseContext,
  options: RouteCompileOptions,
): ParsedFilterChain['routes'] | undefined {
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
  clusterNames: ClusterNames | undefined,
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

function parseHttpConnectionManager(hcm: any, path: string, issues: ConfigIssue[]): ParsedFilterChain['hcm'] | undefined {
  onlyFields(hcm, path, [
    'stat_prefix', 'codec_type', 'route_config', 'rds', 'http_filters', 'access_log', 'use_remote_address', 'xff_num_trusted_hops',
    'generate_request_id', 'server_name', 'via', 'strip_any_host_port', 'strip_matching_host_port',
    'common_http_protocol_options', 'request_timeout', 'request_headers_timeout', 'max_request_headers_kb',
    'forward_client_cert_details', 'set_current_client_cert_details', 'normalize_path', 'merge_slashes', 'path_with_escaped_slashes_action', 'upgrade_configs', 'stream_idle_timeout',
  ], issues);
  const codecType = hcm.codec_type ?? 'AUTO';
  if (codecType !== 'AUTO' && codecType !== 'HTTP1' && codecType !== 'HTTP2') {
    issues.push({ path: `${path}.codec_type`, message: `${codecType} is not supported (AUTO, HTTP1, HTTP2)` });
  }
  const common = hcm.common_http_protocol_options;
  onlyFields(common, `${path}.common_http_protocol_options`, ['idle_timeout', 'max_stream_duration', 'max_headers_count', 'headers_with_underscores_action'], issues);
  const { rbac, maxRequestBytes } = parseHttpFilters(hcm.http_filters ?? [], `${path}.http_filters`, issues);
  const fields = hcm.set_current_client_cert_details ?? {};
  onlyFields(fields, `${path}.set_current_client_cert_details`, ['subject', 'cert', 'chain', 'dns', 'uri'], issues);
  const accessLogs = parseAccessLogs(hcm.access_log ?? [], `${path}.access_log`, issues);
  return {
    statPrefix: hcm.stat_prefix ?? '',
    codecType,
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
    pathNormalization: pathNormalizationConfig(hcm),
    requestLimits: { maxHeadersCount: common?.max_headers_count ?? 100, underscoresAction: common?.headers_with_underscores_action ?? 'ALLOW' },
    upgrades: compileUpgradeConfigs(hcm.upgrade_configs ?? [], `${path}.upgrade_configs`, issues),
    streamIdleTimeoutMs: hcm.stream_idle_timeout ?? 300_000,
    rbac,
    maxRequestBytes,
    forwardClientCert: hcm.forward_client_cert_details ?? 'SANITIZE',
    clientCertFields: { subject: fields.subject === true, cert: fields.cert === true, chain: fields.chain === true, dns: fields.dns === true, uri: fields.uri === true },
  };
}

/** What `http_filters` configure before the router: Envoy's RBAC and buffer filters, at most once each. */
interface HttpFilters {
  readonly rbac: RbacFilter | undefined;
  /** The buffer filter's `max_request_bytes`: larger request bodies are refused with 413. */
  readonly maxRequestBytes: number | undefined;
}

/** `http_filters`: optionally RBAC and buffer, then the router, which must be last. */
function parseHttpFilters(filters: any[], path: string, issues: ConfigIssue[]): HttpFilters {
  let rbac: RbacFilter | undefined;
  let maxRequestBytes: number | undefined;
  const seen = new Set<string>();
  filters.forEach((filter, i) => {
    const at = `${path}[${i}]`;
    onlyFields(filter, at, ['name', 'typed_config'], issues);
    const type = filter.typed_config?.['@type'];
    const again = seen.has(type);
    seen.add(type);
    if (type === ROUTER_TYPE) onlyFields(filter.typed_config, `${at}.typed_config`, [], issues);
    else if (type === RBAC_TYPE && !again) rbac = compileRbacFilter(filter.typed_config, `${at}.typed_config`, issues);
    else if (type === BUFFER_TYPE && !again) {
      onlyFields(filter.typed_config, `${at}.typed_config`, ['max_request_bytes'], issues);
      maxRequestBytes = filter.typed_config.max_request_bytes;
    } else {
      issues.push({ path: at, message: `HTTP filter "${filter.name}" (${type ?? 'no typed_config'}) is not supported; meshlet has envoy.filters.http.rbac, envoy.filters.http.buffer (once each) and envoy.filters.http.router` });
    }
  });
  if (filters.length === 0 || filters[filters.length - 1].typed_config?.['@type'] !== ROUTER_TYPE) {
    issues.push({ path, message: 'the last HTTP filter must be envoy.filters.http.router' });
  }
  return { rbac, maxRequestBytes };
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
export function checkClusterReferences(routeConfig: any, path: string, clusterNames: ClusterNames, issues: ConfigIssue[]): void {
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
