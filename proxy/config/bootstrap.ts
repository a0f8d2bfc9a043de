import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type ConfigIssue } from '../../xds/config-error';
import { decodeJson } from '../../xds/proto-json';
import type { ClusterConfig } from '../cluster/cluster-config';
import type { ListenerConfig } from '../listener/listener-config';
import { parseCluster } from './cluster-parser';
import { parseListener } from './listener-parser';
import { onlyFields } from './field-support';
import { parseSocketAddress } from './socket-address';

/** The bootstrap as meshlet runs it: parsed once, immutable. */
export interface BootstrapConfig {
  readonly admin: { readonly address: string; readonly port: number } | undefined;
  readonly node: { readonly id: string; readonly cluster: string };
  readonly listeners: readonly ListenerConfig[];
  readonly clusters: readonly ClusterConfig[];
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
  onlyFields(bootstrap, '', ['node', 'static_resources', 'admin'], issues);
  onlyFields(bootstrap.static_resources, 'static_resources', ['listeners', 'clusters'], issues);

  let admin: BootstrapConfig['admin'];
  if (bootstrap.admin !== undefined) {
    onlyFields(bootstrap.admin, 'admin', ['address'], issues);
    admin = parseSocketAddress(bootstrap.admin.address, 'admin.address', issues);
  }

  const clusters: ClusterConfig[] = [];
  const clusterNames = new Set<string>();
  (bootstrap.static_resources?.clusters ?? []).forEach((raw: any, i: number) => {
    const path = `static_resources.clusters[${i}]`;
    if (clusterNames.has(raw.name)) issues.push({ path: `${path}.name`, message: `duplicate cluster name "${raw.name}"` });
    clusterNames.add(raw.name);
    const cluster = parseCluster(raw, path, issues);
    if (cluster) clusters.push(cluster);
  });

  const listeners: ListenerConfig[] = [];
  const listenerNames = new Set<string>();
  (bootstrap.static_resources?.listeners ?? []).forEach((raw: any, i: number) => {
    const path = `static_resources.listeners[${i}]`;
    if (raw.name !== undefined && listenerNames.has(raw.name)) issues.push({ path: `${path}.name`, message: `duplicate listener name "${raw.name}"` });
    listenerNames.add(raw.name);
    const listener = parseListener(raw, path, issues, clusterNames);
    if (listener) listeners.push(listener);
  });

  if (issues.length > 0) throw new ConfigError(issues);
  return {
    admin,
    node: { id: bootstrap.node?.id ?? '', cluster: bootstrap.node?.cluster ?? '' },
    listeners,
    clusters,
    source: bootstrap,
  };
}
