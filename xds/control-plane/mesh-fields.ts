/**
 * Small readers for the hand-written mesh file: each checks one value, records a problem with
 * its path instead of throwing (so one run reports every mistake), and returns undefined when
 * the value is unusable.
 */
import { isIP } from 'node:net';
import type { ConfigIssue } from '../config-error';
import { describeJson, hasOwn, isPlainObject, pathKey } from '../proto-schema';

export type Issues = ConfigIssue[];
export type Reader<T> = (v: unknown, path: string, issues: Issues) => T | undefined;
export type Fields = Record<string, unknown>;

/** An object whose keys are all in `known` (a typo is an error, never silently ignored). */
export function readObject(v: unknown, path: string, issues: Issues, what: string, known: readonly string[]): Fields | undefined {
  if (!isPlainObject(v)) {
    issues.push({ path, message: `expected ${what} (an object), got ${describeJson(v)}` });
    return undefined;
  }
  for (const key of Object.keys(v)) {
    if (!known.includes(key)) issues.push({ path: pathKey(path, key), message: `unknown field "${key}" (expected one of: ${known.join(', ')})` });
  }
  return v;
}

/** `obj[key]` read by `reader`; absent (or null) is undefined, or an issue when `required`. */
export function field<T>(obj: Fields, key: string, path: string, issues: Issues, reader: Reader<T>, required = false): T | undefined {
  const at = pathKey(path, key);
  if (!hasOwn(obj, key) || obj[key] === null || obj[key] === undefined) {
    if (required) issues.push({ path: at, message: 'required' });
    return undefined;
  }
  return reader(obj[key], at, issues);
}

function expected<T>(what: string, v: unknown, path: string, issues: Issues): T | undefined {
  issues.push({ path, message: `expected ${what}, got ${typeof v === 'string' || typeof v === 'number' ? JSON.stringify(v) : describeJson(v)}` });
  return undefined;
}

export function stringReader(pattern?: RegExp, what = 'a string'): Reader<string> {
  return (v, path, issues) => (typeof v === 'string' && (pattern === undefined || pattern.test(v)) ? v : expected(what, v, path, issues));
}

export const readString = stringReader();

export const readBoolean: Reader<boolean> = (v, path, issues) => (typeof v === 'boolean' ? v : expected('true or false', v, path, issues));

export function integerReader(min: number, max: number): Reader<number> {
  return (v, path, issues) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : expected(`an integer from ${min} to ${max}`, v, path, issues);
}

export const readPort = integerReader(1, 65535);

export const readIp: Reader<string> = (v, path, issues) =>
  typeof v === 'string' && isIP(v) !== 0 ? v : expected('an IP address (endpoints and listeners are not resolved by DNS)', v, path, issues);

export function enumReader<T extends string>(values: readonly T[]): Reader<T> {
  return (v, path, issues) => (values.includes(v as T) ? (v as T) : expected(`one of ${values.join(', ')}`, v, path, issues));
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_EXAMPLES = '"250ms", "1.5s", "2m" or "1h"';

/** "250ms", "1.5s", "2m", "1h" → milliseconds, from `minMs` to `maxMs`. */
export function durationMsReader(minMs: number, maxMs: number): Reader<number> {
  return (v, path, issues) => {
    const m = typeof v === 'string' ? DURATION.exec(v) : null;
    const ms = m ? Number(m[1]) * UNIT_MS[m[2]] : undefined;
    if (ms === undefined) return expected(`a duration like ${DURATION_EXAMPLES}`, v, path, issues);
    return ms >= minMs && ms <= maxMs ? ms : expected(`a duration from ${describeMs(minMs)} to ${describeMs(maxMs)}`, v, path, issues);
  };
}

function describeMs(ms: number): string {
  const unit = (['h', 'm', 's'] as const).find((u) => ms % UNIT_MS[u] === 0) ?? 'ms';
  return `${ms / UNIT_MS[unit]}${unit}`;
}

const readAnyDurationMs = durationMsReader(0, Number.MAX_SAFE_INTEGER);

/** A duration (as durationMsReader) → the proto3 JSON form Envoy reads ("0.25s"). */
export const readDuration: Reader<string> = (v, path, issues) => {
  const ms = readAnyDurationMs(v, path, issues);
  return ms === undefined ? undefined : `${(ms / 1000).toFixed(9).replace(/\.?0+$/, '')}s`;
};

/** A list, each element read by `reader`; failed elements are dropped (their issues recorded). */
export function listReader<T>(reader: Reader<T>): Reader<T[]> {
  return (v, path, issues) => {
    if (!Array.isArray(v)) return expected('a list', v, path, issues);
    return v.flatMap((item, i) => {
      const read = reader(item, `${path}[${i}]`, issues);
      return read === undefined ? [] : [read];
    });
  };
}

/** A map of name → entry, each read by `reader` with its name; entries in file order. */
export function namedEntries<T>(v: unknown, path: string, issues: Issues, what: string, reader: (name: string, v: unknown, path: string) => T | undefined): T[] {
  if (!isPlainObject(v)) return expected<T[]>(`${what} (a map of name to definition)`, v, path, issues) ?? [];
  return Object.entries(v).flatMap(([name, entry]) => {
    const read = reader(name, entry, pathKey(path, name));
    return read === undefined ? [] : [read];
  });
}
