import t from 'tap';
import { decodeAny, decodeBinary, decodeJson } from '../../xds/proto-json';
import { envoyRoot, typeUrlOf } from '../../xds/envoy-protos';
import { issuesOf } from '../helpers/config-issues';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** protobufjs encoding of a keepCase object, as a control plane would send it. */
function encode(typeName: string, obj: Record<string, unknown>): Uint8Array {
  const type = envoyRoot().lookupType(typeName);
  return type.encode(type.fromObject(obj)).finish();
}

function packAny(typeName: string, obj: Record<string, unknown>) {
  return { type_url: typeUrlOf(typeName), value: encode(typeName, obj) };
}

const address = { socket_address: { address: 'backend.internal', port_value: 8443 } };

/** A Cluster exercising enums, Duration, wrappers (32/64-bit, double), maps of Any, nested Any, bytes and Struct. */
const CLUSTER_PROTO = {
  name: 'backend',
  type: 'STRICT_DNS',
  connect_timeout: { seconds: 0, nanos: 250_000_000 },
  lb_policy: 'RING_HASH',
  ring_hash_lb_config: { minimum_ring_size: { value: 1024 }, hash_function: 'MURMUR_HASH_2' },
  dns_lookup_family: 'V4_ONLY',
  per_connection_buffer_limit_bytes: { value: 32768 },
  common_lb_config: { healthy_panic_threshold: { value: 50.5 } },
  outlier_detection: { consecutive_5xx: { value: 5 }, interval: { seconds: 10 } },
  typed_extension_protocol_options: {
    [HPO]: packAny(HPO, { explicit_http_config: { http2_protocol_options: { max_concurrent_streams: { value: 100 } } } }),
  },
  transport_socket: {
    name: 'envoy.transport_sockets.tls',
    typed_config: packAny(TLS, {
      sni: 'backend.internal',
      common_tls_context: {
        alpn_protocols: ['h2', 'http/1.1'],
        tls_certificates: [{ certificate_chain: { inline_bytes: Buffer.from('cert') }, private_key: { inline_string: 'key' } }],
      },
    }),
  },
  metadata: {
    filter_metadata: {
      'envoy.lb': {
        // protobufjs's bundled struct.proto spells Value's fields in camelCase, even with keepCase.
        fields: {
          canary: { boolValue: true },
          version: { stringValue: 'v1' },
          weight: { numberValue: 2 },
          tags: { listValue: { values: [{ stringValue: 'a' }, { nullValue: 0 }] } },
        },
      },
    },
  },
  load_assignment: {
    cluster_name: 'backend',
    endpoints: [
      {
        locality: { zone: 'z1' },
        load_balancing_weight: { value: 3 },
        lb_endpoints: [{ endpoint: { address }, load_balancing_weight: { value: 2 } }],
      },
    ],
  },
};

/** The same Cluster in the proto3 JSON mapping, the way a bootstrap file would hold it. */
const CLUSTER_JSON = {
  name: 'backend',
  type: 'STRICT_DNS',
  connect_timeout: '0.25s',
  lb_policy: 'RING_HASH',
  ring_hash_lb_config: { minimum_ring_size: '1024', hash_function: 'MURMUR_HASH_2' },
  dns_lookup_family: 'V4_ONLY',
  per_connection_buffer_limit_bytes: 32768,
  common_lb_config: { healthy_panic_threshold: { value: 50.5 } },
  outlier_detection: { consecutive_5xx: 5, interval: '10s' },
  typed_extension_protocol_options: {
    [HPO]: { '@type': typeUrlOf(HPO), explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100 } } },
  },
  transport_socket: {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': typeUrlOf(TLS),
      sni: 'backend.internal',
      common_tls_context: {
        alpn_protocols: ['h2', 'http/1.1'],
        tls_certificates: [{ certificate_chain: { inline_bytes: Buffer.from('cert').toString('base64') }, private_key: { inline_string: 'key' } }],
      },
    },
  },
  metadata: { filter_metadata: { 'envoy.lb': { canary: true, version: 'v1', weight: 2, tags: ['a', null] } } },
  load_assignment: {
    cluster_name: 'backend',
    endpoints: [{ locality: { zone: 'z1' }, load_balancing_weight: 3, lb_endpoints: [{ endpoint: { address }, load_balancing_weight: 2 }] }],
  },
};

t.test('binary round trip: decodeBinary gives the same normalized form as decodeJson', async (t) => {
  const fromJson = decodeJson(CLUSTER, CLUSTER_JSON);
  const fromBinary = decodeBinary(CLUSTER, encode(CLUSTER, CLUSTER_PROTO));
  t.strictSame(fromBinary, fromJson);
  // Spot-check the normalized values, so the test does not pass on two equally wrong decoders.
  t.equal(fromBinary.connect_timeout, 250);
  t.equal(fromBinary.ring_hash_lb_config.minimum_ring_size, 1024, 'UInt64Value (a Long on the wire) → number');
  t.equal(fromBinary.type, 'STRICT_DNS');
  t.equal(fromBinary.transport_socket.typed_config['@type'], typeUrlOf(TLS));
  t.strictSame(fromBinary.transport_socket.typed_config.common_tls_context.tls_certificates[0].certificate_chain.inline_bytes, Buffer.from('cert'));
  t.strictSame(fromBinary.metadata.filter_metadata['envoy.lb'], { canary: true, version: 'v1', weight: 2, tags: ['a', null] });
});

t.test('decodeAny: an xDS resource is normalized like an Any, with @type', async (t) => {
  const resource = packAny(CLUSTER, CLUSTER_PROTO);
  t.strictSame(decodeAny(resource), { '@type': typeUrlOf(CLUSTER), ...decodeJson(CLUSTER, CLUSTER_JSON) });
  t.strictSame(decodeAny(resource), decodeJson('google.protobuf.Any', { '@type': typeUrlOf(CLUSTER), ...CLUSTER_JSON }));
  t.strictSame(decodeAny({ type_url: typeUrlOf('google.protobuf.Duration'), value: encode('google.protobuf.Duration', { seconds: 2 }) }), {
    '@type': typeUrlOf('google.protobuf.Duration'),
    value: 2000,
  });
});

t.test('a DiscoveryResponse decodes with its resources normalized', async (t) => {
  const bytes = encode('envoy.service.discovery.v3.DiscoveryResponse', {
    version_info: '7',
    type_url: typeUrlOf(CLUSTER),
    nonce: 'n1',
    resources: [packAny(CLUSTER, CLUSTER_PROTO)],
  });
  const response = decodeBinary('envoy.service.discovery.v3.DiscoveryResponse', bytes);
  t.equal(response.version_info, '7');
  t.strictSame(response.resources, [decodeAny(packAny(CLUSTER, CLUSTER_PROTO))]);
});

t.test('binary resources are checked against the validation rules', async (t) => {
  t.strictSame(issuesOf(() => decodeBinary(CLUSTER, encode(CLUSTER, { type: 'EDS' }))), [{ path: 'name', message: 'value length must be at least 1' }]);
  t.strictSame(
    issuesOf(() =>
      decodeAny(
        packAny(CLUSTER, {
          name: 'c',
          connect_timeout: { seconds: 0 },
          load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ load_balancing_weight: { value: 0 } }] }] },
        }),
      ),
    ),
    [
      { path: 'load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight', message: 'value must be greater than or equal to 1' },
      { path: 'connect_timeout', message: 'value must be greater than 0s' },
    ],
  );
  t.strictSame(issuesOf(() => decodeBinary('envoy.config.route.v3.Route', encode('envoy.config.route.v3.Route', { route: { cluster: 'c' } }))), [
    { path: 'match', message: 'value is required' },
  ]);
});

t.test('unsupported type URLs, unknown enum numbers and malformed bytes are issues', async (t) => {
  t.strictSame(issuesOf(() => decodeAny({ type_url: 'type.googleapis.com/x.y.Z', value: new Uint8Array() })), [
    { path: '@type', message: 'unsupported type "x.y.Z"' },
  ]);
  t.strictSame(
    issuesOf(() =>
      decodeBinary(
        CLUSTER,
        encode(CLUSTER, { name: 'c', transport_socket: { name: 't', typed_config: { type_url: 'type.googleapis.com/x.y.Z', value: Buffer.alloc(0) } } }),
      ),
    ),
    [{ path: 'transport_socket.typed_config.@type', message: 'unsupported type "x.y.Z"' }],
  );
  // Field 2 (type), varint 42: an enum number with no name.
  t.strictSame(issuesOf(() => decodeBinary(CLUSTER, Buffer.concat([Buffer.from(encode(CLUSTER, { name: 'c' })), Buffer.from([0x10, 42])]))), [
    { path: 'type', message: 'unknown value 42 for enum envoy.config.cluster.v3.Cluster.DiscoveryType' },
  ]);
  // Field 1 (name) claims 16 bytes but only 1 follows; a Buffer, as gRPC delivers it.
  const truncated = issuesOf(() => decodeBinary(CLUSTER, Buffer.from([0x0a, 0x10, 0x61])));
  t.equal(truncated.length, 1);
  t.match(truncated[0], { path: '', message: /^malformed envoy\.config\.cluster\.v3\.Cluster protobuf: / });
  // The same inside an Any: reported at the Any's path.
  const nested = issuesOf(() =>
    decodeBinary(CLUSTER, encode(CLUSTER, { name: 'c', transport_socket: { name: 't', typed_config: { type_url: typeUrlOf(TLS), value: Buffer.from([0x0f]) } } })),
  );
  t.match(nested, [{ path: 'transport_socket.typed_config', message: /^malformed envoy\.extensions\.transport_sockets\.tls\.v3\.UpstreamTlsContext protobuf: / }]);
});

t.test('floats from the wire come back as their shortest decimal', async (t) => {
  // RuntimeFractionalPercent has no float; the FloatValue wrapper is the simplest float carrier.
  t.equal(decodeBinary('google.protobuf.FloatValue', encode('google.protobuf.FloatValue', { value: 0.1 })), 0.1);
  t.equal(decodeBinary('google.protobuf.DoubleValue', encode('google.protobuf.DoubleValue', { value: 0.1 })), 0.1);
  t.equal(decodeBinary('google.protobuf.UInt32Value', new Uint8Array()), 0, 'an empty wrapper is its default');
});

t.test('a map entry without its message value decodes as the default message, or a NACK, never a throw (fuzz finding)', async (t) => {
  const { decodeResource, CLUSTER } = await import('../../xds/xds-resource-types');
  const decode = (hex: string) => decodeResource(CLUSTER, { type_url: CLUSTER.typeUrl, value: Buffer.from(hex, 'hex') }, '1');
  // Cluster{name: "backend", metadata: {filter_metadata: {"x": <no value>}}}
  t.match(decode('0a076261636b656e64ca01050a030a0178'), { name: 'backend', value: { metadata: { filter_metadata: { x: {} } } } });
  // The same with typed_filter_metadata: an Any without a type_url is refused by path.
  t.match(decode('0a076261636b656e64ca010512030a0178'), { error: /metadata\.typed_filter_metadata\.x: missing "@type"/ });
});
