import t from 'tap';
import { decodeJson } from '../../xds/proto-json';
import { envoyRoot, lookupMessageType, typeNameOf, typeUrlOf } from '../../xds/envoy-protos';
import { issuesOf } from '../helpers/config-issues';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const HCM_URL = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const HCM_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';

/** The issues of the ConfigError `fn` throws; fails the test if it throws anything else. */
function socket(address: string, port: number) {
  return { socket_address: { address, port_value: port } };
}

/**
 * A bootstrap with one listener (HCM + router) and one STATIC cluster; `hcm` patches the HCM.
 * `values` are what decoding normalizes (two Durations and a UInt32Value wrapper), by default as
 * JSON writes them; in their decoded form (milliseconds, the number) it is what decoding returns.
 */
function bootstrap(
  hcm: Record<string, unknown> = {},
  cluster: Record<string, unknown> = {},
  values: Record<'routeTimeout' | 'connectTimeout' | 'localityWeight', unknown> = { routeTimeout: '1.5s', connectTimeout: '0.25s', localityWeight: { value: 3 } },
) {
  return {
    node: { id: 'sidecar-1', cluster: 'demo' },
    admin: { address: socket('127.0.0.1', 9901) },
    static_resources: {
      listeners: [
        {
          name: 'ingress',
          address: socket('0.0.0.0', 10000),
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM_URL,
                    stat_prefix: 'ingress_http',
                    codec_type: 'AUTO',
                    route_config: {
                      name: 'local_route',
                      virtual_hosts: [
                        {
                          name: 'backend',
                          domains: ['*'],
                          routes: [{ match: { prefix: '/' }, route: { cluster: 'backend', timeout: values.routeTimeout } }],
                        },
                      ],
                    },
                    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_URL } }],
                    ...hcm,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'backend',
          connect_timeout: values.connectTimeout,
          type: 'STATIC',
          lb_policy: 'ROUND_ROBIN',
          load_assignment: {
            cluster_name: 'backend',
            endpoints: [
              {
                locality: { region: 'eu-west-1', zone: 'eu-west-1a' },
                load_balancing_weight: values.localityWeight,
                lb_endpoints: [
                  { endpoint: { address: socket('127.0.0.1', 8080) }, load_balancing_weight: 2 },
                  { endpoint: { address: socket('127.0.0.1', 8081) } },
                ],
              },
            ],
          },
          ...cluster,
        },
      ],
    },
  };
}

t.test('envoy-protos: root, type lookup and type URLs', async (t) => {
  t.ok(envoyRoot().lookupType(CLUSTER), 'Cluster is loaded');
  t.ok(lookupMessageType('envoy.extensions.filters.http.router.v3.Router'));
  t.ok(lookupMessageType('.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'), 'leading dot accepted');
  t.equal(lookupMessageType('envoy.config.cluster.v3.Nope'), undefined);
  t.equal(lookupMessageType('envoy.config.cluster.v3'), undefined, 'a namespace is not a message');
  t.equal(typeUrlOf(CLUSTER), 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  t.equal(typeNameOf('type.googleapis.com/envoy.config.cluster.v3.Cluster'), CLUSTER);
  t.equal(typeNameOf('example.com/a/b/x.y.Z'), 'x.y.Z');
  t.equal(envoyRoot(), envoyRoot(), 'singleton');
});

t.test('a realistic bootstrap decodes to the normalized form', async (t) => {
  const out = decodeJson(BOOTSTRAP, bootstrap());
  t.strictSame(out, bootstrap({}, {}, { routeTimeout: 1500, connectTimeout: 250, localityWeight: 3 }));
});

t.test('lowerCamelCase json names are accepted and normalized to proto names', async (t) => {
  const out = decodeJson(CLUSTER, {
    name: 'c',
    connectTimeout: '2s',
    lbPolicy: 'LEAST_REQUEST',
    loadAssignment: {
      clusterName: 'c',
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '::1', portValue: 80 } } } }] }],
    },
  });
  t.strictSame(out, {
    name: 'c',
    connect_timeout: 2000,
    lb_policy: 'LEAST_REQUEST',
    load_assignment: {
      cluster_name: 'c',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '::1', port_value: 80 } } } }] }],
    },
  });
});

t.test('the same field given by both names is an issue', async (t) => {
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', connect_timeout: '1s', connectTimeout: '2s' })), [
    { path: 'connectTimeout', message: 'field "connect_timeout" is given twice, as "connect_timeout" and "connectTimeout"' },
  ]);
});

t.test('an unknown field deep inside typed_config is reported with its full path', async (t) => {
  const doc = bootstrap();
  const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config as any;
  hcm.route_config.virtual_hosts.push({
    name: 'second',
    domains: ['api.example.com'],
    routes: [{ match: { prefix: '/', prefx: '/typo' }, route: { cluster: 'backend' } }],
  });
  t.strictSame(issuesOf(() => decodeJson(BOOTSTRAP, doc)), [
    { path: `${HCM_PATH}.route_config.virtual_hosts[1].routes[0].match.prefx`, message: 'unknown field "prefx"' },
  ]);
});

t.test('all issues are reported, not just the first', async (t) => {
  const issues = issuesOf(() =>
    decodeJson(
      BOOTSTRAP,
      bootstrap(
        { stat_prefix: 42, codec_type: 'HTTP9' },
        { connect_timeout: '250ms', lb_policy: 99, bogus: true, name: '' },
      ),
    ),
  );
  t.strictSame(issues, [
    { path: `${HCM_PATH}.stat_prefix`, message: 'expected a string, got number' },
    {
      path: `${HCM_PATH}.codec_type`,
      message:
        'unknown value "HTTP9" for enum envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.CodecType; expected one of AUTO, HTTP1, HTTP2, HTTP3',
    },
    { path: 'static_resources.clusters[0].connect_timeout', message: 'expected a duration like "1s" or "0.25s", got "250ms"' },
    {
      path: 'static_resources.clusters[0].lb_policy',
      message: 'unknown value 99 for enum envoy.config.cluster.v3.Cluster.LbPolicy; expected one of ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, MAGLEV, CLUSTER_PROVIDED, LOAD_BALANCING_POLICY_CONFIG',
    },
    { path: 'static_resources.clusters[0].bogus', message: 'unknown field "bogus"' },
    // Rules are checked after the message's fields are decoded. stat_prefix also violates
    // min_len (it is not a valid string), but only its type error is reported.
    { path: 'static_resources.clusters[0].name', message: 'value length must be at least 1' },
  ]);
  const err = (() => {
    try {
      decodeJson(CLUSTER, { name: 1 });
    } catch (e) {
      return e as Error;
    }
  })();
  t.equal(err?.message, 'name: expected a string, got number', 'the error message lists path: message');
});

t.test('durations', async (t) => {
  const timeout = (v: unknown) => decodeJson('envoy.config.route.v3.RouteAction', { cluster: 'c', timeout: v }).timeout;
  t.equal(timeout('1s'), 1000);
  t.equal(timeout('0.250s'), 250);
  t.equal(timeout('0s'), 0);
  t.equal(timeout('-1.5s'), -1500);
  t.equal(timeout('0.000001s'), 0.001, 'sub-millisecond precision is kept');
  t.equal(timeout('3600s'), 3_600_000);
  for (const [v, got] of [
    ['1000ms', '"1000ms"'],
    ['1', '"1"'],
    ['1.s', '"1.s"'],
    [5, 'number 5'],
    [{ seconds: 1 }, 'object'],
  ] as const) {
    t.strictSame(
      issuesOf(() => timeout(v)),
      [{ path: 'timeout', message: `expected a duration like "1s" or "0.25s", got ${got}` }],
      `rejects ${JSON.stringify(v)}`,
    );
  }
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', connect_timeout: '0s' })), [
    { path: 'connect_timeout', message: 'value must be greater than 0s' },
  ], 'PGV duration.gt');
});

t.test('enums accept names and numbers and normalize to names', async (t) => {
  t.equal(decodeJson(CLUSTER, { name: 'c', type: 'STRICT_DNS' }).type, 'STRICT_DNS');
  t.equal(decodeJson(CLUSTER, { name: 'c', type: 1 }).type, 'STRICT_DNS');
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', type: true })), [
    { path: 'type', message: 'expected an enum value name (envoy.config.cluster.v3.Cluster.DiscoveryType), got boolean' },
  ]);
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', type: 'strict_dns' })).map((i) => i.path), ['type'], 'names are case-sensitive');
});

t.test('integers, floats, bools, bytes and type mismatches', async (t) => {
  const addr = (v: unknown) => decodeJson('envoy.config.core.v3.SocketAddress', { address: 'a', port_value: v }).port_value;
  t.equal(addr(8080), 8080);
  t.equal(addr('8080'), 8080, 'decimal strings are integers in the JSON mapping');
  t.strictSame(issuesOf(() => addr(80.5)), [{ path: 'port_value', message: 'expected an integer, got 80.5' }]);
  t.strictSame(issuesOf(() => addr('80x')), [{ path: 'port_value', message: 'expected an integer, got "80x"' }]);
  t.strictSame(issuesOf(() => addr(-1)), [{ path: 'port_value', message: '-1 is out of range for uint32 (0 to 4294967295)' }]);
  t.strictSame(issuesOf(() => addr(70000)), [{ path: 'port_value', message: 'value must be less than or equal to 65535' }], 'PGV uint32.lte');
  t.strictSame(issuesOf(() => addr(true)), [{ path: 'port_value', message: 'expected an integer, got boolean' }]);

  const ring = (v: unknown) => decodeJson('envoy.config.cluster.v3.Cluster.RingHashLbConfig', { minimum_ring_size: v }).minimum_ring_size;
  t.equal(ring('1024'), 1024, 'uint64 wrapper from a string');
  t.strictSame(issuesOf(() => ring('9007199254740993')), [
    { path: 'minimum_ring_size', message: '9007199254740993 is too large: meshlet supports integers up to 9007199254740991' },
  ]);

  const percent = (v: unknown) => decodeJson('envoy.type.v3.Percent', { value: v }).value;
  t.equal(percent(12.5), 12.5);
  t.equal(percent('12.5'), 12.5);
  t.strictSame(issuesOf(() => percent('Infinity')), [{ path: 'value', message: 'value must be inside range [0, 100]' }], 'special floats parse, then PGV applies');
  t.strictSame(issuesOf(() => percent('lots')), [{ path: 'value', message: 'expected a number, got "lots"' }]);

  const cluster = decodeJson(CLUSTER, { name: 'c', respect_dns_ttl: true });
  t.equal(cluster.respect_dns_ttl, true);
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', respect_dns_ttl: 'true' })), [
    { path: 'respect_dns_ttl', message: 'expected a boolean, got string' },
  ]);

  const ds = (v: unknown) => decodeJson('envoy.config.core.v3.DataSource', { inline_bytes: v }).inline_bytes;
  t.strictSame(ds('aGk/Pw=='), Buffer.from('hi??'));
  t.strictSame(ds('aGk_Pw'), Buffer.from('hi??'), 'URL-safe, unpadded');
  t.strictSame(issuesOf(() => ds('not base64!')), [{ path: 'inline_bytes', message: 'expected a base64 string, got invalid base64' }]);

  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.VirtualHost', { name: 'v', domains: '*' })), [
    { path: 'domains', message: 'expected an array, got string' },
  ]);
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', load_assignment: 'x' })), [
    { path: 'load_assignment', message: 'expected an object (envoy.config.endpoint.v3.ClusterLoadAssignment), got string' },
  ]);
  t.strictSame(issuesOf(() => decodeJson(BOOTSTRAP, [])), [{ path: '', message: 'expected an object (envoy.config.bootstrap.v3.Bootstrap), got array' }]);
  t.throws(() => decodeJson('no.such.Type', {}), /unknown protobuf message type "no.such.Type"/, 'an unknown type name is a programming error');
});

t.test('null means absent, except for google.protobuf.Value', async (t) => {
  t.strictSame(decodeJson(CLUSTER, { name: 'c', load_assignment: null, type: null, health_checks: null }), { name: 'c' });
  t.strictSame(decodeJson('google.protobuf.Value', null), null);
  t.strictSame(decodeJson('google.protobuf.Struct', { a: null, b: [1, 'x', { c: true }] }), { a: null, b: [1, 'x', { c: true }] });
  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.VirtualHost', { name: 'v', domains: ['a', null] })), [
    { path: 'domains[1]', message: 'expected a string, got null' },
  ]);
});

t.test('wrappers: plain values and {value: X}', async (t) => {
  const out = decodeJson(CLUSTER, {
    name: 'c',
    per_connection_buffer_limit_bytes: 32768,
    common_lb_config: { healthy_panic_threshold: { value: 25 } },
    ignore_health_on_host_removal: false,
    circuit_breakers: { thresholds: [{ max_retries: { value: '3' }, retry_budget: { budget_percent: { value: 20.5 } } }] },
  });
  t.equal(out.per_connection_buffer_limit_bytes, 32768);
  t.strictSame(out.common_lb_config, { healthy_panic_threshold: { value: 25 } }, 'Percent is a message, not a wrapper');
  t.equal(out.circuit_breakers.thresholds[0].max_retries, 3);
  t.equal(out.circuit_breakers.thresholds[0].retry_budget.budget_percent.value, 20.5);
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', per_connection_buffer_limit_bytes: { val: 1 } })), [
    { path: 'per_connection_buffer_limit_bytes.val', message: 'unknown field "val"' },
    { path: 'per_connection_buffer_limit_bytes', message: 'expected a uint32 (or {value: ...}), got object' },
  ]);
  t.strictSame(
    issuesOf(() => decodeJson('envoy.config.endpoint.v3.LbEndpoint', { load_balancing_weight: 0 })),
    [{ path: 'load_balancing_weight', message: 'value must be greater than or equal to 1' }],
    'PGV rules apply to the wrapped value',
  );
});

t.test('maps, Struct metadata, Timestamp, FieldMask, Empty', async (t) => {
  const out = decodeJson(CLUSTER, {
    name: 'c',
    metadata: { filter_metadata: { 'envoy.lb': { canary: true, version: 'v2', weight: 1.5, tags: ['a', 'b'] } } },
  });
  t.strictSame(out.metadata, { filter_metadata: { 'envoy.lb': { canary: true, version: 'v2', weight: 1.5, tags: ['a', 'b'] } } });
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', metadata: { filter_metadata: { 'envoy.lb': 'x' } } })), [
    { path: 'metadata.filter_metadata["envoy.lb"]', message: 'expected an object, got string' },
  ]);
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', metadata: { filter_metadata: [] } })), [
    { path: 'metadata.filter_metadata', message: 'expected an object (map), got array' },
  ]);

  t.equal(decodeJson('google.protobuf.Timestamp', '1970-01-01T00:00:01.5Z'), 1500);
  t.equal(decodeJson('google.protobuf.Timestamp', '2024-02-29T01:00:00+01:00'), Date.UTC(2024, 1, 29));
  t.strictSame(issuesOf(() => decodeJson('google.protobuf.Timestamp', '2023-02-29T00:00:00Z')).map((i) => i.path), ['']);
  t.strictSame(decodeJson('google.protobuf.FieldMask', 'a.fooBar,baz'), ['a.foo_bar', 'baz']);
  t.strictSame(decodeJson('google.protobuf.Empty', {}), {});
  t.strictSame(issuesOf(() => decodeJson('google.protobuf.Empty', { x: 1 })), [{ path: 'x', message: 'unknown field "x"' }]);
});

t.test('Any: embedded message with @type, well-known payloads, unsupported and missing @type', async (t) => {
  t.strictSame(decodeJson('google.protobuf.Any', { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1.5s' }), {
    '@type': 'type.googleapis.com/google.protobuf.Duration',
    value: 1500,
  });
  t.strictSame(
    decodeJson('google.protobuf.Any', { '@type': 'example.com/custom/envoy.extensions.filters.http.router.v3.Router', suppress_envoy_headers: true }),
    { '@type': ROUTER_URL, suppress_envoy_headers: true },
    'any URL prefix is accepted; @type is normalized to type.googleapis.com',
  );

  const filterPath = `${HCM_PATH}.http_filters[0].typed_config`;
  t.strictSame(
    issuesOf(() =>
      decodeJson(BOOTSTRAP, bootstrap({ http_filters: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/x.y.Z', a: 1 } }] })),
    ),
    [{ path: `${filterPath}.@type`, message: 'unsupported type "x.y.Z"' }],
  );
  t.match(issuesOf(() => decodeJson(BOOTSTRAP, bootstrap({ http_filters: [{ name: 'x', typed_config: { suppress_envoy_headers: true } }] }))), [
    { path: filterPath, message: /^missing "@type"/ },
  ]);
  t.strictSame(issuesOf(() => decodeJson('google.protobuf.Any', { '@type': 'Router' })), [
    { path: '@type', message: 'invalid type URL "Router"; expected "type.googleapis.com/<message type>"' },
  ]);
  t.strictSame(issuesOf(() => decodeJson('google.protobuf.Any', { '@type': ROUTER_URL, dynamic_stats: 'yes' })), [
    { path: 'dynamic_stats', message: 'expected a boolean, got string' },
  ]);
});

t.test('oneof conflicts name both fields', async (t) => {
  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.RouteMatch', { prefix: '/', path: '/exact' })), [
    { path: 'path', message: '"prefix" and "path" cannot both be set: they are alternatives of oneof "path_specifier"' },
  ]);
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', type: 'EDS', clusterType: { name: 'x' } })), [
    { path: 'clusterType', message: '"type" and "clusterType" cannot both be set: they are alternatives of oneof "cluster_discovery_type"' },
  ]);
});

t.test('protoc-gen-validate rules', async (t) => {
  t.strictSame(issuesOf(() => decodeJson(BOOTSTRAP, bootstrap({}, { name: '' }))), [
    { path: 'static_resources.clusters[0].name', message: 'value length must be at least 1' },
  ], 'string.min_len on an empty name');
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, {})), [{ path: 'name', message: 'value length must be at least 1' }], 'an absent scalar is checked as its default, as in PGV');
  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.Route', { route: { cluster: 'c' } })), [
    { path: 'match', message: 'value is required' },
  ], 'message.required');
  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.Route', { match: { prefix: '/' } })), [
    { path: '', message: 'one of "route", "redirect", "direct_response", "filter_action", "non_forwarding_action" is required (oneof action)' },
  ], 'oneof (validate.required)');
  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.VirtualHost', { name: 'v', domains: [] })), [
    { path: 'domains', message: 'value must contain at least 1 item(s)' },
  ], 'repeated.min_items');
  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.VirtualHost', { name: 'v', domains: ['ok', 'bad\nhost'] })), [
    { path: 'domains[1]', message: 'value must be a valid HTTP header value' },
  ], 'repeated.items with well_known_regex');
  t.strictSame(issuesOf(() => decodeJson('xds.type.matcher.v3.Matcher.MatcherTree.MatchMap', { map: {} })), [
    { path: 'map', message: 'value must contain at least 1 pair(s)' },
  ], 'map.min_pairs');
  t.strictSame(issuesOf(() => decodeJson('envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher', { san_type: 'SAN_TYPE_UNSPECIFIED', matcher: { exact: 'a' } })), [
    { path: 'san_type', message: 'value must not be in list [SAN_TYPE_UNSPECIFIED]' },
  ], 'enum.not_in');
  t.strictSame(issuesOf(() => decodeJson('envoy.config.core.v3.TypedExtensionConfig', { name: 'x' })), [
    { path: 'typed_config', message: 'value is required' },
  ], 'any.required');
  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.RouteMatch', { safe_regex: {} })), [
    { path: 'safe_regex.regex', message: 'value length must be at least 1' },
  ], 'rules of a set oneof member apply; unset members are not "required"');
  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.RouteAction', { cluster: '' })), [
    { path: 'cluster', message: 'value length must be at least 1' },
  ], 'a oneof member set to its default is still checked');
  // Rules at depth inside a typed_config, reported with the user's spelling of the key.
  t.strictSame(issuesOf(() => decodeJson(BOOTSTRAP, bootstrap({ statPrefix: '', stat_prefix: undefined }))), [
    { path: `${HCM_PATH}.statPrefix`, message: 'value length must be at least 1' },
  ]);
});

t.test('map keys with dots are quoted in paths', async (t) => {
  const vh = {
    name: 'v',
    domains: ['*'],
    typed_per_filter_config: {
      'envoy.filters.http.router': { '@type': ROUTER_URL, nope: 1 },
      simple_key: { '@type': ROUTER_URL, nope: 2 },
    },
  };
  t.strictSame(issuesOf(() => decodeJson('envoy.config.route.v3.VirtualHost', vh)), [
    { path: 'typed_per_filter_config["envoy.filters.http.router"].nope', message: 'unknown field "nope"' },
    { path: 'typed_per_filter_config.simple_key.nope', message: 'unknown field "nope"' },
  ]);
  t.strictSame(decodeJson('envoy.config.route.v3.VirtualHost', { ...vh, typed_per_filter_config: { 'envoy.filters.http.router': { '@type': ROUTER_URL } } }).typed_per_filter_config, {
    'envoy.filters.http.router': { '@type': ROUTER_URL },
  });
});

t.test('deprecated fields are accepted', async (t) => {
  const out = decodeJson('envoy.config.route.v3.RouteAction', { cluster: 'c', include_vh_rate_limits: true });
  t.equal(out.include_vh_rate_limits, true);
});

t.test('the path argument prefixes every issue', async (t) => {
  t.strictSame(issuesOf(() => decodeJson(CLUSTER, { name: 'c', foo: 1 }, 'resources[3]')), [
    { path: 'resources[3].foo', message: 'unknown field "foo"' },
  ]);
});

t.test('performance: a bootstrap with 1000 clusters decodes well under a second', async (t) => {
  const doc = bootstrap();
  const template = doc.static_resources.clusters[0];
  doc.static_resources.clusters = Array.from({ length: 1000 }, (_, i) => ({ ...template, name: `backend-${i}` }));
  decodeJson(BOOTSTRAP, doc); // warm the per-type caches
  const start = process.hrtime.bigint();
  const out = decodeJson(BOOTSTRAP, doc);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.equal(out.static_resources.clusters.length, 1000);
  t.ok(ms < 500, `took ${ms.toFixed(1)} ms`);
});
