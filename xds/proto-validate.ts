/**
 * protoc-gen-validate rules, checked on the normalized form so that JSON/YAML configs and
 * binary xDS resources are held to the same constraints Envoy enforces.
 *
 * Each message checks only its own fields' rules; nested messages are checked when they are
 * decoded, so a field that failed to decode (already reported) is skipped here instead of
 * producing a second, misleading "value is required".
 */
import * as net from 'node:net';
import * as protobuf from 'protobufjs';
import {
  Issues,
  FieldInfo,
  PgvRules,
  Schema,
  ValueType,
  defaultValueOf,
  pathIndex,
  pathKey,
} from './proto-schema';

/**
 * @param present the normalized message
 * @param failed proto names of fields whose value was given but could not be decoded
 * @param keys proto name → the key the user actually wrote, so paths match their file
 */
export function checkRules(
  schema: Schema,
  present: Readonly<Record<string, unknown>>,
  path: string,
  issues: Issues,
  failed: ReadonlySet<string>,
  keys?: ReadonlyMap<string, string>,
): void {
  if (schema.validationDisabled) return;
  for (const info of schema.ruled) {
    if (failed.has(info.name)) continue;
    checkField(info, present[info.name], pathKey(path, keys?.get(info.name) ?? info.name), issues);
  }
  for (const oneof of schema.oneofs) {
    if (!oneof.required) continue;
    if (oneof.members.some((m) => present[m] !== undefined || failed.has(m))) continue;
    const names = oneof.members.map((m) => `"${m}"`).join(', ');
    issues.push({ path, message: `one of ${names} is required (oneof ${oneof.name})` });
  }
}

function checkField(info: FieldInfo, value: unknown, path: string, issues: Issues): void {
  const rules = info.rules as PgvRules;
  if (value === undefined) {
    // PGV skips the rules of unset oneof members, `required` included: `safe_regex` is
    // required only in the sense that it must not be an empty message when chosen.
    if (info.inOneof) return;
    if (isRequired(rules)) {
      issues.push({ path, message: 'value is required' });
      return;
    }
    // Proto3 cannot tell an absent list/map/scalar from an empty one, and neither does PGV:
    // `string name = 1 [min_len: 1]` rejects a missing name just like "".
    if (info.mapKey !== undefined) value = {};
    else if (info.repeated) value = [];
    else if (info.explicitPresence) return;
    else value = defaultValueOf(info.value);
  }
  if (info.mapKey !== undefined) checkMap(rules.map, value as Record<string, unknown>, info, path, issues);
  else if (info.repeated) checkRepeated(rules.repeated, value as unknown[], info.value, path, issues);
  else checkValue(rules, value, info.value, path, issues);
}

function isRequired(rules: PgvRules): boolean {
  return ['message', 'duration', 'timestamp', 'any'].some((k) => rules[k]?.required === true);
}

function checkRepeated(rules: PgvRules | undefined, items: unknown[], vt: ValueType, path: string, issues: Issues): void {
  if (!rules || (rules.ignore_empty && items.length === 0)) return;
  if (rules.min_items != null && items.length < Number(rules.min_items)) {
    issues.push({ path, message: `value must contain at least ${rules.min_items} item(s)` });
  }
  if (rules.max_items != null && items.length > Number(rules.max_items)) {
    issues.push({ path, message: `value must contain no more than ${rules.max_items} item(s)` });
  }
  if (rules.unique === true && new Set(items.map(uniqueKey)).size !== items.length) {
    issues.push({ path, message: 'repeated value must contain unique items' });
  }
  if (rules.items) items.forEach((item, i) => checkValue(rules.items, item, vt, pathIndex(path, i), issues));
}

function uniqueKey(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `bytes:${v.toString('hex')}`;
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : v;
}

function checkMap(rules: PgvRules | undefined, map: Record<string, unknown>, info: FieldInfo, path: string, issues: Issues): void {
  if (!rules) return;
  const keys = Object.keys(map);
  if (rules.ignore_empty && keys.length === 0) return;
  if (rules.min_pairs != null && keys.length < Number(rules.min_pairs)) {
    issues.push({ path, message: `value must contain at least ${rules.min_pairs} pair(s)` });
  }
  if (rules.max_pairs != null && keys.length > Number(rules.max_pairs)) {
    issues.push({ path, message: `value must contain no more than ${rules.max_pairs} pair(s)` });
  }
  const keyScalar = info.mapKey as string;
  const keyType: ValueType = { kind: 'scalar', scalar: keyScalar };
  for (const key of keys) {
    const keyPath = pathKey(path, key);
    if (rules.keys) checkValue(rules.keys, normalizedMapKey(key, keyScalar), keyType, keyPath, issues);
    if (rules.values) checkValue(rules.values, map[key], info.value, keyPath, issues);
  }
}

/** Normalized maps always have string keys; rules on integer/bool keys compare typed values. */
function normalizedMapKey(key: string, scalar: string): unknown {
  if (scalar === 'string') return key;
  if (scalar === 'bool') return key === 'true';
  return Number(key);
}

const NUMERIC_KINDS = [
  'double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64',
  'fixed32', 'fixed64', 'sfixed32', 'sfixed64',
];

/** Applies the rules of one kind (string, uint32, duration, ...) to a single value. */
function checkValue(rules: PgvRules, value: unknown, vt: ValueType, path: string, issues: Issues): void {
  if (rules.string && typeof value === 'string') checkString(rules.string, value, path, issues);
  if (rules.bytes && Buffer.isBuffer(value)) checkBytes(rules.bytes, value, path, issues);
  if (rules.bool && typeof value === 'boolean' && rules.bool.const != null && value !== rules.bool.const) {
    issues.push({ path, message: `value must equal ${rules.bool.const}` });
  }
  if (rules.enum && typeof value === 'string' && vt.kind === 'enum') checkEnum(rules.enum, value, vt.enum, path, issues);
  if (rules.duration && typeof value === 'number') {
    checkOrdered(rules.duration, value, path, issues, durationRuleMs, (ms) => `${ms / 1000}s`);
  }
  if (rules.any && typeof value === 'object' && value !== null) checkAny(rules.any, value as Record<string, unknown>, path, issues);
  if (typeof value === 'number') {
    for (const kind of NUMERIC_KINDS) {
      if (rules[kind]) checkOrdered(rules[kind], value, path, issues, Number, String);
    }
  }
}

/**
 * gt/gte/lt/lte/const/in/not_in, shared by numbers and durations (as milliseconds).
 * As in PGV, a lower bound above the upper bound means "outside the range".
 */
function checkOrdered(
  rules: PgvRules,
  value: number,
  path: string,
  issues: Issues,
  toNumber: (ruleValue: unknown) => number,
  show: (n: number) => string,
): void {
  if (rules.ignore_empty && value === 0) return;
  if (rules.const != null && value !== toNumber(rules.const)) {
    issues.push({ path, message: `value must equal ${show(toNumber(rules.const))}` });
  }
  const list = (v: unknown): number[] => (Array.isArray(v) ? v : [v]).map(toNumber);
  if (rules.in != null && !list(rules.in).includes(value)) {
    issues.push({ path, message: `value must be in list [${list(rules.in).map(show).join(', ')}]` });
  }
  if (rules.not_in != null && list(rules.not_in).includes(value)) {
    issues.push({ path, message: `value must not be in list [${list(rules.not_in).map(show).join(', ')}]` });
  }
  const lower = rules.gt != null ? { n: toNumber(rules.gt), strict: true } : rules.gte != null ? { n: toNumber(rules.gte), strict: false } : undefined;
  const upper = rules.lt != null ? { n: toNumber(rules.lt), strict: true } : rules.lte != null ? { n: toNumber(rules.lte), strict: false } : undefined;
  const aboveLower = !lower || (lower.strict ? value > lower.n : value >= lower.n);
  const belowUpper = !upper || (upper.strict ? value < upper.n : value <= upper.n);
  if (lower && upper) {
    const range = `${lower.strict ? '(' : '['}${show(lower.n)}, ${show(upper.n)}${upper.strict ? ')' : ']'}`;
    if (lower.n <= upper.n && !(aboveLower && belowUpper)) issues.push({ path, message: `value must be inside range ${range}` });
    // lower > upper: a value is valid when it is above lower OR below upper.
    if (lower.n > upper.n && !aboveLower && !belowUpper) issues.push({ path, message: `value must be outside range ${range}` });
    return;
  }
  if (lower && !aboveLower) {
    issues.push({ path, message: `value must be greater than ${lower.strict ? '' : 'or equal to '}${show(lower.n)}` });
  }
  if (upper && !belowUpper) {
    issues.push({ path, message: `value must be less than ${upper.strict ? '' : 'or equal to '}${show(upper.n)}` });
  }
}

/** Duration bounds in the rules are Duration messages in text format: `{seconds: 1, nanos: 5}`. */
function durationRuleMs(d: unknown): number {
  const o = (d ?? {}) as { seconds?: unknown; nanos?: unknown };
  return Number(o.seconds ?? 0) * 1000 + Number(o.nanos ?? 0) / 1e6;
}

function checkString(rules: PgvRules, s: string, path: string, issues: Issues): void {
  if (rules.ignore_empty && s === '') return;
  const chars = [...s].length; // PGV counts code points, not UTF-16 units
  const bytes = Buffer.byteLength(s, 'utf8');
  const fail = (message: string) => issues.push({ path, message });
  if (rules.const != null && s !== rules.const) fail(`value must equal ${JSON.stringify(rules.const)}`);
  if (rules.len != null && chars !== Number(rules.len)) fail(`value length must be ${rules.len}`);
  if (rules.min_len != null && chars < Number(rules.min_len)) fail(`value length must be at least ${rules.min_len}`);
  if (rules.max_len != null && chars > Number(rules.max_len)) fail(`value length must be at most ${rules.max_len}`);
  if (rules.len_bytes != null && bytes !== Number(rules.len_bytes)) fail(`value must be ${rules.len_bytes} bytes`);
  if (rules.min_bytes != null && bytes < Number(rules.min_bytes)) fail(`value length must be at least ${rules.min_bytes} bytes`);
  if (rules.max_bytes != null && bytes > Number(rules.max_bytes)) fail(`value length must be at most ${rules.max_bytes} bytes`);
  if (rules.prefix != null && !s.startsWith(rules.prefix)) fail(`value must start with ${JSON.stringify(rules.prefix)}`);
  if (rules.suffix != null && !s.endsWith(rules.suffix)) fail(`value must end with ${JSON.stringify(rules.suffix)}`);
  if (rules.contains != null && !s.includes(rules.contains)) fail(`value must contain ${JSON.stringify(rules.contains)}`);
  if (rules.not_contains != null && s.includes(rules.not_contains)) fail(`value must not contain ${JSON.stringify(rules.not_contains)}`);
  const inList = rules.in == null ? undefined : ([] as unknown[]).concat(rules.in);
  if (inList && !inList.includes(s)) fail(`value must be in list [${inList.map((x) => JSON.stringify(x)).join(', ')}]`);
  const notIn = rules.not_in == null ? undefined : ([] as unknown[]).concat(rules.not_in);
  if (notIn && notIn.includes(s)) fail(`value must not be in list [${notIn.map((x) => JSON.stringify(x)).join(', ')}]`);
  if (typeof rules.pattern === 'string') {
    const re = compilePattern(rules.pattern);
    if (re && !re.test(s)) fail(`value does not match regex pattern ${JSON.stringify(rules.pattern)}`);
  }
  if (rules.well_known_regex != null) checkWellKnownRegex(rules.well_known_regex, rules.strict !== false, s, path, issues);
  checkStringFormat(rules, s, path, issues);
}

const patternCache = new Map<string, RegExp | null>();

/**
 * PGV patterns are RE2; the ones in the Envoy API are also valid JS regexes. A pattern JS
 * cannot compile is skipped rather than rejecting every config that uses the field.
 */
function compilePattern(pattern: string): RegExp | null {
  let re = patternCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern, 'u');
    } catch {
      try {
        re = new RegExp(pattern);
      } catch {
        re = null;
      }
    }
    patternCache.set(pattern, re);
  }
  return re;
}

// From PGV: strict mode follows RFC 7230; non-strict only forbids NUL, CR and LF, which is
// what Envoy uses for most header fields.
const STRICT_HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const STRICT_HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const LAX_HEADER = /^[^\u0000\u000A\u000D]*$/;

function checkWellKnownRegex(which: unknown, strict: boolean, s: string, path: string, issues: Issues): void {
  if (which === 'HTTP_HEADER_NAME' || which === 1) {
    if (!(strict ? STRICT_HEADER_NAME : LAX_HEADER).test(s)) issues.push({ path, message: 'value must be a valid HTTP header name' });
  } else if (which === 'HTTP_HEADER_VALUE' || which === 2) {
    if (!(strict ? STRICT_HEADER_VALUE : LAX_HEADER).test(s)) issues.push({ path, message: 'value must be a valid HTTP header value' });
  }
}

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function checkStringFormat(rules: PgvRules, s: string, path: string, issues: Issues): void {
  const fail = (what: string) => issues.push({ path, message: `value must be a valid ${what}` });
  if (rules.hostname === true && !HOSTNAME.test(s)) fail('hostname');
  if (rules.ip === true && net.isIP(s) === 0) fail('IP address');
  if (rules.ipv4 === true && !net.isIPv4(s)) fail('IPv4 address');
  if (rules.ipv6 === true && !net.isIPv6(s)) fail('IPv6 address');
  if (rules.address === true && net.isIP(s) === 0 && !HOSTNAME.test(s)) fail('hostname or IP address');
  if (rules.uuid === true && !UUID.test(s)) fail('UUID');
  if (rules.email === true && !/^[^@\s]+@[^@\s]+$/.test(s)) fail('email address');
  if (rules.uri === true && !isAbsoluteUri(s)) fail('absolute URI');
}

function isAbsoluteUri(s: string): boolean {
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

function checkBytes(rules: PgvRules, b: Buffer, path: string, issues: Issues): void {
  if (rules.ignore_empty && b.length === 0) return;
  if (rules.len != null && b.length !== Number(rules.len)) issues.push({ path, message: `value length must be ${rules.len} bytes` });
  if (rules.min_len != null && b.length < Number(rules.min_len)) {
    issues.push({ path, message: `value length must be at least ${rules.min_len} bytes` });
  }
  if (rules.max_len != null && b.length > Number(rules.max_len)) {
    issues.push({ path, message: `value length must be at most ${rules.max_len} bytes` });
  }
}

/** Rules name enum values by number; messages show names, which is what users write. */
function checkEnum(rules: PgvRules, name: string, enumType: protobuf.Enum, path: string, issues: Issues): void {
  // defined_only needs no check: the decoders already reject numbers with no name.
  const number = enumType.values[name];
  const names = (v: unknown) => ([] as unknown[]).concat(v).map((n) => enumType.valuesById[Number(n)] ?? String(n));
  if (rules.const != null && number !== Number(rules.const)) issues.push({ path, message: `value must equal ${names(rules.const)[0]}` });
  if (rules.in != null && !([] as unknown[]).concat(rules.in).map(Number).includes(number)) {
    issues.push({ path, message: `value must be in list [${names(rules.in).join(', ')}]` });
  }
  if (rules.not_in != null && ([] as unknown[]).concat(rules.not_in).map(Number).includes(number)) {
    issues.push({ path, message: `value must not be in list [${names(rules.not_in).join(', ')}]` });
  }
}

function checkAny(rules: PgvRules, any: Record<string, unknown>, path: string, issues: Issues): void {
  const url = any['@type'];
  if (typeof url !== 'string') return;
  const inList = rules.in == null ? undefined : ([] as unknown[]).concat(rules.in);
  if (inList && !inList.includes(url)) issues.push({ path, message: `type URL must be in list [${inList.join(', ')}]` });
  const notIn = rules.not_in == null ? undefined : ([] as unknown[]).concat(rules.not_in);
  if (notIn && notIn.includes(url)) issues.push({ path, message: `type URL must not be in list [${notIn.join(', ')}]` });
}
