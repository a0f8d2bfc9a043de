import t from 'tap';
import { ConfigError } from '../../../xds/config-error';
import { decodeAny } from '../../../xds/proto-json';
import { MeshBuildCache, buildMeshSnapshots } from '../../../xds/control-plane/mesh-snapshots';
import { parseMesh } from '../../../xds/control-plane/mesh-parser';
import { roleOf } from '../../../xds/control-plane/node-role';
import { ResourceEncoder, buildSnapshot, type Snapshot } from '../../../xds/control-plane/snapshot';
import { validateSnapshot } from '../../../xds/control-plane/snapshot-validator';

const MESH = {
  sidecar: { outbound_port: 15001 },
  services: {
    web: {
      lb_policy: 'LEAST_REQUEST',
      connect_timeout: '250ms',
      endpoints: [
        { address: '10.0.0.1', port: 8080, weight: 3, version: 'v1', region: 'eu', zone: 'a' },
        { address: '10.0.0.2', port: 8080, weight: 1, version: 'v1', region: 'eu', zone: 'b' },
        { address: '10.0.0.3', port: 8080, weight: 2, version: 'v2', region: 'eu', zone: 'a', priority: 5 },
      ],
      routes: [
        { name: 'canary', match: { prefix: '/', headers: { 'x-canary': '1', 'x-user': { regex: 'test-.*' } } }, to: { version: 'v2' } },
        { match: { prefix: '/' }, to: [{ version: 'v1', weight: 90 }, { version: 'v2', weight: 10 }], timeout: '2s', retries: { attempts: 2 } },
      ],
    },
    api: { port: 9090, endpoints: [{ address: '10.0.1.1', port: 9090 }], sidecar: { inbound_port: 15106, app_port: 8081 } },
  },
  gateways: { edge: { port: 8000, routes: [{ match: { prefix: '/web/' }, to: { service: 'web' }, prefix_rewrite: '/' }] } },
};

const MTLS_MESH = {
  mtls: { mode: 'STRICT', trust_domain: 'example.org' },
  services: {
    web: { namespace: 'shop', service_account: 'web-sa', endpoints: [{ address: '10.0.0.1', port: 15006, version: 'v1' }], sidecar: { app_port: 8080 } },
    api: { mtls: 'PERMISSIVE', endpoints: [{ address: '10.0.1.1', port: 15006 }], sidecar: { app_port: 8081 }, authorization: { allow_from: ['web', 'edge'] } },
    legacy: { mtls: 'DISABLE', endpoints: [{ address: '10.0.2.1', port: 8080 }], sidecar: { app_port: 8082 } },
  },
  gateways: { edge: { port: 8000, routes: [{ to: { service: 'web' } }] } },
};

function names(snapshot: Snapshot, api: 'SDS' | 'CDS' | 'EDS' | 'LDS' | 'RDS', onDemand?: boolean): string[] {
  return [...snapshot.resources[api].values()].filter((r) => onDemand === undefined || r.onDemand === onDemand).map((r) => r.name);
}

const snapshots = buildMeshSnapshots(parseMesh(MESH));
const get = (role: string) => snapshots.get(role)!;

t.test('one snapshot per role: each sidecar, each gateway, and every other client', async (t) => {
  t.same([...snapshots.keys()], ['sidecar:web', 'sidecar:api', 'gateway:edge', 'client']);
  const mesh = parseMesh(MESH);
  t.equal(roleOf(mesh, 'web').key, 'sidecar:web');
  t.equal(roleOf(mesh, 'edge').key, 'gateway:edge');
  t.equal(roleOf(mesh, 'grpc-clients').key, 'client');
});

t.test('every node gets all clusters (one per service, one per version), their endpoints and the outbound routes', async (t) => {
  for (const snapshot of snapshots.values()) {
    t.same(names(snapshot, 'CDS').filter((n) => !n.startsWith('inbound|')), ['web', 'web/v1', 'web/v2', 'api'], snapshot.role);
    t.same(names(snapshot, 'EDS'), ['web', 'web/v1', 'web/v2', 'api'], snapshot.role);
    t.ok(snapshot.resources.RDS.has('outbound'), snapshot.role);
    t.same(names(snapshot, 'LDS', true), ['web', 'api'], `${snapshot.role}: on-demand API listeners`);
  }
});

t.test('sidecars get an outbound listener, and an inbound one to the local app when app_port is set', async (t) => {
  t.same(names(get('sidecar:web'), 'LDS', false), ['outbound']);
  t.same(names(get('sidecar:api'), 'LDS', false), ['outbound', 'inbound']);
  t.same(names(get('sidecar:api'), 'RDS'), ['outbound', 'inbound']);
  const inbound = get('sidecar:api').resources.CDS.get('inbound|api')!;
  t.match(inbound.json, { type: 'STATIC', load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8081 } } } }] }] } });
  t.match(get('sidecar:api').resources.LDS.get('inbound')!.json, { address: { socket_address: { address: '127.0.0.1', port_value: 15106 } } });
  t.same(names(get('gateway:edge'), 'LDS', false), ['edge']);
  t.same(names(get('gateway:edge'), 'RDS'), ['outbound', 'edge']);
  t.same(names(get('client'), 'LDS', false), []);
});

t.test('listeners take their routes over RDS on the ADS stream', async (t) => {
  const hcm = (get('sidecar:web').resources.LDS.get('outbound')!.json as any).filter_chains[0].filters[0].typed_config;
  t.same(hcm.rds, { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'outbound' });
  t.same(hcm.http_filters.map((f: any) => f.name), ['envoy.filters.http.router']);
  const api = get('client').resources.LDS.get('web')!.json as any;
  t.same(api.api_listener.api_listener.rds.route_config_name, 'outbound');
  t.notOk('address' in api, 'an API listener has no socket');
});

/** Every generated route lets a gRPC call's grpc-timeout be its timeout. */
const GRPC_TIMEOUT = { grpc_timeout_header_max: '0s' };

t.test('the outbound routes: one virtual host per service by Host/authority, canary header match, weighted split', async (t) => {
  const routes = get('client').resources.RDS.get('outbound')!.json as any;
  t.same(routes.virtual_hosts.map((v: any) => [v.name, v.domains]), [['web', ['web', 'web:80']], ['api', ['api', 'api:9090']]]);
  const [canary, split] = routes.virtual_hosts[0].routes;
  t.same(canary, {
    name: 'canary',
    match: { prefix: '/', headers: [{ name: 'x-canary', string_match: { exact: '1' } }, { name: 'x-user', string_match: { safe_regex: { regex: 'test-.*' } } }] },
    route: { cluster: 'web/v2', max_stream_duration: GRPC_TIMEOUT },
  });
  t.same(split.route, {
    weighted_clusters: { clusters: [{ name: 'web/v1', weight: 90 }, { name: 'web/v2', weight: 10 }] },
    timeout: '2s',
    max_stream_duration: GRPC_TIMEOUT,
    retry_policy: { retry_on: '5xx', num_retries: 2 },
  });
  t.same(routes.virtual_hosts[1].routes, [{ match: { prefix: '/' }, route: { cluster: 'api', max_stream_duration: GRPC_TIMEOUT } }]);
});

t.test('clusters are EDS over ADS with the service policies; endpoints grouped by locality, priorities without gaps', async (t) => {
  t.same(get('client').resources.CDS.get('web/v2')!.json, {
    name: 'web/v2',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: '0.25s',
    lb_policy: 'LEAST_REQUEST',
  });
  const endpoint = (address: string, weight: number) => ({ endpoint: { address: { socket_address: { address, port_value: 8080 } } }, load_balancing_weight: weight });
  t.same(get('client').resources.EDS.get('web')!.json, {
    cluster_name: 'web',
    endpoints: [
      { locality: { region: 'eu', zone: 'a' }, load_balancing_weight: 3, lb_endpoints: [endpoint('10.0.0.1', 3)] },
      { locality: { region: 'eu', zone: 'b' }, load_balancing_weight: 1, lb_endpoints: [endpoint('10.0.0.2', 1)] },
      { locality: { region: 'eu', zone: 'a' }, priority: 1, load_balancing_weight: 2, lb_endpoints: [endpoint('10.0.0.3', 2)] },
    ],
  });
  // The v2 subset only has the priority-5 endpoint: it becomes priority 0 there.
  t.same((get('client').resources.EDS.get('web/v2')!.json as any).endpoints[0].priority, undefined);
});

t.test('resources are encoded once: the bytes decode to what was generated', async (t) => {
  for (const snapshot of snapshots.values()) {
    for (const set of Object.values(snapshot.resources)) {
      for (const r of set.values()) t.same(decodeAny(r.any), { '@type': r.any.type_url, ...r.decoded }, `${snapshot.role} ${r.name}`);
    }
  }
  // Shared resources are the very same objects in every snapshot.
  t.equal(get('sidecar:web').resources.CDS.get('web'), get('gateway:edge').resources.CDS.get('web'));
});

t.test('versions are content hashes: a change moves only the versions of what it touches', async (t) => {
  const again = buildMeshSnapshots(parseMesh(MESH));
  t.same([...again.values()].map((s) => s.version), [...snapshots.values()].map((s) => s.version), 'deterministic');

  const changed = structuredClone(MESH);
  changed.services.api.endpoints[0].port = 9091;
  const after = buildMeshSnapshots(parseMesh(changed));
  const before = get('sidecar:web');
  const now = after.get('sidecar:web')!;
  t.not(now.resources.EDS.get('api')!.version, before.resources.EDS.get('api')!.version, 'the changed assignment');
  for (const name of ['web', 'web/v1', 'web/v2']) t.equal(now.resources.EDS.get(name)!.version, before.resources.EDS.get(name)!.version, name);
  t.equal(now.resources.RDS.get('outbound')!.version, before.resources.RDS.get('outbound')!.version);
  t.not(now.version, before.version);
});

t.test('a snapshot the proxy would reject is reported with the resource and path', async (t) => {
  const encoder = new ResourceEncoder();
  const snapshot = buildSnapshot(
    'test',
    [
      encoder.layer('test', {
        CDS: [{ name: 'a', json: { name: 'a', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, lb_policy: 'MAGLEV' } }],
        EDS: [],
        LDS: [{ name: 'l', json: { name: 'l', api_listener: { api_listener: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', stat_prefix: 'l', rds: { config_source: { ads: {} }, route_config_name: 'missing' } } } }, onDemand: true }],
        RDS: [{ name: 'r', json: { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { safe_regex: { regex: '(?=x)' } }, route: { cluster: 'b' } }] }] } }], SDS: [],
      }),
    ],
    encoder,
  );
  t.same(encoder.issues, []);
  const issues = Object.fromEntries(validateSnapshot(snapshot).map((i) => [i.path, i.message]));
  t.match(issues, {
    'CDS["a"].lb_policy': /MAGLEV is not supported/,
    'CDS["a"]': /no ClusterLoadAssignment "a"/,
    'LDS["l"].api_listener.api_listener.rds.route_config_name': /"missing" is not in the snapshot of test/,
    'RDS["r"].virtual_hosts[0].routes[0].route.cluster': /unknown cluster "b"/,
  });
  t.ok(Object.keys(issues).some((p) => p.startsWith('RDS["r"].virtual_hosts[0].routes[0].match.safe_regex')), Object.keys(issues).join('\n'));
});

t.test('generated resources that do not decode are issues too, and buildMeshSnapshots throws them all', async (t) => {
  const encoder = new ResourceEncoder();
  buildSnapshot('test', [encoder.layer('test', { CDS: [{ name: 'a', json: { name: 'a', connect_timeout: 'soon' } }], EDS: [], LDS: [], RDS: [], SDS: [] })], encoder);
  t.match(encoder.issues, [{ path: 'CDS["a"].connect_timeout', message: /duration/ }]);
  t.throws(() => buildMeshSnapshots({ services: [], gateways: [{ name: 'g', address: '127.0.0.1', port: 80, hosts: ['*'], routes: [{ match: { prefix: '/', headers: [] }, to: [{ service: 'nope', weight: 1 }] }], spiffeId: 'spiffe://cluster.local/ns/default/sa/g' }], mtls: { enabled: false, trustDomain: 'cluster.local', certTtlMs: 3_600_000 } }), ConfigError);
});

t.test('mTLS: clusters of a service with mTLS on present the node certificate and check the service identity', async (t) => {
  const mtls = buildMeshSnapshots(parseMesh(MTLS_MESH));
  const sds = (name: string) => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });
  for (const name of ['web', 'web/v1']) {
    t.same((mtls.get('client')!.resources.CDS.get(name)!.json as any).transport_socket, {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: {
          tls_certificate_sds_secret_configs: [sds('default')],
          combined_validation_context: {
            default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://example.org/ns/shop/sa/web-sa' } }] },
            validation_context_sds_secret_config: sds('ROOTCA'),
          },
        },
        sni: 'web',
      },
    }, name);
  }
  t.match(mtls.get('client')!.resources.CDS.get('api')!.json, { transport_socket: { typed_config: { sni: 'api' } } }, 'PERMISSIVE too');
  t.notOk('transport_socket' in mtls.get('client')!.resources.CDS.get('legacy')!.json, 'DISABLE: plaintext');
  t.notOk('transport_socket' in mtls.get('sidecar:web')!.resources.CDS.get('inbound|web')!.json, 'the sidecar reaches its own app in plaintext');
});

t.test('mTLS: the inbound listener terminates mTLS (STRICT), or mTLS and plaintext (PERMISSIVE)', async (t) => {
  const mtls = buildMeshSnapshots(parseMesh(MTLS_MESH));
  const sds = (name: string) => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });
  const downstream = {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      require_client_certificate: true,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [sds('default')],
        validation_context_sds_secret_config: sds('ROOTCA'),
        alpn_protocols: ['h2', 'http/1.1'],
      },
    },
  };
  const strict = mtls.get('sidecar:web')!.resources.LDS.get('inbound')!.json as any;
  t.notOk('listener_filters' in strict);
  t.equal(strict.filter_chains.length, 1);
  t.same(strict.filter_chains[0].transport_socket, downstream);
  t.match(strict.filter_chains[0].filters[0].typed_config, {
    forward_client_cert_details: 'SANITIZE_SET',
    set_current_client_cert_details: { uri: true },
    rds: { route_config_name: 'inbound' },
  });

  const permissive = mtls.get('sidecar:api')!.resources.LDS.get('inbound')!.json as any;
  t.same(permissive.listener_filters, [
    { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } },
  ]);
  const [tls, plaintext] = permissive.filter_chains;
  t.same(tls.filter_chain_match, { transport_protocol: 'tls' });
  t.same(tls.transport_socket, downstream);
  t.equal(tls.filters[0].typed_config.forward_client_cert_details, 'SANITIZE_SET');
  t.same(plaintext.filter_chain_match, { transport_protocol: 'raw_buffer' });
  t.notOk('transport_socket' in plaintext);
  t.notOk('forward_client_cert_details' in plaintext.filters[0].typed_config, "plaintext keeps Envoy's SANITIZE");
  t.same(plaintext.filters[0].typed_config.rds, tls.filters[0].typed_config.rds, 'both chains route the same');

  const legacy = mtls.get('sidecar:legacy')!.resources.LDS.get('inbound')!.json as any;
  t.same(Object.keys(legacy.filter_chains[0]), ['filters'], 'DISABLE: one plaintext chain, as without mTLS');
  t.notOk('listener_filters' in legacy);
  t.notOk('transport_socket' in legacy.filter_chains[0]);
  t.notOk('transport_socket' in (mtls.get('gateway:edge')!.resources.LDS.get('edge')!.json as any).filter_chains[0], "a gateway's own listener stays plaintext");
  t.same(names(mtls.get('sidecar:web')!, 'SDS'), [], 'secrets are per node, not per role');
});

t.test('a mesh without mTLS generates exactly what it did before', async (t) => {
  for (const snapshot of snapshots.values()) {
    for (const api of ['CDS', 'LDS'] as const) {
      for (const r of snapshot.resources[api].values()) {
        t.notMatch(JSON.stringify(r.json), /transport_socket|listener_filters|filter_chain_match|client_cert/, `${snapshot.role} ${api} ${r.name}`);
      }
    }
  }
});

t.test('authorization: an RBAC filter before the router, on every chain of the inbound listener', async (t) => {
  const mtls = buildMeshSnapshots(parseMesh(MTLS_MESH));
  const inbound = mtls.get('sidecar:api')!.resources.LDS.get('inbound')!.json as any;
  const rbac = {
    name: 'envoy.filters.http.rbac',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
      rules: {
        action: 'ALLOW',
        policies: {
          'allow-from': {
            permissions: [{ any: true }],
            principals: [
              { authenticated: { principal_name: { exact: 'spiffe://example.org/ns/shop/sa/web-sa' } } },
              { authenticated: { principal_name: { exact: 'spiffe://example.org/ns/default/sa/edge' } } },
            ],
          },
        },
      },
    },
  };
  for (const chain of inbound.filter_chains) {
    t.same(chain.filters[0].typed_config.http_filters, [rbac, { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }]);
  }
  const web = mtls.get('sidecar:web')!.resources.LDS.get('inbound')!.json as any;
  t.same(web.filter_chains[0].filters[0].typed_config.http_filters.map((f: any) => f.name), ['envoy.filters.http.router'], 'no authorization: no RBAC filter');
});

t.test('a rebuild with the last build cache reuses what did not change, down to the set objects', async (t) => {
  const cache = new MeshBuildCache();
  const before = buildMeshSnapshots(parseMesh(MESH), undefined, cache);
  const changed = structuredClone(MESH);
  changed.services.api.endpoints[0].port = 9091;
  const after = buildMeshSnapshots(parseMesh(changed), undefined, cache);
  for (const [role, snapshot] of after) {
    const old = before.get(role)!;
    for (const api of ['SDS', 'CDS', 'LDS', 'RDS'] as const) t.equal(snapshot.resources[api], old.resources[api], `${role} ${api}: the same set`);
    t.not(snapshot.resources.EDS, old.resources.EDS, `${role} EDS: a new set`);
    t.equal(snapshot.resources.EDS.get('web'), old.resources.EDS.get('web'), `${role}: the unchanged assignment is the same object`);
  }
  t.equal(after.get('sidecar:web')!.resources.EDS, after.get('gateway:edge')!.resources.EDS, 'one EDS set for every role that has nothing of its own');
  const unchanged = buildMeshSnapshots(parseMesh(changed), undefined, cache);
  t.same([...unchanged.values()].map((s) => s.version), [...after.values()].map((s) => s.version));
  t.equal(unchanged.get('sidecar:api')!.resources.CDS, after.get('sidecar:api')!.resources.CDS, 'layered sets are reused too');
});
