/**
 * The Envoy v3 API, loaded by reflection from the .proto files that ship with
 * @grpc/grpc-js-xds, so meshlet validates configs against the real schema instead of
 * a hand-written subset that drifts from Envoy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/**
 * Entry-point files; everything they import is loaded too. Add a file here to make its
 * messages usable as typed_config / xDS resources. Files missing from the installed
 * deps version are skipped, so a grpc-js-xds upgrade that drops one does not break startup.
 */
export const ENVOY_PROTO_FILES: readonly string[] = [
  // Must come first: the (validate.rules) options in every Envoy file are only parsed
  // into readable objects when the extension definitions are known.
  'validate/validate.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/buffer/v3/buffer.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/health_check/v3/health_check.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/resource_monitors/downstream_connections/v3/downstream_connections.proto',
  'envoy/extensions/resource_monitors/fixed_heap/v3/fixed_heap.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  // Not imported by the files above, but part of the JSON mapping (and cheap: bundled).
  'google/protobuf/field_mask.proto',
  // Control planes and users wrap untyped extension configs in these.
  'xds/type/v3/typed_struct.proto',
  'udpa/type/v1/typed_struct.proto',
];

const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** Include dirs, in the order protoc would be given them. */
function includeDirs(): string[] {
  const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  // protobufjs bundles any/duration/struct/... itself, but descriptor.proto (imported by
  // validate.proto and the udpa annotations) is only available as a file in its package.
  const protobufjsDir = path.dirname(require.resolve('protobufjs/package.json'));
  return [
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    protobufjsDir,
  ];
}

function findInIncludeDirs(dirs: readonly string[], target: string): string | null {
  // google/protobuf/{any,duration,struct,...}.proto are compiled into protobufjs; returning the
  // bare name lets loadSync use those bundled definitions.
  if (Object.prototype.hasOwnProperty.call(protobuf.common, target)) return target;
  if (path.isAbsolute(target)) return fs.existsSync(target) ? target : null;
  for (const dir of dirs) {
    const candidate = path.join(dir, target);
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

function buildRoot(): protobuf.Root {
  const dirs = includeDirs();
  const root = new protobuf.Root();
  // Imports in the Envoy protos are relative to the include dirs, not to the importing file.
  root.resolvePath = (_origin, target) => findInIncludeDirs(dirs, target);
  const files = ENVOY_PROTO_FILES.filter((f) => findInIncludeDirs(dirs, f) !== null);
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

let rootSingleton: protobuf.Root | undefined;

/** The shared root with all Envoy types; built on first use (~0.1–0.3 s) and cached. */
export function envoyRoot(): protobuf.Root {
  if (!rootSingleton) rootSingleton = buildRoot();
  return rootSingleton;
}

// Negative results are cached too: a control plane repeating an unsupported type URL
// should not walk the namespace tree every time.
const typeCache = new Map<string, protobuf.Type | null>();

/** The message type with this full name (leading dot optional), or undefined. */
export function lookupMessageType(typeName: string): protobuf.Type | undefined {
  const name = typeName.startsWith('.') ? typeName.slice(1) : typeName;
  let type = typeCache.get(name);
  if (type === undefined) {
    const found = name === '' ? null : envoyRoot().lookup(name);
    type = found instanceof protobuf.Type ? found : null;
    typeCache.set(name, type);
  }
  return type ?? undefined;
}

/** `envoy.config.cluster.v3.Cluster` → `type.googleapis.com/envoy.config.cluster.v3.Cluster`. */
export function typeUrlOf(typeName: string): string {
  return TYPE_URL_PREFIX + (typeName.startsWith('.') ? typeName.slice(1) : typeName);
}

/**
 * The full type name of a type URL. As in protobuf's JSON mapping, only the part after the
 * last "/" is significant, so non-googleapis prefixes work too.
 */
export function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}
