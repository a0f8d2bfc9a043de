/**
 * Encodes Envoy config written in the proto3 JSON mapping into protobuf binary: the mirror of
 * proto-json.ts, for a control plane that writes resources as users do ("1s" durations, "@type"
 * in Any, wrappers as plain values, enums by name) and must put them on the wire.
 *
 * The JSON is first run through decodeJson, which validates it against the real protos (every
 * problem with its path, as a ConfigError) and yields the normalized form; that form is then
 * mapped to the object shape protobufjs's `Type.fromObject` expects (Durations as
 * seconds/nanos, wrappers as {value}, Struct as fields of Values, Any as type_url + bytes).
 * So `decodeBinary(encodeJson(t, x))` equals `decodeJson(t, x)`.
 */
import * as protobuf from 'protobufjs';
import { lookupMessageType, typeNameOf, typeUrlOf } from './envoy-protos';
import { decodeJson } from './proto-json';
import { hasOwn, jsonNameOf, schemaOf, type FieldInfo, type ValueType } from './proto-schema';

/** An xDS resource as it goes into DiscoveryResponse.resources. */
export interface EncodedAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

/**
 * Encodes `protoJson` (parsed JSON or YAML) as the message `typeName`.
 * @throws ConfigError with every issue found in the JSON
 * @throws Error if typeName is not a known message type (a bug in the caller)
 */
export function encodeJson(typeName: string, protoJson: unknown): Uint8Array {
  const type = knownType(typeName);
  return encodeNormalized(type, decodeJson(typeName, protoJson));
}

/** Encodes `protoJson` as `typeName`, wrapped as an Any (an xDS resource). */
export function encodeAny(typeName: string, protoJson: unknown): EncodedAny {
  return { type_url: typeUrlOf(knownType(typeName).fullName.slice(1)), value: encodeJson(typeName, protoJson) };
}

/**
 * Encodes a value already in decodeJson's normalized form (for callers that kept the decoded
 * form to inspect it, so the JSON is not decoded twice).
 */
export function encodeDecoded(typeName: string, normalized: unknown): Uint8Array {
  return encodeNormalized(knownType(typeName), normalized);
}

function knownType(typeName: string): protobuf.Type {
  const type = lookupMessageType(typeName);
  if (!type) throw new Error(`unknown protobuf message type "${typeName}"`);
  return type;
}

function encodeNormalized(type: protobuf.Type, normalized: unknown): Uint8Array {
  return type.encode(type.fromObject(toProtobufObject(type, normalized))).finish();
}

type Plain = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Normalized form → protobufjs object (proto field names, which the keepCase root uses)

function toProtobufObject(type: protobuf.Type, normalized: unknown): Plain {
  const wkt = WELL_KNOWN[type.fullName];
  if (wkt) return wkt(normalized, type);
  const message = normalized as Plain;
  const out: Plain = {};
  for (const info of schemaOf(type).fields) {
    if (hasOwn(message, info.name) && message[info.name] !== undefined) out[info.name] = fieldValue(info, message[info.name]);
  }
  return out;
}

function fieldValue(info: FieldInfo, v: unknown): unknown {
  if (info.mapKey !== undefined) {
    return Object.fromEntries(Object.entries(v as Plain).map(([key, item]) => [key, singleValue(info.value, item)]));
  }
  if (info.repeated) return (v as unknown[]).map((item) => singleValue(info.value, item));
  return singleValue(info.value, v);
}

/** Enums stay names and scalars stay as they are: fromObject converts both. */
function singleValue(vt: ValueType, v: unknown): unknown {
  return vt.kind === 'message' ? toProtobufObject(vt.message, v) : v;
}

// ---------------------------------------------------------------------------------------------
// Well-known types

type WellKnownEncoder = (normalized: unknown, type: protobuf.Type) => Plain;

const WRAPPERS = [
  'DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue',
];

const WELL_KNOWN: Readonly<Record<string, WellKnownEncoder>> = {
  '.google.protobuf.Any': anyObject,
  '.google.protobuf.Duration': (ms) => durationObject(ms as number),
  '.google.protobuf.Timestamp': (ms) => timestampObject(ms as number),
  '.google.protobuf.Struct': (v, type) => structObject(v as Plain, type),
  '.google.protobuf.Value': (v, type) => valueObject(v, type),
  '.google.protobuf.ListValue': (v, type) => listObject(v as unknown[], type),
  '.google.protobuf.Empty': () => ({}),
  '.google.protobuf.FieldMask': (paths) => ({ paths }),
  ...Object.fromEntries(WRAPPERS.map((name): [string, WellKnownEncoder] => [`.google.protobuf.${name}`, (value) => ({ value })])),
};

/** The normalized Any is the embedded message plus '@type' (or '@type' + value for a well-known type). */
function anyObject(normalized: unknown): Plain {
  const { '@type': url, ...fields } = normalized as Plain;
  const embedded = knownType(typeNameOf(url as string));
  const inner = WELL_KNOWN[embedded.fullName] ? fields.value : fields;
  return { type_url: url, value: encodeNormalized(embedded, inner) };
}

/** Milliseconds (possibly fractional, possibly negative) → seconds and nanos of the same sign. */
function durationObject(ms: number): Plain {
  const seconds = Math.trunc(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return { seconds, nanos };
}

/** Milliseconds since the epoch → seconds and non-negative nanos, as Timestamp requires. */
function timestampObject(ms: number): Plain {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos === 1e9 ? { seconds: seconds + 1, nanos: 0 } : { seconds, nanos };
}

function structObject(v: Plain, type: protobuf.Type): Plain {
  const valueType = type.fields.fields.resolve().resolvedType as protobuf.Type;
  return { fields: Object.fromEntries(Object.entries(v).map(([key, item]) => [key, valueObject(item, valueType)])) };
}

function listObject(v: unknown[], type: protobuf.Type): Plain {
  const valueType = type.fields.values.resolve().resolvedType as protobuf.Type;
  return { values: v.map((item) => valueObject(item, valueType)) };
}

/** google.protobuf.Value from plain JSON. */
function valueObject(v: unknown, type: protobuf.Type): Plain {
  const kind = (name: string, value: unknown): Plain => ({ [kindField(type, name)]: value });
  if (v === null) return kind('null_value', 'NULL_VALUE');
  if (typeof v === 'number') return kind('number_value', v);
  if (typeof v === 'string') return kind('string_value', v);
  if (typeof v === 'boolean') return kind('bool_value', v);
  const nested = (field: string) => type.fields[kindField(type, field)].resolve().resolvedType as protobuf.Type;
  if (Array.isArray(v)) return kind('list_value', listObject(v, nested('list_value')));
  return kind('struct_value', structObject(v as Plain, nested('struct_value')));
}

/** protobufjs's bundled struct.proto names Value's fields in camelCase even with keepCase. */
function kindField(type: protobuf.Type, snake: string): string {
  return type.fields[snake] ? snake : jsonNameOf(snake);
}
