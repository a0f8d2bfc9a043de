/**
 * Decodes Envoy config written in the proto3 JSON mapping (what Envoy's own YAML/JSON
 * bootstrap loader accepts) into meshlet's normalized form:
 *
 * - messages → plain objects keyed by proto (snake_case) field names, only present fields set
 * - enums → value names; 32/64-bit integers and floats → numbers; bytes → Buffer
 * - Duration / Timestamp → milliseconds; wrappers → the plain value; Struct/Value/ListValue → JSON
 * - Any → the embedded message plus `'@type'` (canonical `type.googleapis.com/...` URL);
 *   an Any holding a well-known type is `{ '@type', value }`
 * - map → plain object; repeated → array
 *
 * Every problem is collected with its path and thrown at the end as one ConfigError, so a user
 * fixing a config sees all mistakes at once. See proto-binary.ts for the binary (xDS) decoder.
 */
import * as protobuf from 'protobufjs';
import { ConfigError } from './config-error';
import { lookupMessageType, typeUrlOf } from './envoy-protos';
import {
  FieldInfo,
  Issues,
  OneofInfo,
  ValueType,
  describeJson,
  integerToNumber,
  hasOwn,
  isPlainObject,
  pathIndex,
  pathKey,
  resolveTypeUrl,
  schemaOf,
  setKey,
  WRAPPER_SCALARS,
} from './proto-schema';
import { checkRules } from './proto-validate';

export { decodeAny, decodeBinary } from './proto-binary';

/**
 * Decodes `json` (parsed JSON or YAML) as the message `typeName` (e.g.
 * `envoy.config.bootstrap.v3.Bootstrap`). `path` prefixes every issue path, for callers that
 * decode a fragment of a larger document.
 * @throws ConfigError with every issue found
 * @throws Error if typeName is not a known message type (a bug in the caller, not the config)
 */
export function decodeJson<T = any>(typeName: string, json: unknown, path = ''): T {
  const type = lookupMessageType(typeName);
  if (!type) throw new Error(`unknown protobuf message type "${typeName}"`);
  const issues: Issues = [];
  const out = jsonMessage(type, json, path, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return out as T;
}

/** Reports a JSON value of the wrong kind; returns undefined so callers can `return mismatch(...)`. */
function mismatch(expected: string, v: unknown, path: string, issues: Issues): undefined {
  issues.push({ path, message: `expected ${expected}, got ${describeJson(v)}` });
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Messages and fields

/** Returns undefined when the value could not be decoded at all (the issue is recorded). */
function jsonMessage(type: protobuf.Type, json: unknown, path: string, issues: Issues): unknown {
  const wkt = WELL_KNOWN[type.fullName];
  if (wkt) return wkt(json, path, issues, type);
  if (!isPlainObject(json)) return mismatch(`an object (${type.fullName.slice(1)})`, json, path, issues);
  return jsonFields(type, json, path, issues, {});
}

/**
 * Decodes the fields of `json` into `out`. `out` may already hold keys (Any's '@type') and
 * those JSON keys are then skipped instead of being reported as unknown fields.
 */
function jsonFields(
  type: protobuf.Type,
  json: Record<string, unknown>,
  path: string,
  issues: Issues,
  out: Record<string, unknown>,
): Record<string, unknown> {
  const schema = schemaOf(type);
  const keyOf = new Map<string, string>(); // proto name → key as written
  const failed = new Set<string>();
  for (const key of Object.keys(json)) {
    if (hasOwn(out, key)) continue;
    const keyPath = pathKey(path, key);
    const info = schema.byJsonKey.get(key);
    if (!info) {
      issues.push({ path: keyPath, message: `unknown field "${key}"` });
      continue;
    }
    const v = json[key];
    // null means "not set" in the JSON mapping, except for Value where it is the JSON null.
    // (undefined only comes from JS callers building configs, and means the same.)
    if (v === undefined || (v === null && !isValueType(info.value))) continue;
    const earlier = keyOf.get(info.name);
    if (earlier !== undefined) {
      issues.push({ path: keyPath, message: `field "${info.name}" is given twice, as "${earlier}" and "${key}"` });
      continue;
    }
    keyOf.set(info.name, key);
    const decoded = jsonField(info, v, keyPath, issues);
    if (decoded === undefined) failed.add(info.name);
    else out[info.name] = decoded;
  }
  checkOneofs(schema.oneofs, keyOf, path, issues);
  checkRules(schema, out, path, issues, failed, keyOf);
  return out;
}

function isValueType(vt: ValueType): boolean {
  return vt.kind === 'message' && vt.message.fullName === '.google.protobuf.Value';
}

function checkOneofs(
  oneofs: readonly OneofInfo[],
  keyOf: ReadonlyMap<string, string>,
  path: string,
  issues: Issues,
): void {
  for (const oneof of oneofs) {
    // In the order the user wrote them, so "the second one" is the one to look at.
    const given = [...keyOf].filter(([name]) => oneof.members.includes(name)).map(([, key]) => key);
    if (given.length > 1) {
      issues.push({
        path: pathKey(path, given[1]),
        message: `"${given[0]}" and "${given[1]}" cannot both be set: they are alternatives of oneof "${oneof.name}"`,
      });
    }
  }
}

function jsonField(info: FieldInfo, v: unknown, path: string, issues: Issues): unknown {
  if (info.mapKey !== undefined) return jsonMap(info, v, path, issues);
  if (info.repeated) {
    if (!Array.isArray(v)) return mismatch('an array', v, path, issues);
    const out: unknown[] = [];
    v.forEach((item, i) => {
      const decoded = jsonValue(info.value, item, pathIndex(path, i), issues);
      if (decoded !== undefined) out.push(decoded);
    });
    return out;
  }
  return jsonValue(info.value, v, path, issues);
}

function jsonMap(info: FieldInfo, v: unknown, path: string, issues: Issues): Record<string, unknown> | undefined {
  if (!isPlainObject(v)) return mismatch('an object (map)', v, path, issues);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(v)) {
    const itemPath = pathKey(path, key);
    const normalizedKey = jsonMapKey(info.mapKey as string, key, itemPath, issues);
    const decoded = jsonValue(info.value, item, itemPath, issues);
    if (normalizedKey !== undefined && decoded !== undefined) setKey(out, normalizedKey, decoded);
  }
  return out;
}

/** JSON object keys are strings; integer and bool map keys must still be valid for their type. */
function jsonMapKey(scalar: string, key: string, path: string, issues: Issues): string | undefined {
  if (scalar === 'string') return key;
  if (scalar === 'bool') {
    if (key === 'true' || key === 'false') return key;
    issues.push({ path, message: `map key must be "true" or "false", got "${key}"` });
    return undefined;
  }
  const n = jsonInteger(scalar, key, path, issues);
  return n === undefined ? undefined : String(n);
}

/** One value: a singular field, a list element or a map value. */
function jsonValue(vt: ValueType, v: unknown, path: string, issues: Issues): unknown {
  switch (vt.kind) {
    case 'message':
      return jsonMessage(vt.message, v, path, issues);
    case 'enum':
      return jsonEnum(vt.enum, v, path, issues);
    case 'scalar':
      return jsonScalar(vt.scalar, v, path, issues);
  }
}

// ---------------------------------------------------------------------------------------------
// Scalars and enums

function jsonScalar(scalar: string, v: unknown, path: string, issues: Issues): unknown {
  switch (scalar) {
    case 'string':
      return typeof v === 'string' ? v : mismatch('a string', v, path, issues);
    case 'bool':
      return typeof v === 'boolean' ? v : mismatch('a boolean', v, path, issues);
    case 'bytes':
      return jsonBytes(v, path, issues);
    case 'double':
    case 'float':
      return jsonFloat(scalar, v, path, issues);
    default:
      return jsonInteger(scalar, v, path, issues);
  }
}

/** Integers may be JSON numbers or decimal strings (the mapping's form for 64-bit values). */
function jsonInteger(scalar: string, v: unknown, path: string, issues: Issues): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) {
      issues.push({ path, message: `expected an integer, got ${v}` });
      return undefined;
    }
    return integerToNumber(BigInt(v), scalar, String(v), path, issues);
  }
  if (typeof v === 'string') {
    if (!/^-?\d+$/.test(v)) {
      issues.push({ path, message: `expected an integer, got ${JSON.stringify(v)}` });
      return undefined;
    }
    return integerToNumber(BigInt(v), scalar, v, path, issues);
  }
  return mismatch('an integer', v, path, issues);
}

const FLOAT_MAX = 3.4028234663852886e38;
const NUMERIC_STRING = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function jsonFloat(scalar: string, v: unknown, path: string, issues: Issues): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    if (!NUMERIC_STRING.test(v)) {
      issues.push({ path, message: `expected a number, got ${JSON.stringify(v)}` });
      return undefined;
    }
    n = Number(v);
  } else return mismatch('a number', v, path, issues);
  if (scalar === 'float' && Number.isFinite(n) && Math.abs(n) > FLOAT_MAX) {
    issues.push({ path, message: `${v} is out of range for float` });
    return undefined;
  }
  return n;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Standard or URL-safe base64, padding optional (both are valid in the JSON mapping). */
function jsonBytes(v: unknown, path: string, issues: Issues): Buffer | undefined {
  if (typeof v !== 'string') return mismatch('a base64 string', v, path, issues);
  const unpadded = v.replace(/=+$/, '');
  if (!BASE64.test(v) || unpadded.length % 4 === 1 || (v.length !== unpadded.length && v.length % 4 !== 0)) {
    issues.push({ path, message: 'expected a base64 string, got invalid base64' });
    return undefined;
  }
  return Buffer.from(v, 'base64'); // Node's decoder also accepts the URL-safe alphabet
}

function jsonEnum(enumType: protobuf.Enum, v: unknown, path: string, issues: Issues): string | undefined {
  if (typeof v === 'string') {
    if (hasOwn(enumType.values, v)) return v;
    issues.push({ path, message: `unknown value ${JSON.stringify(v)} for enum ${enumName(enumType)}; ${expectedEnumValues(enumType)}` });
    return undefined;
  }
  if (typeof v === 'number' && Number.isInteger(v)) {
    const name = enumType.valuesById[v];
    if (name !== undefined) return name;
    issues.push({ path, message: `unknown value ${v} for enum ${enumName(enumType)}; ${expectedEnumValues(enumType)}` });
    return undefined;
  }
  return mismatch(`an enum value name (${enumName(enumType)})`, v, path, issues);
}

function enumName(enumType: protobuf.Enum): string {
  return enumType.fullName.slice(1);
}

function expectedEnumValues(enumType: protobuf.Enum): string {
  const names = Object.keys(enumType.values);
  const shown = names.slice(0, 20).join(', ');
  return `expected one of ${shown}${names.length > 20 ? ', ...' : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Well-known types, whose JSON form is not an object of their fields

type WellKnownDecoder = (json: unknown, path: string, issues: Issues, type: protobuf.Type) => unknown;


const WELL_KNOWN: Readonly<Record<string, WellKnownDecoder>> = {
  '.google.protobuf.Any': jsonAny,
  '.google.protobuf.Duration': jsonDuration,
  '.google.protobuf.Timestamp': jsonTimestamp,
  '.google.protobuf.Struct': (v, path, issues) => (isPlainObject(v) ? jsonStruct(v, path, issues) : mismatch('an object', v, path, issues)),
  '.google.protobuf.Value': jsonAnyValue,
  '.google.protobuf.ListValue': (v, path, issues) => (Array.isArray(v) ? jsonAnyValue(v, path, issues) : mismatch('an array', v, path, issues)),
  '.google.protobuf.Empty': jsonEmpty,
  '.google.protobuf.FieldMask': jsonFieldMask,
  ...Object.fromEntries(Object.entries(WRAPPER_SCALARS).map(([name, scalar]) => [name, wrapperDecoder(scalar)])),
};

/**
 * The mapping writes wrappers as the bare value, but `{value: X}` (the message's own shape)
 * is common in Envoy docs and hand-written configs, so it is accepted too.
 */
function wrapperDecoder(scalar: string): WellKnownDecoder {
  return (v, path, issues) => {
    if (isPlainObject(v)) {
      for (const key of Object.keys(v)) {
        if (key !== 'value') issues.push({ path: pathKey(path, key), message: `unknown field "${key}"` });
      }
      if (!hasOwn(v, 'value')) return mismatch(`a ${scalar} (or {value: ...})`, v, path, issues);
      return jsonScalar(scalar, v.value, pathKey(path, 'value'), issues);
    }
    return jsonScalar(scalar, v, path, issues);
  };
}

const MAX_DURATION_SECONDS = 315_576_000_000n; // ±10000 years, the limit in duration.proto
const DURATION = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
const DURATION_HINT = 'expected a duration like "1s" or "0.25s"';

function jsonDuration(v: unknown, path: string, issues: Issues): number | undefined {
  const m = typeof v === 'string' ? DURATION.exec(v) : null;
  if (!m) {
    const got = typeof v === 'string' ? JSON.stringify(v) : `${describeJson(v)}${typeof v === 'number' ? ` ${v}` : ''}`;
    issues.push({ path, message: `${DURATION_HINT}, got ${got}` });
    return undefined;
  }
  if (BigInt(m[2]) > MAX_DURATION_SECONDS) {
    issues.push({ path, message: `duration ${v} is out of range (at most ${MAX_DURATION_SECONDS}s)` });
    return undefined;
  }
  const nanos = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
  const ms = Number(m[2]) * 1000 + nanos / 1e6;
  return m[1] ? -ms : ms;
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** RFC 3339 → milliseconds since the epoch (fractional for sub-millisecond precision). */
function jsonTimestamp(v: unknown, path: string, issues: Issues): number | undefined {
  if (typeof v !== 'string') return mismatch('an RFC 3339 timestamp string', v, path, issues);
  const m = TIMESTAMP.exec(v);
  const fail = () => {
    issues.push({ path, message: `expected an RFC 3339 timestamp like "2024-01-31T12:00:00Z", got ${JSON.stringify(v)}` });
    return undefined;
  };
  if (!m) return fail();
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const base = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(base);
  // Date.UTC silently rolls Feb 30 into March; reject instead.
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1 || hour > 23 || minute > 59 || second > 59) return fail();
  let offsetMin = 0;
  if (m[8] !== 'Z' && m[8] !== 'z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    offsetMin = sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6)));
  }
  const nanos = m[7] ? Number(m[7].padEnd(9, '0')) : 0;
  return base - offsetMin * 60_000 + nanos / 1e6;
}

function jsonEmpty(v: unknown, path: string, issues: Issues): Record<string, never> | undefined {
  if (!isPlainObject(v)) return mismatch('an empty object', v, path, issues);
  for (const key of Object.keys(v)) issues.push({ path: pathKey(path, key), message: `unknown field "${key}"` });
  return {};
}

/** JSON form is "a.b,cD"; normalized to proto (snake_case) paths: ["a.b", "c_d"]. */
function jsonFieldMask(v: unknown, path: string, issues: Issues): string[] | undefined {
  let paths: unknown[];
  if (typeof v === 'string') paths = v === '' ? [] : v.split(',');
  else if (Array.isArray(v)) paths = v; // not the mapping, but the obvious thing to write in YAML
  else return mismatch('a comma-separated string of field paths', v, path, issues);
  const out: string[] = [];
  paths.forEach((p, i) => {
    if (typeof p !== 'string') mismatch('a string', p, pathIndex(path, i), issues);
    else out.push(p.trim().replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
  });
  return out;
}

/** google.protobuf.Value: any JSON value, validated so that only JSON-representable data gets through. */
function jsonAnyValue(v: unknown, path: string, issues: Issues): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return v;
    issues.push({ path, message: `expected a finite number, got ${v}` });
    return undefined;
  }
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    v.forEach((item, i) => {
      const decoded = jsonAnyValue(item, pathIndex(path, i), issues);
      if (decoded !== undefined) out.push(decoded);
    });
    return out;
  }
  if (isPlainObject(v)) return jsonStruct(v, path, issues);
  return mismatch('a JSON value', v, path, issues);
}

function jsonStruct(v: Record<string, unknown>, path: string, issues: Issues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(v)) {
    const decoded = jsonAnyValue(item, pathKey(path, key), issues);
    if (decoded !== undefined) setKey(out, key, decoded);
  }
  return out;
}

function jsonAny(v: unknown, path: string, issues: Issues): unknown {
  if (!isPlainObject(v)) return mismatch('an object with "@type"', v, path, issues);
  const url = v['@type'];
  if (url === undefined || url === null) {
    issues.push({ path, message: 'missing "@type": an Any needs the type URL of the embedded message, e.g. "type.googleapis.com/envoy.config.cluster.v3.Cluster"' });
    return undefined;
  }
  const typePath = pathKey(path, '@type');
  if (typeof url !== 'string') return mismatch('a type URL string', url, typePath, issues);
  const type = resolveTypeUrl(url, typePath, issues);
  if (!type) return undefined;
  const out: Record<string, unknown> = { '@type': typeUrlOf(type.fullName) };
  const wkt = WELL_KNOWN[type.fullName];
  if (!wkt) return jsonFields(type, v, path, issues, out);
  // A well-known type has no fields to spread next to "@type", so it goes under "value".
  for (const key of Object.keys(v)) {
    if (key !== '@type' && key !== 'value') issues.push({ path: pathKey(path, key), message: `unknown field "${key}"` });
  }
  if (!hasOwn(v, 'value')) {
    issues.push({ path, message: `missing "value" (an Any holding ${type.fullName.slice(1)} is written {"@type": ..., "value": ...})` });
    return undefined;
  }
  const value = wkt(v.value, pathKey(path, 'value'), issues, type);
  if (value === undefined) return undefined;
  out.value = value;
  return out;
}
