/**
 * Per-message lookup tables derived from protobufjs reflection, shared by the JSON decoder,
 * the binary decoder and the validation rules. Building them walks every field's options,
 * so they are computed once per Type and cached.
 */
import * as protobuf from 'protobufjs';
import type { ConfigIssue } from './config-error';
import { lookupMessageType, typeNameOf } from './envoy-protos';

/** Issues are accumulated, never thrown mid-walk, so one pass reports everything wrong. */
export type Issues = ConfigIssue[];

/** protoc-gen-validate FieldRules as protobufjs parses them from the proto text. */
export type PgvRules = Record<string, any>;

/** The type of one value (a singular field, one element of a repeated field, or a map value). */
export type ValueType =
  | { readonly kind: 'scalar'; readonly scalar: string }
  | { readonly kind: 'enum'; readonly enum: protobuf.Enum }
  | { readonly kind: 'message'; readonly message: protobuf.Type };

export interface FieldInfo {
  /** The proto name (snake_case); also the key in the normalized form. */
  readonly name: string;
  readonly jsonName: string;
  readonly value: ValueType;
  readonly repeated: boolean;
  /** Scalar type of the keys when this is a map field. */
  readonly mapKey?: string;
  /** Name of the real (non-synthetic) oneof this field belongs to. */
  readonly oneof?: string;
  /**
   * True when "absent" is distinguishable from the default value (messages, oneof members,
   * proto3 `optional`). PGV checks absent fields without presence against their default value.
   */
  readonly explicitPresence: boolean;
  /** In a oneof (real or proto3 `optional`): its rules only apply when it is set. */
  readonly inOneof: boolean;
  readonly rules?: PgvRules;
}

export interface OneofInfo {
  readonly name: string;
  readonly members: readonly string[];
  /** `option (validate.required) = true;` inside the oneof. */
  readonly required: boolean;
}

export interface Schema {
  readonly type: protobuf.Type;
  readonly fields: readonly FieldInfo[];
  /** Both the proto name and the json_name of every field. */
  readonly byJsonKey: ReadonlyMap<string, FieldInfo>;
  readonly oneofs: readonly OneofInfo[];
  /** Only the fields carrying (validate.rules), so messages without rules cost nothing to check. */
  readonly ruled: readonly FieldInfo[];
  /** `option (validate.disabled) = true;` on the message. */
  readonly validationDisabled: boolean;
}

const schemas = new WeakMap<protobuf.Type, Schema>();

export function schemaOf(type: protobuf.Type): Schema {
  let schema = schemas.get(type);
  if (!schema) {
    schema = buildSchema(type);
    schemas.set(type, schema);
  }
  return schema;
}

function buildSchema(type: protobuf.Type): Schema {
  const fields = type.fieldsArray.map(fieldInfo);
  const byJsonKey = new Map<string, FieldInfo>();
  for (const f of fields) {
    byJsonKey.set(f.name, f);
    byJsonKey.set(f.jsonName, f);
  }
  const oneofs = type.oneofsArray.filter((o) => !isSyntheticOneof(o)).map((o) => ({
    name: o.name,
    members: o.oneof.slice(),
    required: mergedOption(o.parsedOptions, '(validate.required)') === true,
  }));
  const options = type.options ?? {};
  return {
    type,
    fields,
    byJsonKey,
    oneofs,
    ruled: fields.filter((f) => f.rules !== undefined),
    validationDisabled: options['(validate.disabled)'] === true || options['(validate.ignored)'] === true,
  };
}

function fieldInfo(field: protobuf.Field): FieldInfo {
  const resolved = field.resolve().resolvedType;
  const value: ValueType =
    resolved instanceof protobuf.Type
      ? { kind: 'message', message: resolved }
      : resolved instanceof protobuf.Enum
        ? { kind: 'enum', enum: resolved }
        : { kind: 'scalar', scalar: field.type };
  const oneof = field.partOf && !isSyntheticOneof(field.partOf) ? field.partOf.name : undefined;
  const mapKey = field instanceof protobuf.MapField ? field.keyType : undefined;
  const jsonOption = field.options?.['json_name'];
  const rules = mergedOption(field.parsedOptions, '(validate.rules)');
  return {
    name: field.name,
    jsonName: typeof jsonOption === 'string' ? jsonOption : jsonNameOf(field.name),
    value,
    repeated: field.repeated,
    ...(mapKey !== undefined && { mapKey }),
    ...(oneof !== undefined && { oneof }),
    explicitPresence: value.kind === 'message' || field.partOf !== null,
    inOneof: field.partOf !== null,
    ...(rules !== undefined && { rules: rules as PgvRules }),
  };
}

/** proto3 `optional` is compiled to a one-member oneof that is not a real alternative. */
function isSyntheticOneof(oneof: protobuf.OneOf): boolean {
  return oneof.fieldsArray.length === 1 && oneof.fieldsArray[0].options?.['proto3_optional'] === true;
}

/**
 * protobufjs keeps each `[(opt).a = 1, (opt).b = 2]` assignment as a separate entry in
 * parsedOptions, so the pieces of one option must be merged back together.
 */
function mergedOption(parsed: unknown, name: string): unknown {
  if (!Array.isArray(parsed)) return undefined;
  let merged: unknown;
  for (const entry of parsed) {
    if (entry && typeof entry === 'object' && name in entry) merged = deepMerge(merged, (entry as Record<string, unknown>)[name]);
  }
  return merged;
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (!isPlainObject(a) || !isPlainObject(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(out[k], v);
  return out;
}

/** protoc's default json_name: drop underscores, upper-case the letter after each. */
export function jsonNameOf(protoName: string): string {
  let out = '';
  let upper = false;
  for (const ch of protoName) {
    if (ch === '_') upper = true;
    else {
      out += upper ? ch.toUpperCase() : ch;
      upper = false;
    }
  }
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Uint8Array);
}

/** How a JSON value is named in "expected X, got Y" messages. */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v;
}

// Keys that would read ambiguously after a dot (dots, spaces, leading digits...) are quoted.
// "@type" stays bare because `typed_config.@type` is how users think of it.
const BARE_KEY = /^@?[A-Za-z_][A-Za-z0-9_-]*$/;

/** `a.b` for plain keys, `a["x.y"]` for the rest; the root path is ''. */
export function pathKey(path: string, key: string): string {
  if (!BARE_KEY.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path ? `${path}.${key}` : key;
}

export function pathIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}

/**
 * Sets a key that may come from user data: a plain assignment of "__proto__" would replace the
 * object's prototype instead of creating a key.
 */
export function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** Integer scalar types and their inclusive ranges. */
export const INTEGER_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Range-checks an integer and converts it to a JS number. 64-bit values beyond 2^53 are
 * rejected rather than silently rounded, since the normalized form uses plain numbers.
 */
export function integerToNumber(value: bigint, scalar: string, shown: string, path: string, issues: Issues): number | undefined {
  const [min, max] = INTEGER_RANGES[scalar];
  if (value < min || value > max) {
    issues.push({ path, message: `${shown} is out of range for ${scalar} (${min} to ${max})` });
    return undefined;
  }
  if (value > MAX_SAFE || value < -MAX_SAFE) {
    issues.push({ path, message: `${shown} is too large: meshlet supports integers up to ${Number.MAX_SAFE_INTEGER}` });
    return undefined;
  }
  return Number(value);
}

/** A scalar's default value, in normalized form; PGV checks absent scalars against it. */
export function defaultValueOf(vt: ValueType): unknown {
  switch (vt.kind) {
    case 'enum':
      return vt.enum.valuesById[0] ?? Object.keys(vt.enum.values)[0];
    case 'message':
      return undefined;
    case 'scalar':
      switch (vt.scalar) {
        case 'string':
          return '';
        case 'bytes':
          return Buffer.alloc(0);
        case 'bool':
          return false;
        default:
          return 0;
      }
  }
}

export function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** The message type named by an Any's type URL, or an issue at `path` (the "@type" key). */
export function resolveTypeUrl(url: string, path: string, issues: Issues): protobuf.Type | undefined {
  if (!url.includes('/')) {
    issues.push({ path, message: `invalid type URL ${JSON.stringify(url)}; expected "type.googleapis.com/<message type>"` });
    return undefined;
  }
  const name = typeNameOf(url);
  const type = lookupMessageType(name);
  if (!type) issues.push({ path, message: `unsupported type "${name}"` });
  return type;
}

/** google.protobuf wrapper types and the scalar each wraps (their JSON form is the plain scalar). */
export const WRAPPER_SCALARS: Readonly<Record<string, string>> = {
  '.google.protobuf.DoubleValue': 'double',
  '.google.protobuf.FloatValue': 'float',
  '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64',
  '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.BoolValue': 'bool',
  '.google.protobuf.StringValue': 'string',
  '.google.protobuf.BytesValue': 'bytes',
};
