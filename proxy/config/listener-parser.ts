import type { ConfigIssue } from '../../xds/config-error';
import { ConfigError } from '../../xds/config-error';
import type { AccessLogConfig, HttpConnectionManagerConfig, ListenerConfig } from '../listener/listener-config';
import { compileRouteConfiguration } from '../router/route-table';
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

/** Envoy `Listener` (normalized decoder output) with one HTTP connection manager → ListenerConfig. */
export function parseListener(listener: any, path: string, issues: ConfigIssue[], clusterNames: ReadonlySet<string>): ListenerConfig | undefined {
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
  const hcm = parseHttpConnectionManager(filters[0].typed_config, `${chainPath}.filters[0].typed_config`, issues, clusterNames, address?.port ?? 0);
  if (address === undefined || hcm === undefined) return undefined;
  return { name: listener.name || `${address.address}:${address.port}`, address: address.address, port: address.port, hcm, source: listener };
}

function parseHttpConnectionManager(
  hcm: any,
  path: string,
  issues: ConfigIssue[],
  clusterNames: ReadonlySet<string>,
  listenerPort: number,
): HttpConnectionManagerConfig | undefined {
  onlyFields(hcm, path, [
    'stat_prefix', 'codec_type', 'route_config', 'http_filters', 'access_log', 'use_remote_address', 'xff_num_trusted_hops',
    'generate_request_id', 'server_name', 'via', 'strip_any_host_port', 'strip_matching_host_port',
    'common_http_protocol_options', 'request_timeout', 'request_headers_timeout', 'max_request_headers_kb',
  ], issues);
  if (hcm.codec_type !== undefined && hcm.codec_type !== 'AUTO' && hcm.codec_type !== 'HTTP1') {
    issues.push({ path: `${path}.codec_type`, message: `${hcm.codec_type} is not supported (AUTO, HTTP1)` });
  }
  onlyFields(hcm.common_http_protocol_options, `${path}.common_http_protocol_options`, ['idle_timeout'], issues);
  parseHttpFilters(hcm.http_filters ?? [], `${path}.http_filters`, issues);
  const accessLogs = parseAccessLogs(hcm.access_log ?? [], `${path}.access_log`, issues);

  if (hcm.route_config === undefined) {
    issues.push({ path: `${path}.route_config`, message: 'an inline route_config is required (RDS comes with xDS)' });
    return undefined;
  }
  checkClusterReferences(hcm.route_config, `${path}.route_config`, clusterNames, issues);
  let routeTable;
  try {
    routeTable = compileRouteConfiguration(hcm.route_config, {
      basePath: `${path}.route_config`,
      stripAnyHostPort: hcm.strip_any_host_port === true,
      stripMatchingHostPort: hcm.strip_matching_host_port === true ? listenerPort : undefined,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
    return undefined;
  }
  return {
    statPrefix: hcm.stat_prefix ?? '',
    routeTable,
    useRemoteAddress: hcm.use_remote_address === true,
    xffNumTrustedHops: hcm.xff_num_trusted_hops ?? 0,
    generateRequestId: hcm.generate_request_id ?? true,
    serverName: hcm.server_name ?? 'meshlet',
    via: hcm.via ?? '',
    accessLogs,
    idleTimeoutMs: hcm.common_http_protocol_options?.idle_timeout ?? 3_600_000,
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

/** Envoy rejects a static route table naming an unknown cluster (validate_clusters); so do we, with the path. */
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
