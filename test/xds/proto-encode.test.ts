import t from 'tap';
import { ConfigError } from '../../xds/config-error';
import { typeUrlOf } from '../../xds/envoy-protos';
import { encodeAny, encodeJson } from '../../xds/proto-encode';
import { decodeAny, decodeBinary, decodeJson } from '../../xds/proto-json';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

const CLUSTER = {
  name: 'web',
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'web' },
  connect_timeout: '0.25s',
  lb_policy: 'LEAST_REQUEST',
  least_request_lb_config: { choice_count: 3, active_request_bias: { default_value: 1.5, runtime_key: 'bias' } },
  common_lb_config: { healthy_panic_threshold: { value: 25 }, locality_weighted_lb_config: {} },
  // Struct and every kind of Value, including nesting and null.
  metadata: { filter_metadata: { 'meshlet.io': { team: 'edge', replicas: 3, canary: false, tags: ['a', 1, null], owner: { name: 'x' } } } },
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      common_http_protocol_options: { idle_timeout: '4s', max_requests_per_connection: 100 },
      explicit_http_config: { http_protocol_options: {} },
    },
  },
};

const LISTENER = {
  name: 'outbound',
  address: { socket_address: { address: '127.0.0.1', port_value: 15001 } },
  filter_chains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': HCM,
            stat_prefix: 'outbound',
            rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'outbound' },
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
            common_http_protocol_options: { idle_timeout: '3600s' },
            use_remote_address: true,
          },
        },
      ],
    },
  ],
};

const ROUTE_CONFIGURATION = {
  name: 'outbound',
  virtual_hosts: [
    {
      name: 'web',
      domains: ['web', 'web:80'],
      routes: [
        {
          name: 'canary',
          match: { prefix: '/api/', headers: [{ name: 'x-canary', string_match: { exact: '1' } }] },
          route: {
            weighted_clusters: { clusters: [{ name: 'web/v1', weight: 90 }, { name: 'web/v2', weight: 10 }] },
            timeout: '2.5s',
            retry_policy: { retry_on: '5xx', num_retries: 2, per_try_timeout: '0.5s' },
            prefix_rewrite: '/',
          },
        },
        { match: { safe_regex: { regex: '^/v[0-9]+/.*' } }, route: { cluster: 'web', timeout: '0s' } },
        { match: { path: '/healthz' }, direct_response: { status: 200, body: { inline_string: 'ok' } } },
      ],
    },
  ],
};

const CLUSTER_LOAD_ASSIGNMENT = {
  cluster_name: 'web',
  endpoints: [
    {
      locality: { region: 'eu', zone: 'eu-a' },
      priority: 0,
      load_balancing_weight: 3,
      lb_endpoints: [
        { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8081 } } }, load_balancing_weight: 1 },
        { endpoint: { address: { socket_address: { address: '::1', port_value: 8082 } } }, load_balancing_weight: 2, health_status: 'DRAINING' },
      ],
    },
    {
      locality: { region: 'us' },
      priority: 1,
      load_balancing_weight: 1,
      lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } }],
    },
  ],
  policy: { overprovisioning_factor: 140 },
};

const SAMPLES: Array<[string, string, unknown]> = [
  ['a Cluster (EDS over ADS, wrappers, Struct metadata, typed Any options)', 'envoy.config.cluster.v3.Cluster', CLUSTER],
  ['a Listener with an HttpConnectionManager using RDS', 'envoy.config.listener.v3.Listener', LISTENER],
  ['a RouteConfiguration (weighted clusters, retries, regex, direct response)', 'envoy.config.route.v3.RouteConfiguration', ROUTE_CONFIGURATION],
  ['a ClusterLoadAssignment (localities, priorities, weights, health)', 'envoy.config.endpoint.v3.ClusterLoadAssignment', CLUSTER_LOAD_ASSIGNMENT],
];

for (const [what, typeName, json] of SAMPLES) {
  t.test(`round trip: ${what}`, async (t) => {
    const bytes = encodeJson(typeName, json);
    t.ok(bytes.length > 0);
    t.same(decodeBinary(typeName, bytes), decodeJson(typeName, json));
  });
}

t.test('encodeAny wraps the message with its canonical type URL, as xDS resources are sent', async (t) => {
  const any = encodeAny('envoy.config.cluster.v3.Cluster', CLUSTER);
  t.equal(any.type_url, typeUrlOf('envoy.config.cluster.v3.Cluster'));
  t.same(decodeAny(any), { '@type': any.type_url, ...decodeJson('envoy.config.cluster.v3.Cluster', CLUSTER) });
});

t.test('camelCase names, {value: N} wrappers and numeric enums encode like their canonical forms', async (t) => {
  const canonical = encodeJson('envoy.config.cluster.v3.Cluster', {
    name: 'c', connect_timeout: '1s', lb_policy: 'RANDOM', per_connection_buffer_limit_bytes: 1024,
  });
  const variant = encodeJson('envoy.config.cluster.v3.Cluster', {
    name: 'c', connectTimeout: '1s', lbPolicy: 3, perConnectionBufferLimitBytes: { value: 1024 },
  });
  t.same(Buffer.from(variant), Buffer.from(canonical));
});

t.test('durations keep their sign and sub-millisecond precision', async (t) => {
  const typeName = 'google.protobuf.Duration';
  for (const d of ['1.000000001s', '-1.5s', '-0.000001s', '0.000001s', '315576000000s']) {
    t.same(decodeBinary(typeName, encodeJson(typeName, d)), decodeJson(typeName, d), d);
  }
});

t.test('invalid JSON is a ConfigError naming every problem by path', async (t) => {
  const err = t.throws(() =>
    encodeJson('envoy.config.cluster.v3.Cluster', {
      name: 'c',
      connect_timeout: '5 seconds',
      lb_policy: 'FASTEST',
      load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { port_value: 70000 } } } }] }] },
    }),
  ) as ConfigError;
  t.type(err, ConfigError);
  const paths = err.issues.map((i) => i.path);
  t.ok(paths.includes('connect_timeout'), paths.join());
  t.ok(paths.includes('lb_policy'), paths.join());
  t.ok(paths.some((p) => p.startsWith('load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address')), paths.join());
});

t.test('an unknown message type is a caller bug, not a config error', async (t) => {
  t.throws(() => encodeJson('envoy.config.cluster.v3.Nope', {}), { message: /unknown protobuf message type/ });
});
