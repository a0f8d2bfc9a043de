import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type ConfigIssue } from '../../xds/config-error';
import { decodeJson } from '../../xds/proto-json';
import type { ClusterConfig } from '../cluster/cluster-config';
import { parseAdsTls, type AdsTlsConfig } from './ads-tls';
import { parseCluster } from './cluster-parser';
import { adsClusterName, parseDynamicResources, type AdsConfig } from './config-source';
import { parseListener, type ParsedListener } from './listener-parser';
import { onlyFields } from './field-support';
import { parseSocketAddress } from './socket-address';
import { parseSecret, type Secret } from '../tls/secret';
import { parseOverloadManager, type OverloadConfig } from '../overload/overload-config';

/** `node`: who this proxy is, as the control plane sees it. */
export interface NodeConfig {
  readonly id: string;
  readonly cluster: string;
  readonly locality: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string } | undefined;
  /** `metadata` (a Struct) as JSON. */
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
}

/** The bootstrap as meshlet runs it: parsed once, immutable. */
export interface BootstrapConfig {
  readonly admin: { readonly address: string; readonly port: number } | undefined;
  readonly node: NodeConfig;
  /** Static listeners; those with `rds` wait for their routes from ADS. */
  readonly listeners: readonly ParsedListener[];
  /** Static clusters; those of type EDS wait for their endpoints from ADS. */
  readonly clusters: readonly ClusterConfig[];
  /** `static_resources.secrets`: certificates and trust bundles that TLS contexts name. */
  readonly secrets: ReadonlyMap<string, Secret>;
  /** `overload_manager`: connection and heap limits (undefined: only meshlet's default heap guard). */
  readonly overload: OverloadConfig | undefined;
  /** `dynamic_resources`: the ADS stream and what comes over it. */
  readonly ads: AdsConfig | undefined;
  /** The ADS cluster's `transport_socket`: (m)TLS to the control plane; undefined: plaintext. */
  readonly adsTls?: AdsTlsConfig;
  /** The decoded Envoy Bootstrap, for /config_dump. */
  readonly source: unknown;
}

/** Reads a bootstrap file (YAML or JSON: YAML is a superset) and parses it. Throws ConfigError naming every problem. */
export function loadBootstrapFile(file: string): BootstrapConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  let document: unknown;
  try {
    // JSON is YAML too, but the YAML parser builds a syntax tree that costs many times the file in memory.
    document = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigError([{ path: '', message: `${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML/JSON'}: ${(err as Error).message}` }]);
  }
  return parseBootstrap(document);
}

/** Decodes an Envoy v3 Bootstrap document against the protos, then checks meshlet's subset. */
export function parseBootstrap(document: unknown): BootstrapConfig {
  const bootstrap = decodeJson('envoy.config.bootstrap.v3.Bootstrap', document ?? {});
  const issues: ConfigIssue[] = [];
  onlyFields(bootstrap, '', ['node', 'static_resources', 'dynamic_resources', 'admin', 'overload_manager'], issues);
  const overload = parseOverloadManager(bootstrap.overload_manager, 'overload_manager', issues);
  onlyFields(bootstrap.static_resources, 'static_resources', ['listeners', 'clusters', 'secrets'], issues);
  onlyFields(bootstrap.node, 'node', ['id', 'cluster', 'locality', 'metadata'], issues);

  let admin: BootstrapConfig['admin'];
  if (bootstrap.admin !== undefined) {
    onlyFields(bootstrap.admin, 'admin', ['address'], issues);
    admin = parseSocketAddress(bootstrap.admin.address, 'admin.address', issues);
  }

  const hasAds = bootstrap.dynamic_resources?.ads_config !== undefined;
  const secrets = new Map<string, Secret>();
  (bootstrap.static_resources?.secrets ?? []).forEach((raw: any, i: number) => {
    const path = `static_resources.secrets[${i}]`;
    if (secrets.has(raw.name)) issues.push({ path: `${path}.name`, message: `duplicate secret name "${raw.name}"` });
    const secret = parseSecret(raw, path, issues);
    if (secret) secrets.set(secret.name, secret);
  });
  const secretContext = { ads: hasAds, staticSecrets: new Set(secrets.keys()) };
  const adsCluster = adsClusterName(bootstrap.dynamic_resources);
  const clusters = new Map<string, ClusterConfig>();
  let adsTls: AdsTlsConfig | undefined;
  (bootstrap.static_resources?.clusters ?? []).forEach((raw: any, i: number) => {
    const path = `static_resources.clusters[${i}]`;
    if (clusters.has(raw.name)) issues.push({ path: `${path}.name`, message: `duplicate cluster name "${raw.name}"` });
    const grpc = raw.name === adsCluster;
    const cluster = parseCluster(raw, path, issues, { ...secretContext, grpc, localLocality: bootstrap.node?.locality });
    if (cluster) clusters.set(cluster.name, cluster);
    if (grpc) adsTls ??= parseAdsTls(raw.transport_socket, cluster?.tls, `${path}.transport_socket`, secrets, issues);
  });
  const ads = parseDynamicResources(bootstrap.dynamic_resources, 'dynamic_resources', issues, clusters);

  const listeners: ParsedListener[] = [];
  const listenerNames = new Set<string>();
  // With CDS, routes may name clusters that only the control plane knows: they are checked when they arrive over RDS.
  const context = { ...secretContext, clusterNames: ads?.cds ? undefined : new Set(clusters.keys()) };
  (bootstrap.static_resources?.listeners ?? []).forEach((raw: any, i: number) => {
    const path = `static_resources.listeners[${i}]`;
    if (raw.name !== undefined && listenerNames.has(raw.name)) issues.push({ path: `${path}.name`, message: `duplicate listener name "${raw.name}"` });
    listenerNames.add(raw.name);
    const listener = parseListener(raw, path, issues, context);
    if (listener) listeners.push(listener);
  });

  if (issues.length > 0) throw new ConfigError(issues);
  const node = bootstrap.node ?? {};
  return {
    admin,
    node: { id: node.id ?? '', cluster: node.cluster ?? '', locality: node.locality, metadata: node.metadata },
    listeners,
    clusters: [...clusters.values()],
    secrets,
    overload,
    ads,
    ...(adsTls && { adsTls }),
    source: bootstrap,
  };
}
