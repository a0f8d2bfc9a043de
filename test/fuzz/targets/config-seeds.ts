/**
 * Valid (or nearly valid) Envoy v3 documents the config fuzzer mutates: the bootstraps in
 * examples/, the test helpers' bootstraps, and hand-written ones that touch most of what meshlet
 * parses (ADS/EDS/RDS/SDS, TLS, RBAC, routes, health checks, outlier detection, circuit breakers).
 * xDS resource seeds are the listeners, clusters, route configurations, load assignments and
 * secrets these bootstraps hold.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { adsBootstrap } from '../../helpers/ads-test-server';
import { bootstrapYaml, catchAllVirtualHost, staticCluster } from '../../helpers/proxy-process';
import { FUZZ_CERT_PEM, FUZZ_KEY_PEM } from './seed-certs';

/** The repository root, from dist/test/fuzz/targets (compiled) or test/fuzz/targets (ts-node). */
export const REPO_ROOT = join(__dirname, '..', '..', '..', ...(__dirname.endsWith(join('dist', 'test', 'fuzz', 'targets')) ? ['..'] : []));

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text
    .split('\n')
    .map((line) => (line === '' ? line : pad + line))
    .join('\n');
}

const CERT_INLINE = `{inline_string: ${JSON.stringify(FUZZ_CERT_PEM)}}`;
const KEY_INLINE = `{inline_string: ${JSON.stringify(FUZZ_KEY_PEM)}}`;

/**
 * What the ADS seed adds to the helpers' adsBootstrap(): every Struct value kind in the node's
 * metadata, a static listener taking its routes over RDS, and an EDS cluster with SDS secrets.
 */
const ADS_ADDITIONS = `
node: {locality: {region: r1, zone: z1, sub_zone: s1}, metadata: {a: 1, b: [true, null, "x"], c: {d: 2.5}}}
listeners:
- name: rds_listener
  address: {socket_address: {address: 0.0.0.0, port_value: 15001}}
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": ${HCM}
        stat_prefix: rds
        rds: {route_config_name: routes-a, config_source: {ads: {}, resource_api_version: V3}}
        http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": ${ROUTER}}}]
clusters:
- name: eds_cluster
  type: EDS
  connect_timeout: 0.25s
  eds_cluster_config: {service_name: eds-service, eds_config: {ads: {}, resource_api_version: V3}}
  transport_socket:
    name: envoy.transport_sockets.tls
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
      sni: backend.fuzz.test
      common_tls_context:
        tls_certificate_sds_secret_configs: [{name: default, sds_config: {ads: {}, resource_api_version: V3}}]
        validation_context_sds_secret_config: {name: ROOTCA, sds_config: {ads: {}, resource_api_version: V3}}
`;

function adsSeed(): unknown {
  const doc = parseYaml(adsBootstrap({ adminPort: 9901, xdsPort: 18000, apiType: 'DELTA_GRPC', nodeId: 'fuzz-1', nodeCluster: 'fuzz' }));
  const additions = parseYaml(ADS_ADDITIONS);
  Object.assign(doc.node, additions.node);
  doc.static_resources = { listeners: additions.listeners, clusters: [...doc.static_resources.clusters, ...additions.clusters] };
  return doc;
}

const RICH_ROUTES = `
name: rich_routes
internal_only_headers: [x-internal]
request_headers_to_add: [{header: {key: x-from, value: "%DOWNSTREAM_REMOTE_ADDRESS%"}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}]
response_headers_to_remove: [server]
max_direct_response_body_size_bytes: 4096
virtual_hosts:
- name: api
  domains: [api.fuzz.test, "*.fuzz.test", "api.fuzz.test:8080"]
  retry_policy: {retry_on: "5xx,reset,connect-failure", num_retries: 3, per_try_timeout: 0.5s, retriable_status_codes: [503]}
  per_request_buffer_limit_bytes: 65536
  routes:
  - name: regex
    match: {safe_regex: {google_re2: {}, regex: "^/v[0-9]+/items/[^/]+$"}, case_sensitive: false}
    route: {cluster: backend, timeout: 2.5s, idle_timeout: 10s, prefix_rewrite: /items/, hash_policy: [{header: {header_name: x-user}}, {cookie: {name: sid}}, {connection_properties: {source_ip: true}, terminal: true}]}
  - match:
      prefix: /h
      headers:
      - {name: x-version, string_match: {exact: v2, ignore_case: true}}
      - {name: x-range, range_match: {start: 1, end: 100}}
      - {name: x-present, present_match: true, invert_match: true}
      - {name: x-re, safe_regex_match: {regex: "a(b|c)*d{1,3}"}}
      query_parameters: [{name: debug, present_match: true}, {name: q, string_match: {suffix: ".json"}}]
    route:
      weighted_clusters:
        clusters:
        - {name: backend, weight: 70, request_headers_to_add: [{header: {key: x-w, value: "70"}}]}
        - {name: canary, weight: 30}
      retry_policy: {retry_on: "gateway-error", num_retries: 2, retry_back_off: {base_interval: 0.025s, max_interval: 0.25s}}
      max_stream_duration: {max_stream_duration: 30s, grpc_timeout_header_max: 5s, grpc_timeout_header_offset: 0.01s}
  - match: {path: /old}
    redirect: {path_redirect: /new, response_code: PERMANENT_REDIRECT, strip_query: true}
  - match: {path_separated_prefix: /secure}
    redirect: {https_redirect: true, port_redirect: 8443, host_redirect: secure.fuzz.test}
  - match: {prefix: /rx}
    redirect: {regex_rewrite: {pattern: {regex: "^/rx/(.*)$"}, substitution: "/x/\\\\1"}}
  - match: {prefix: /health}
    direct_response: {status: 200, body: {inline_string: ok}}
    response_headers_to_add: [{header: {key: cache-control, value: no-store}, append: false}]
  - match: {prefix: /ws}
    route: {cluster: backend, upgrade_configs: [{upgrade_type: websocket}], host_rewrite_literal: ws.internal, timeout: 0s}
  - match: {prefix: /}
    route: {cluster: backend, auto_host_rewrite: true, regex_rewrite: {pattern: {regex: "/+"}, substitution: "/"}}
`;

const RICH_CLUSTERS = `
- name: backend
  type: STATIC
  connect_timeout: 0.25s
  lb_policy: RING_HASH
  ring_hash_lb_config: {minimum_ring_size: 1024, maximum_ring_size: 8192}
  common_lb_config: {healthy_panic_threshold: {value: 40}, zone_aware_lb_config: {routing_enabled: {value: 100}, min_cluster_size: 2}}
  circuit_breakers: {thresholds: [{priority: DEFAULT, max_connections: 100, max_pending_requests: 50, max_requests: 200, max_retries: 3}]}
  outlier_detection: {consecutive_5xx: 5, interval: 10s, base_ejection_time: 30s, max_ejection_percent: 50, consecutive_gateway_failure: 3, enforcing_consecutive_gateway_failure: 100}
  health_checks:
  - timeout: 1s
    interval: 5s
    unhealthy_threshold: 3
    healthy_threshold: 2
    http_health_check: {path: /healthz, host: hc.fuzz.test, expected_statuses: [{start: 200, end: 300}]}
  load_assignment:
    cluster_name: backend
    policy: {overprovisioning_factor: 140}
    endpoints:
    - locality: {region: r1, zone: z1}
      priority: 0
      load_balancing_weight: 3
      lb_endpoints:
      - {endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}, load_balancing_weight: 2, health_status: HEALTHY}
      - {endpoint: {address: {socket_address: {address: "::1", port_value: 8081}}}, health_status: DRAINING}
    - locality: {region: r1, zone: z2}
      priority: 1
      lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.2, port_value: 8082}}}}]
- name: canary
  type: STRICT_DNS
  connect_timeout: 1s
  dns_refresh_rate: 5s
  dns_lookup_family: V4_ONLY
  lb_policy: LEAST_REQUEST
  least_request_lb_config: {choice_count: 3}
  transport_socket:
    name: envoy.transport_sockets.tls
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
      sni: canary.fuzz.test
      common_tls_context:
        tls_certificates: [{certificate_chain: ${CERT_INLINE}, private_key: ${KEY_INLINE}}]
        validation_context:
          trusted_ca: ${CERT_INLINE}
          match_typed_subject_alt_names: [{san_type: URI, matcher: {prefix: "spiffe://fuzz.test/"}}, {san_type: DNS, matcher: {exact: canary.fuzz.test}}]
        alpn_protocols: [h2, http/1.1]
  load_assignment:
    cluster_name: canary
    endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: localhost, port_value: 9090}}}}]}]
`;

const RICH_BOOTSTRAP = `
node: {id: rich-1, cluster: rich}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: 9902}}}
static_resources:
  secrets:
  - name: server-cert
    tls_certificate: {certificate_chain: ${CERT_INLINE}, private_key: ${KEY_INLINE}}
  - name: trust
    validation_context: {trusted_ca: ${CERT_INLINE}, match_typed_subject_alt_names: [{san_type: URI, matcher: {safe_regex: {regex: "^spiffe://fuzz\\\\.test/.*$"}}}]}
  listeners:
  - name: tls_in
    address: {socket_address: {address: 0.0.0.0, port_value: 15443}}
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}
    filter_chains:
    - name: tls
      filter_chain_match: {server_names: [api.fuzz.test, "*.fuzz.test"], transport_protocol: tls}
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            tls_certificate_sds_secret_configs: [{name: server-cert}]
            validation_context_sds_secret_config: {name: trust}
            alpn_protocols: [h2, http/1.1]
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: tls_in
          codec_type: AUTO
          use_remote_address: true
          xff_num_trusted_hops: 1
          generate_request_id: true
          server_name: meshlet-fuzz
          via: fuzz
          strip_any_host_port: true
          forward_client_cert_details: SANITIZE_SET
          set_current_client_cert_details: {uri: true, cert: true, dns: true, subject: true}
          request_timeout: 30s
          request_headers_timeout: 5s
          stream_idle_timeout: 60s
          max_request_headers_kb: 32
          common_http_protocol_options: {idle_timeout: 120s}
          upgrade_configs: [{upgrade_type: websocket}]
          access_log:
          - name: envoy.access_loggers.file
            typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog, path: /dev/null}
          route_config:
${indent(RICH_ROUTES.trim(), 12)}
          http_filters:
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
                  frontend:
                    permissions:
                    - and_rules: {rules: [{header: {name: ":method", string_match: {exact: GET}}}, {url_path: {path: {prefix: /api}}}]}
                    - {destination_port: 15443}
                    - not_rule: {any: true}
                    principals:
                    - authenticated: {principal_name: {exact: "spiffe://fuzz.test/ns/default/sa/frontend"}}
                    - or_ids: {ids: [{direct_remote_ip: {address_prefix: 10.0.0.0, prefix_len: 8}}, {remote_ip: {address_prefix: "::1", prefix_len: 128}}]}
                    - {header: {name: x-user, present_match: true}}
          - name: envoy.filters.http.router
            typed_config: {"@type": ${ROUTER}}
    - name: plain
      filter_chain_match: {transport_protocol: raw_buffer}
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: plain
          codec_type: HTTP1
          route_config:
            name: plain
            virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: /}, direct_response: {status: 426}}]}]
          http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": ${ROUTER}}}]
  clusters:
${indent(RICH_CLUSTERS.trim(), 2)}
`;

function helperBootstraps(): string[] {
  const base = { adminPort: 9901, listenerPort: 10000 };
  return [
    bootstrapYaml({ ...base, virtualHosts: catchAllVirtualHost('up'), clusters: staticCluster('up', [{ port: 8080 }]) }),
    bootstrapYaml({
      ...base,
      virtualHosts: catchAllVirtualHost('up', '1.5s'),
      clusters: staticCluster('up', [{ port: 8080, weight: 3 }, { port: 8081, health: 'UNHEALTHY' }], '    lb_policy: RANDOM'),
      hcmExtra: '          codec_type: HTTP1\n          request_timeout: 5s\n          common_http_protocol_options: {idle_timeout: 1s}',
      routeConfigExtra: '            response_headers_to_add: [{header: {key: x-fuzz, value: "1"}}]',
    }),
  ];
}

/** Bootstrap documents (parsed YAML), named for reports. */
export function bootstrapSeeds(): { name: string; doc: unknown }[] {
  const seeds: { name: string; doc: unknown }[] = [];
  for (const file of ['demo-bootstrap.yaml', 'gateway-bootstrap.yaml', 'gateway-tls-bootstrap.yaml']) {
    const path = join(REPO_ROOT, 'examples', file);
    if (!existsSync(path)) continue;
    const doc = parseYaml(readFileSync(path, 'utf8'));
    seeds.push({ name: `examples/${file}`, doc });
    // The same with its certificate files inline, so that it parses here (the files are not on this machine).
    const inlined = inlinePemFiles(structuredClone(doc));
    if (inlined.changed) seeds.push({ name: `examples/${file} (inline PEM)`, doc: inlined.doc });
  }
  helperBootstraps().forEach((yaml, i) => seeds.push({ name: `helpers/bootstrapYaml#${i}`, doc: parseYaml(yaml) }));
  seeds.push({ name: 'ads', doc: adsSeed() });
  seeds.push({ name: 'rich', doc: parseYaml(RICH_BOOTSTRAP) });
  return seeds;
}

/** Replaces every DataSource `{filename: ....pem}` with the fuzz certificate or key inline. */
function inlinePemFiles(doc: unknown): { doc: unknown; changed: boolean } {
  let changed = false;
  const walk = (v: unknown) => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach(walk);
    const obj = v as Record<string, unknown>;
    if (typeof obj.filename === 'string' && obj.filename.endsWith('.pem')) {
      obj.inline_string = /key/.test(obj.filename) ? FUZZ_KEY_PEM : FUZZ_CERT_PEM;
      delete obj.filename;
      changed = true;
    }
    Object.values(obj).forEach(walk);
  };
  walk(doc);
  return { doc, changed };
}

export type ResourceKind = 'Listener' | 'Cluster' | 'RouteConfiguration' | 'ClusterLoadAssignment' | 'Secret';

export const RESOURCE_TYPE_NAMES: Record<ResourceKind, string> = {
  Listener: 'envoy.config.listener.v3.Listener',
  Cluster: 'envoy.config.cluster.v3.Cluster',
  RouteConfiguration: 'envoy.config.route.v3.RouteConfiguration',
  ClusterLoadAssignment: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  Secret: 'envoy.extensions.transport_sockets.tls.v3.Secret',
};

/** xDS resource seeds (proto3 JSON), taken out of the bootstrap seeds. */
export function resourceSeeds(bootstraps: readonly { doc: unknown }[]): { kind: ResourceKind; doc: unknown }[] {
  const out: { kind: ResourceKind; doc: unknown }[] = [];
  const clone = (v: unknown) => structuredClone(v);
  for (const { doc } of bootstraps) {
    const sr = (doc as any)?.static_resources ?? {};
    for (const listener of sr.listeners ?? []) {
      out.push({ kind: 'Listener', doc: clone(listener) });
      for (const chain of listener.filter_chains ?? []) {
        for (const filter of chain.filters ?? []) {
          const rc = filter?.typed_config?.route_config;
          if (rc) out.push({ kind: 'RouteConfiguration', doc: clone(rc) });
        }
      }
    }
    for (const cluster of sr.clusters ?? []) {
      out.push({ kind: 'Cluster', doc: clone(cluster) });
      if (cluster.load_assignment) out.push({ kind: 'ClusterLoadAssignment', doc: clone(cluster.load_assignment) });
    }
    for (const secret of sr.secrets ?? []) out.push({ kind: 'Secret', doc: clone(secret) });
  }
  out.push({ kind: 'RouteConfiguration', doc: parseYaml(RICH_ROUTES) });
  return out;
}

/** `@type` URLs the mutator plants: the valid ones seen in seeds, well-known types, and nonsense. */
export const TYPE_URLS: readonly string[] = [
  HCM,
  ROUTER,
  'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
  'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
  'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  'type.googleapis.com/envoy.config.listener.v3.Listener',
  'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap',
  'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  'type.googleapis.com/google.protobuf.Any',
  'type.googleapis.com/google.protobuf.Struct',
  'type.googleapis.com/google.protobuf.Value',
  'type.googleapis.com/google.protobuf.ListValue',
  'type.googleapis.com/google.protobuf.Duration',
  'type.googleapis.com/google.protobuf.Timestamp',
  'type.googleapis.com/google.protobuf.UInt32Value',
  'type.googleapis.com/google.protobuf.BoolValue',
  'type.googleapis.com/google.protobuf.BytesValue',
  'type.googleapis.com/google.protobuf.Empty',
  'type.googleapis.com/google.protobuf.FieldMask',
  'type.googleapis.com/udpa.type.v1.TypedStruct',
  'type.googleapis.com/xds.type.v3.TypedStruct',
  'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig',
  'type.googleapis.com/envoy.config.cluster.v3',
  'type.googleapis.com/',
  'type.googleapis.com/.',
  'type.googleapis.com/envoy.nope.v3.Nope',
  'example.com/a/b/envoy.config.cluster.v3.Cluster',
  'envoy.config.cluster.v3.Cluster',
  '/envoy.config.cluster.v3.Cluster',
  'type.googleapis.com//envoy.config.cluster.v3.Cluster',
  'type.googleapis.com/envoy.config.cluster.v3.Cluster/',
  'type.googleapis.com/constructor',
  'type.googleapis.com/__proto__',
  'type.googleapis.com/toString',
  '',
  '/',
];
