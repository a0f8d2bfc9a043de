/**
 * Decodes protobuf binary (xDS resources as received from a control plane) into the same
 * normalized form as proto-json.ts, and checks the same validation rules, so the rest of
 * meshlet cannot tell whether a Cluster came from a bootstrap file or from CDS.
 *
 * protobufjs does the wire decoding; this module maps its message objects (Long integers,
 * enum numbers, raw Any bytes) to the normalized form. Unknown fields on the wire are ignored,
 * as proto3 requires for forward compatibility.
 */
import * as protobuf from 'protobufjs';
import { ConfigError } from './config-error';
import { lookupMessageType, typeUrlOf } from './envoy-protos';
import {
  FieldInfo,
  Issues,
  ValueType,
  hasOwn,
  integerToNumber,
  pathIndex,
  pathKey,
  resolveTypeUrl,
  schemaOf,
  setKey,
  WRAPPER_SCALARS,
} from './proto-schema';
import { checkRules } from './proto-validate';

type Decoded = Record<string, unknown>;

/**
 * Decodes `bytes` as the message `typeName`.
 * @throws ConfigError for malformed bytes or rule violations (all issues at once)
 * @throws Error if typeName is not a known message type
 */
export function decodeBinary<T = any>(typeName: string, bytes: Uint8Array): T {
  const type = lookupMessageType(typeName);
  if (!type) throw new Error(`unknown protobuf message type "${typeName}"`);
  const issues: Issues = [];
  const message = wireDecode(type, bytes, '', issues);
  const out = message === undefined ? undefined : binMessage(type, message, '', issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return out as T;
}

/**
 * Decodes an xDS resource. The result is normalized like any other Any: the embedded message
 * plus `'@type'` (or `{ '@type', value }` for a well-known type), so a consumer can check that
 * the control plane sent the resource type it asked for.
 * @throws ConfigError for an unsupported type URL, malformed bytes or rule violations
 */
export function decodeAny<T = any>(any: { type_url: string; value: Uint8Array }): T {
  const issues: Issues = [];
  const out = binAny(any as unknown as Decoded, '', issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return out as T;
}

function wireDecode(type: protobuf.Type, bytes: Uint8Array, path: string, issues: Issues): Decoded | undefined {
  try {
    // Not type.decode(bytes): for a Buffer, protobufjs picks its BufferReader, which silently
    // truncates a string whose length runs past the end instead of failing.
    return type.decode(new protobuf.Reader(bytes)) as unknown as Decoded;
  } catch (err) {
    issues.push({ path, message: `malformed ${type.fullName.slice(1)} protobuf: ${(err as Error).message}` });
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Messages and fields

function binMessage(type: protobuf.Type, message: Decoded | null | undefined, path: string, issues: Issues): unknown {
  // A map entry may leave its message value out (valid on the wire): that is the default message.
  const m = message ?? {};
  const wkt = WELL_KNOWN[type.fullName];
  return wkt ? wkt(m, path, issues) : binFields(type, m, path, issues, {});
}

function binFields(type: protobuf.Type, message: Decoded, path: string, issues: Issues, out: Decoded): Decoded {
  const schema = schemaOf(type);
  const failed = new Set<string>();
  for (const info of schema.fields) {
    // protobufjs sets own properties only for fields seen on the wire (plus empty
    // arrays/maps from the constructor, which are treated as absent like in proto3).
    if (!hasOwn(message, info.name)) continue;
    const v = message[info.name];
    if (v === null || v === undefined) continue;
    if (info.mapKey !== undefined ? Object.keys(v as object).length === 0 : info.repeated && (v as unknown[]).length === 0) continue;
    const decoded = binField(info, v, pathKey(path, info.name), issues);
    if (decoded === undefined) failed.add(info.name);
    else out[info.name] = decoded;
  }
  // On the wire the last oneof member wins, but protobufjs keeps all of them; a sender that
  // sets two is as broken as a JSON config that does.
  for (const oneof of schema.oneofs) {
    const given = oneof.members.filter((m) => out[m] !== undefined || failed.has(m));
    if (given.length > 1) {
      issues.push({
        path: pathKey(path, given[1]),
        message: `"${given[0]}" and "${given[1]}" cannot both be set: they are alternatives of oneof "${oneof.name}"`,
      });
    }
  }
  checkRules(schema, out, path, issues, failed);
  return out;
}

function binField(info: FieldInfo, v: unknown, path: string, issues: Issues): unknown {
  if (info.mapKey !== undefined) {
    const out: Decoded = {};
    for (const [key, item] of Object.entries(v as Decoded)) {
      const normalizedKey = binMapKey(info.mapKey, key);
      const decoded = binValue(info.value, item, pathKey(path, normalizedKey), issues);
      if (decoded !== undefined) setKey(out, normalizedKey, decoded);
    }
    return out;
  }
  if (info.repeated) {
    const out: unknown[] = [];
    (v as unknown[]).forEach((item, i) => {
      const decoded = binValue(info.value, item, pathIndex(path, i), issues);
      if (decoded !== undefined) out.push(decoded);
    });
    return out;
  }
  return binValue(info.value, v, path, issues);
}

const LONG_KEY_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** protobufjs stores 64-bit map keys as 8-character "hash" strings; normalize to decimal. */
function binMapKey(scalar: string, key: string): string {
  if (!LONG_KEY_TYPES.has(scalar) || /^-?\d+$/.test(key)) return key;
  const unsigned = scalar === 'uint64' || scalar === 'fixed64';
  return protobuf.util.LongBits.fromHash(key).toLong(unsigned).toString();
}

function binValue(vt: ValueType, v: unknown, path: string, issues: Issues): unknown {
  switch (vt.kind) {
    case 'message':
      return binMessage(vt.message, v as Decoded, path, issues);
    case 'enum': {
      const name = vt.enum.valuesById[v as number];
      if (name !== undefined) return name;
      issues.push({ path, message: `unknown value ${v} for enum ${vt.enum.fullName.slice(1)}` });
      return undefined;
    }
    case 'scalar':
      return binScalar(vt.scalar, v, path, issues);
  }
}

function binScalar(scalar: string, v: unknown, path: string, issues: Issues): unknown {
  switch (scalar) {
    case 'string':
    case 'bool':
    case 'double':
      return v;
    case 'float':
      return shortestFloat32(v as number);
    case 'bytes':
      return Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array);
    default:
      return binInteger(scalar, v, path, issues);
  }
}

/** protobufjs yields 64-bit integers as Long objects (or numbers when Long is unavailable). */
function binInteger(scalar: string, v: unknown, path: string, issues: Issues): number | undefined {
  if (typeof v === 'number') return v;
  const decimal = String(v); // Long#toString honours its `unsigned` flag
  return integerToNumber(BigInt(decimal), scalar, decimal, path, issues);
}

/**
 * A float decoded from the wire is the nearest double to the float32 (0.1 → 0.10000000149...).
 * JSON configs say 0.1, so take the shortest decimal that rounds to the same float32.
 */
function shortestFloat32(f: number): number {
  if (!Number.isFinite(f)) return f;
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(f.toPrecision(digits));
    if (Math.fround(candidate) === f) return candidate;
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Well-known types: same normalized forms as the JSON mapping produces

type WellKnownDecoder = (message: Decoded, path: string, issues: Issues) => unknown;


const WRAPPER_DEFAULTS: Readonly<Record<string, unknown>> = { string: '', bool: false, bytes: Buffer.alloc(0) };

const WELL_KNOWN: Readonly<Record<string, WellKnownDecoder>> = {
  '.google.protobuf.Any': binAny,
  '.google.protobuf.Duration': (m, path, issues) => secondsAndNanosToMs(m, path, issues, 'duration'),
  '.google.protobuf.Timestamp': (m, path, issues) => secondsAndNanosToMs(m, path, issues, 'timestamp'),
  '.google.protobuf.Struct': (m) => binStruct(m),
  '.google.protobuf.Value': (m) => binJsonValue(m),
  '.google.protobuf.ListValue': (m) => binList(m),
  '.google.protobuf.Empty': () => ({}),
  '.google.protobuf.FieldMask': (m) => ((m.paths as string[] | undefined) ?? []).slice(),
  ...Object.fromEntries(
    Object.entries(WRAPPER_SCALARS).map(([name, scalar]): [string, WellKnownDecoder] => [
      name,
      // An absent `value` inside a present wrapper means the default, e.g. UInt32Value{} is 0.
      (m, path, issues) => (hasOwn(m, 'value') && m.value != null ? binScalar(scalar, m.value, path, issues) : (WRAPPER_DEFAULTS[scalar] ?? 0)),
    ]),
  ),
};

function binAny(m: Decoded, path: string, issues: Issues): unknown {
  const url = m.type_url;
  const typePath = pathKey(path, '@type');
  if (typeof url !== 'string' || url === '') {
    issues.push({ path, message: 'missing "@type": the Any has no type_url' });
    return undefined;
  }
  const type = resolveTypeUrl(url, typePath, issues);
  if (!type) return undefined;
  const value = m.value instanceof Uint8Array ? m.value : new Uint8Array(0);
  const embedded = wireDecode(type, value, path, issues);
  if (!embedded) return undefined;
  const out: Decoded = { '@type': typeUrlOf(type.fullName) };
  const wkt = WELL_KNOWN[type.fullName];
  if (!wkt) return binFields(type, embedded, path, issues, out);
  const decoded = wkt(embedded, pathKey(path, 'value'), issues);
  if (decoded === undefined) return undefined;
  out.value = decoded;
  return out;
}

const MAX_DURATION_SECONDS = 315_576_000_000;

function secondsAndNanosToMs(m: Decoded, path: string, issues: Issues, what: 'duration' | 'timestamp'): number | undefined {
  const seconds = m.seconds == null ? 0 : Number(String(m.seconds));
  const nanos = typeof m.nanos === 'number' ? m.nanos : 0;
  const badNanos = nanos <= -1e9 || nanos >= 1e9 || (what === 'duration' ? seconds * nanos < 0 : nanos < 0);
  if (badNanos || (what === 'duration' && Math.abs(seconds) > MAX_DURATION_SECONDS)) {
    issues.push({ path, message: `invalid ${what}: seconds=${seconds} nanos=${nanos}` });
    return undefined;
  }
  return seconds * 1000 + nanos / 1e6;
}

function binStruct(m: Decoded): Decoded {
  const out: Decoded = {};
  for (const [key, value] of Object.entries((m.fields as Record<string, Decoded> | undefined) ?? {})) {
    setKey(out, key, binJsonValue(value));
  }
  return out;
}

function binList(m: Decoded): unknown[] {
  return ((m.values as Decoded[] | undefined) ?? []).map(binJsonValue);
}

/**
 * protobufjs's bundled struct.proto names Value's fields in camelCase (numberValue...) even
 * with keepCase, so accept both spellings.
 */
function kindOf(m: Decoded, snake: string, camel: string): unknown {
  if (hasOwn(m, snake)) return m[snake];
  if (hasOwn(m, camel)) return m[camel];
  return undefined;
}

/** A Value with no kind set has no JSON form; null is the closest reading. */
function binJsonValue(m: Decoded): unknown {
  for (const [snake, camel] of [['number_value', 'numberValue'], ['string_value', 'stringValue'], ['bool_value', 'boolValue']]) {
    const v = kindOf(m, snake, camel);
    if (v !== undefined && v !== null) return v;
  }
  const struct = kindOf(m, 'struct_value', 'structValue');
  if (struct) return binStruct(struct as Decoded);
  const list = kindOf(m, 'list_value', 'listValue');
  if (list) return binList(list as Decoded);
  return null;
}
