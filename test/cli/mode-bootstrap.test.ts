import t from 'tap';
import { parseBootstrap } from '../../proxy/config/bootstrap';
import { modeBootstrap } from '../../cli/modes/mode-bootstrap';
import { resolveModeOptions, type ModeFlags, type ModeOptions } from '../../cli/modes/mode-options';
import { parseHostPorts } from '../../cli/modes/xds-address';

const XDS_ONLY = { 'xds-address': '10.0.0.5:18000' };

function resolve(mode: string, flags: ModeFlags, env: Record<string, string> = {}): ModeOptions {
  const options = resolveModeOptions(mode, flags, env, 'pod-7');
  if ('error' in options) throw new Error(options.error);
  return options;
}

function resolveError(mode: string, flags: ModeFlags, env: Record<string, string> = {}): string {
  const options = resolveModeOptions(mode, flags, env, 'pod-7');
  return 'error' in options ? options.error : 'no error';
}

t.test('parseHostPorts: HOST:PORT lists in order, IPv6 in brackets, clear errors', async (t) => {
  t.same(parseHostPorts('10.0.0.1:18000'), [{ host: '10.0.0.1', port: 18000 }]);
  t.same(parseHostPorts('cp-0.cp.svc:18000, 10.0.0.2:18001,[::1]:18002'), [
    { host: 'cp-0.cp.svc', port: 18000 },
    { host: '10.0.0.2', port: 18001 },
    { host: '::1', port: 18002 },
  ]);
  t.match(parseHostPorts('cp.svc'), /"cp.svc" is not HOST:PORT/);
  t.match(parseHostPorts('::1:18000'), /not HOST:PORT \(an IPv6 address goes in brackets/);
  t.match(parseHostPorts('cp:0'), /"cp:0": 0 is not a port/);
  t.match(parseHostPorts('cp:70000'), /70000 is not a port/);
  t.match(parseHostPorts('a:1,'), /"" is not HOST:PORT/);
  t.match(parseHostPorts('[cp]:1'), /cp is not an IPv6 address/);
});

t.test('a sidecar: admin on loopback, a health port, node id from the service and hostname', async (t) => {
  t.same(resolve('sidecar', { ...XDS_ONLY, service: 'echo' }), {
    mode: 'sidecar',
    service: 'echo',
    nodeId: 'echo-pod-7',
    xds: [{ host: '10.0.0.5', port: 18000 }],
    admin: { address: '127.0.0.1', port: 15000 },
    healthPort: 15021,
    locality: undefined,
    delta: false,
  });
});

t.test('a gateway: admin on every address, no health listener (probes reach admin)', async (t) => {
  const options = resolve('gateway', { ...XDS_ONLY, service: 'ingress' });
  t.same(options.admin, { address: '0.0.0.0', port: 15000 });
  t.equal(options.healthPort, undefined);
});

t.test('flags win over the environment; the environment fills what flags leave out; empty counts as unset', async (t) => {
  const env = {
    MESHLET_XDS_ADDRESS: 'meshlet-control-plane.meshlet-system.svc:18000',
    MESHLET_SERVICE: 'echo',
    MESHLET_NODE_ID: 'echo-abc.default',
    MESHLET_ZONE: 'z1',
    MESHLET_REGION: '',
  };
  const fromEnv = resolve('sidecar', {}, env);
  t.same(fromEnv.xds, [{ host: 'meshlet-control-plane.meshlet-system.svc', port: 18000 }]);
  t.equal(fromEnv.service, 'echo');
  t.equal(fromEnv.nodeId, 'echo-abc.default');
  t.same(fromEnv.locality, { zone: 'z1' }, 'MESHLET_REGION="" is unset');
  const flagged = resolve('sidecar', { service: 'web', 'node-id': 'n1', region: 'eu', 'xds-address': '127.0.0.1:1' }, env);
  t.equal(flagged.service, 'web');
  t.equal(flagged.nodeId, 'n1');
  t.same(flagged.locality, { region: 'eu', zone: 'z1' });
  t.same(flagged.xds, [{ host: '127.0.0.1', port: 1 }]);
});

t.test('admin, health port and delta flags', async (t) => {
  const options = resolve('sidecar', { ...XDS_ONLY, service: 'echo', 'admin-port': '9901', 'admin-address': '0.0.0.0', 'health-port': '0', delta: true });
  t.same(options.admin, { address: '0.0.0.0', port: 9901 });
  t.equal(options.healthPort, undefined, '--health-port 0: none');
  t.equal(options.delta, true);
  t.equal(resolve('gateway', { ...XDS_ONLY, service: 'g', 'health-port': '8081' }).healthPort, 8081);
});

t.test('mistakes are named with their flag (and variable)', async (t) => {
  t.match(resolveError('ingress', { ...XDS_ONLY, service: 'x' }), '--mode must be one of sidecar, gateway, got "ingress"');
  t.match(resolveError('sidecar', XDS_ONLY), '--service (or MESHLET_SERVICE) is required');
  t.match(resolveError('sidecar', { service: 'x' }), '--xds-address (or MESHLET_XDS_ADDRESS) is required');
  t.match(resolveError('sidecar', { service: 'x', 'xds-address': 'cp' }), '--xds-address: "cp" is not HOST:PORT');
  t.match(resolveError('sidecar', { ...XDS_ONLY, service: 'x', 'admin-port': '0' }), '--admin-port must be a port number');
  t.match(resolveError('sidecar', { ...XDS_ONLY, service: 'x', 'admin-address': 'localhost' }), '--admin-address must be an IP address');
  t.match(resolveError('sidecar', { ...XDS_ONLY, service: 'x', 'health-port': 'x' }), '--health-port must be a port number');
});

t.test('modeBootstrap: ADS for LDS and CDS, the node, admin, and the control plane as a static HTTP/2 cluster', async (t) => {
  const bootstrap = modeBootstrap(resolve('gateway', { 'xds-address': '10.0.0.5:18000,10.0.0.6:18000', service: 'ingress', zone: 'z1' })) as any;
  t.same(bootstrap.node, { id: 'ingress-pod-7', cluster: 'ingress', locality: { zone: 'z1' } });
  t.same(bootstrap.admin, { address: { socket_address: { address: '0.0.0.0', port_value: 15000 } } });
  t.same(bootstrap.dynamic_resources, {
    ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }] },
    lds_config: { ads: {}, resource_api_version: 'V3' },
    cds_config: { ads: {}, resource_api_version: 'V3' },
  });
  t.same(bootstrap.static_resources, {
    clusters: [
      {
        name: 'xds_cluster',
        type: 'STATIC',
        connect_timeout: '1s',
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '30s', timeout: '10s' } } },
          },
        },
        load_assignment: {
          cluster_name: 'xds_cluster',
          endpoints: [
            {
              lb_endpoints: [
                { endpoint: { address: { socket_address: { address: '10.0.0.5', port_value: 18000 } } } },
                { endpoint: { address: { socket_address: { address: '10.0.0.6', port_value: 18000 } } } },
              ],
            },
          ],
        },
      },
    ],
  }, 'a gateway has no static listener');
});

t.test('modeBootstrap: a DNS name makes the ADS cluster STRICT_DNS; --delta makes it DELTA_GRPC', async (t) => {
  const bootstrap = modeBootstrap(resolve('sidecar', { 'xds-address': '10.0.0.5:18000,cp.meshlet-system.svc:18000', service: 'echo', delta: true })) as any;
  t.equal(bootstrap.static_resources.clusters[0].type, 'STRICT_DNS');
  t.equal(bootstrap.dynamic_resources.ads_config.api_type, 'DELTA_GRPC');
});

t.test("modeBootstrap: a sidecar's health listener forwards GET /ready to admin, 404 for the rest", async (t) => {
  const bootstrap = modeBootstrap(resolve('sidecar', { ...XDS_ONLY, service: 'echo', 'admin-port': '15999', 'admin-address': '0.0.0.0' })) as any;
  const [listener] = bootstrap.static_resources.listeners;
  t.equal(listener.name, 'meshlet_health');
  t.same(listener.address, { socket_address: { address: '0.0.0.0', port_value: 15021 } });
  const hcm = listener.filter_chains[0].filters[0].typed_config;
  t.same(hcm.route_config.virtual_hosts[0].routes, [
    { match: { path: '/ready', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, route: { cluster: 'meshlet_admin', timeout: '1s' } },
    { match: { prefix: '/' }, direct_response: { status: 404 } },
  ]);
  const admin = bootstrap.static_resources.clusters.find((c: any) => c.name === 'meshlet_admin');
  t.same(admin.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { socket_address: { address: '127.0.0.1', port_value: 15999 } }, 'a wildcard admin is reached on loopback');
});

t.test('parseBootstrap accepts every generated bootstrap, as the proxy reads it', async (t) => {
  const cases: [string, ModeFlags][] = [
    ['sidecar', { ...XDS_ONLY, service: 'echo' }],
    ['sidecar', { 'xds-address': 'meshlet-control-plane.meshlet-system.svc:18000,[::1]:18000', service: 'echo', delta: true, zone: 'z', region: 'r' }],
    ['gateway', { ...XDS_ONLY, service: 'ingress', 'health-port': '15021' }],
    ['gateway', { 'xds-address': 'localhost:18000', service: 'ingress', 'admin-address': '::' }],
  ];
  for (const [mode, flags] of cases) {
    const options = resolve(mode, flags);
    const parsed = parseBootstrap(modeBootstrap(options));
    t.same(parsed.node, { id: options.nodeId, cluster: options.service, locality: options.locality, metadata: undefined }, `${mode} ${JSON.stringify(flags)}: node`);
    t.same(parsed.admin, options.admin);
    t.equal(parsed.ads?.protocol, options.delta ? 'delta' : 'sotw');
    t.same(parsed.ads?.endpoints, options.xds.map((e) => ({ address: e.host, port: e.port })), 'every endpoint, in order');
    t.ok(parsed.ads?.lds && parsed.ads.cds, 'LDS and CDS over ADS');
    t.same(parsed.listeners.map((l) => l.name), options.healthPort === undefined ? [] : ['meshlet_health']);
  }
});
