import type { ConfigIssue } from '../../xds/config-error';
import type { ClusterConfig } from '../cluster/cluster-config';
import { onlyFields } from './field-support';

/** The bootstrap's ADS stream: one control plane, reached through a static cluster. */
export interface AdsConfig {
  /** `api_type` GRPC (state of the world) or DELTA_GRPC (incremental). */
  readonly protocol: 'sotw' | 'delta';
  /** The static cluster named by `grpc_services[0].envoy_grpc.cluster_name`. */
  readonly clusterName: string;
  /** Its endpoints, in config order: the control plane's addresses. */
  readonly endpoints: readonly { readonly address: string; readonly port: number }[];
  /** `set_node_on_first_message_only`: by default (as Envoy) every request carries the node. */
  readonly nodeOnFirstMessageOnly: boolean;
  /** Whether listeners (LDS) and clusters (CDS) come over the stream (`lds_config` / `cds_config`). */
  readonly lds: boolean;
  readonly cds: boolean;
}

/** ConfigSource alternatives Envoy has and meshlet does not: everything dynamic comes over the one ADS stream. */
const OTHER_SOURCES = ['path', 'path_config_source', 'api_config_source', 'self'];

/**
 * Checks a ConfigSource (`lds_config`, `cds_config`, an HCM's `rds.config_source`, a cluster's
 * `eds_cluster_config.eds_config`): meshlet accepts `{ads: {}}` with resource API version V3.
 */
export function checkAdsConfigSource(source: any, path: string, issues: ConfigIssue[], adsConfigured: boolean): void {
  if (source === undefined) {
    issues.push({ path, message: 'required: {ads: {}, resource_api_version: V3}' });
    return;
  }
  for (const other of OTHER_SOURCES) {
    if (source[other] !== undefined) {
      issues.push({ path: `${path}.${other}`, message: 'not supported by meshlet: dynamic config comes over ADS only ({ads: {}})' });
    }
  }
  onlyFields(source, path, ['ads', 'resource_api_version', ...OTHER_SOURCES], issues);
  if (source.ads === undefined) {
    if (OTHER_SOURCES.every((o) => source[o] === undefined)) issues.push({ path: `${path}.ads`, message: 'required: meshlet takes dynamic config over ADS ({ads: {}})' });
  } else if (!adsConfigured) {
    issues.push({ path: `${path}.ads`, message: 'needs dynamic_resources.ads_config in the bootstrap' });
  }
  checkApiVersion(source.resource_api_version, `${path}.resource_api_version`, issues);
}

/** `transport_api_version` / `resource_api_version`: unset (AUTO, which Envoy reads as V3 now) or V3. */
function checkApiVersion(version: string | undefined, path: string, issues: ConfigIssue[]): void {
  if (version !== undefined && version !== 'AUTO' && version !== 'V3') issues.push({ path, message: `${version} is not supported (V3)` });
}

/** The ADS cluster's name as written, so its cluster can be parsed with the options a gRPC cluster needs. */
export function adsClusterName(dynamicResources: any): string | undefined {
  return dynamicResources?.ads_config?.grpc_services?.[0]?.envoy_grpc?.cluster_name;
}

/** Bootstrap `dynamic_resources` → AdsConfig (undefined when absent). `clusters` are the static clusters. */
export function parseDynamicResources(
  dynamic: any,
  path: string,
  issues: ConfigIssue[],
  clusters: ReadonlyMap<string, ClusterConfig>,
): AdsConfig | undefined {
  if (dynamic === undefined) return undefined;
  onlyFields(dynamic, path, ['ads_config', 'lds_config', 'cds_config'], issues);
  const ads = dynamic.ads_config;
  const at = `${path}.ads_config`;
  if (ads === undefined) {
    issues.push({ path: at, message: 'required: meshlet takes dynamic config over one ADS stream' });
    return undefined;
  }
  onlyFields(ads, at, ['api_type', 'transport_api_version', 'grpc_services', 'set_node_on_first_message_only'], issues);
  const apiType: string = ads.api_type ?? 'UNSUPPORTED_REST_LEGACY';
  if (apiType !== 'GRPC' && apiType !== 'DELTA_GRPC') issues.push({ path: `${at}.api_type`, message: `${apiType} is not supported (GRPC, DELTA_GRPC)` });
  checkApiVersion(ads.transport_api_version, `${at}.transport_api_version`, issues);

  const services: any[] = ads.grpc_services ?? [];
  if (services.length !== 1) {
    issues.push({ path: `${at}.grpc_services`, message: `exactly one gRPC service is supported, found ${services.length}` });
    return undefined;
  }
  const servicePath = `${at}.grpc_services[0]`;
  onlyFields(services[0], servicePath, ['envoy_grpc'], issues);
  const envoyGrpc = services[0].envoy_grpc;
  if (envoyGrpc === undefined) {
    issues.push({ path: `${servicePath}.envoy_grpc`, message: 'required: meshlet reaches the control plane through a static cluster (envoy_grpc.cluster_name)' });
    return undefined;
  }
  onlyFields(envoyGrpc, `${servicePath}.envoy_grpc`, ['cluster_name'], issues);
  const clusterName: string = envoyGrpc.cluster_name;
  const cluster = clusters.get(clusterName);
  if (cluster === undefined || cluster.type === 'EDS') {
    issues.push({
      path: `${servicePath}.envoy_grpc.cluster_name`,
      message: `"${clusterName}" must name a static_resources cluster with its endpoints in load_assignment`,
    });
    return undefined;
  }
  if (cluster.endpoints.length === 0) {
    issues.push({ path: `${servicePath}.envoy_grpc.cluster_name`, message: `cluster "${clusterName}" has no endpoints` });
  }

  const lds = dynamic.lds_config !== undefined;
  const cds = dynamic.cds_config !== undefined;
  if (lds) checkAdsConfigSource(dynamic.lds_config, `${path}.lds_config`, issues, true);
  if (cds) checkAdsConfigSource(dynamic.cds_config, `${path}.cds_config`, issues, true);
  return {
    protocol: apiType === 'DELTA_GRPC' ? 'delta' : 'sotw',
    clusterName,
    endpoints: cluster.endpoints.map((e) => ({ address: e.address, port: e.port })),
    nodeOnFirstMessageOnly: ads.set_node_on_first_message_only === true,
    lds,
    cds,
  };
}
