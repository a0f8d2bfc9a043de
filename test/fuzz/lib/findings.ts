import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a fuzz run reports. `failure` kinds break the property (a tap failure in CI); `slow` and
 * `warning` kinds are recorded separately and never fail a run (timing on a shared CI machine is noise).
 */
export type Severity = 'failure' | 'slow' | 'warning';

export interface Finding {
  readonly target: 'config' | 'http1';
  readonly severity: Severity;
  /** Short machine-friendly class: `unexpected-throw`, `hang`, `smuggling`, `proxy-down`, ... */
  readonly kind: string;
  readonly seed: number;
  /** The input's index in the run: with the seed, it regenerates the input. */
  readonly index: number;
  readonly message: string;
  /** The exception's stack, the proxy's stderr tail, ... */
  readonly detail?: string;
  /** The input, in the tagged JSON of `toTaggedJson` (NaN, Infinity, -0, bytes, undefined survive). */
  readonly input?: unknown;
  /** How long the input took, for `slow`. */
  readonly ms?: number;
}

/**
 * JSON that keeps what plain JSON loses in a fuzz input: NaN/±Infinity/-0 (YAML can produce them),
 * Buffers/Uint8Arrays, undefined, and own `__proto__` keys. `fromTaggedJson` inverts it.
 */
export function toTaggedJson(value: unknown, depth = 0): unknown {
  if (depth > 20_000) return { $truncated: true };
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return { $num: 'NaN' };
    if (value === Infinity) return { $num: 'Infinity' };
    if (value === -Infinity) return { $num: '-Infinity' };
    if (Object.is(value, -0)) return { $num: '-0' };
    return value;
  }
  if (value === undefined) return { $undefined: true };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map((v) => toTaggedJson(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const v = toTaggedJson((value as Record<string, unknown>)[key], depth + 1);
      // A key starting with "$" is escaped so it cannot be read back as a tag.
      defineOwn(out, key.startsWith('$') ? `$${key}` : key, v);
    }
    return out;
  }
  return value;
}

export function fromTaggedJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromTaggedJson);
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 1) {
    if (keys[0] === '$num') return Number(obj.$num === '-0' ? -0 : obj.$num);
    if (keys[0] === '$undefined') return undefined;
    if (keys[0] === '$bigint') return BigInt(obj.$bigint as string);
    if (keys[0] === '$bytes') return Buffer.from(obj.$bytes as string, 'base64');
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) defineOwn(out, key.startsWith('$$') ? key.slice(1) : key, fromTaggedJson(obj[key]));
  return out;
}

/** Sets an own enumerable property, `__proto__` included (as JSON.parse does). */
export function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Writes a finding as `<dir>/<target>-<kind>-<seed>-<index>.json`; returns the file. */
export function writeFinding(dir: string, finding: Finding): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${finding.target}-${finding.severity}-${finding.kind}-${finding.seed}-${finding.index}.json`);
  writeFileSync(file, JSON.stringify(finding, null, 2) + '\n');
  return file;
}

/** One line per finding, for logs and tap messages. */
export function describeFinding(f: Finding): string {
  return `[${f.target}/${f.severity}/${f.kind}] seed=${f.seed} index=${f.index}${f.ms !== undefined ? ` ${f.ms.toFixed(0)}ms` : ''}: ${f.message}`;
}
