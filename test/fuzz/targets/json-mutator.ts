/**
 * Structural mutation of JSON-like documents (what YAML/JSON parsing yields): delete, duplicate,
 * retype and rename fields, plant odd scalars (unicode, huge/negative numbers, NaN, durations),
 * `@type` URLs, depth bombs and subtrees from other seeds. Everything is drawn from an Rng, so a
 * mutation is reproduced by its seed.
 */
import { defineOwn } from '../lib/findings';
import type { Rng } from '../lib/rng';

export interface MutatorOptions {
  /** Subtrees to graft (crossover), from all seeds. */
  readonly donors: readonly unknown[];
  /** Field names seen in the seeds, for renames and additions. */
  readonly keys: readonly string[];
  readonly typeUrls: readonly string[];
  /** The deepest nesting a depth bomb builds. */
  readonly maxDepth: number;
}

type Container = Record<string, unknown> | unknown[];
interface Slot {
  readonly parent: Container;
  readonly key: string | number;
  readonly depth: number;
}

const ODD_STRINGS: readonly string[] = [
  '', ' ', '\t', '\n', '\r\n', '\u0000', 'a\u0000b', '\uD800', '\uDFFF', 'x\uD83D', '\u202E', '\u200B', '\uFEFF', '\uFFFF', '\uFFFE',
  'é', 'e\u0301', '😀', 'ǅ', 'ß', 'İ', 'Ω', '\u0085', '\u2028', '%00', '%s%s%s', '%n', '%DOWNSTREAM_REMOTE_ADDRESS%', '%REQ(x)%', '%',
  '${HOME}', '../../../../etc/passwd', '/', '//', '*', '**', '*.', '.', '..', '-', '_', ':', '::', '[::1]', '::1', '0.0.0.0', '127.0.0.1',
  '255.255.255.255', '999.999.999.999', '1.2.3', '1.2.3.4.5', 'localhost', 'LOCALHOST', 'a..b', '-a.b', 'a-.b', 'xn--', 'x'.repeat(64),
  'x'.repeat(254), 'true', 'false', 'null', 'undefined', 'NaN', 'Infinity', '-Infinity', '0', '-0', '1', '-1', '+1', '01', '0x10', '1e3',
  '1e400', '-1e400', '4294967295', '4294967296', '-2147483649', '2147483648', '9007199254740993', '18446744073709551615',
  '18446744073709551616', '-9223372036854775809', '1.5', '.5', '5.', '1_000', ' 1', '1 ',
  '0s', '1s', '-1s', '1e9s', '1.5s', '0.000000001s', '0.0000000001s', '1.s', '.1s', 's', '-s', '1ms', '1m', '1h', '1 s', 'NaNs', 'Infinitys',
  '315576000000s', '315576000001s', '-315576000001s', '9999999999999999999s', '1.1234567891s', '-0.5s', '+1s', '0x1s',
  '1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '0000-01-01T00:00:00Z', '2024-02-30T00:00:00Z',
  'AA==', 'A', '====', 'not base64!', '////', '-_-_',
  '(a+)+$', '(a*)*b', '(x+x+)+y', '[', ']', '(', ')', '(?', '(?i)a', '(?P<n>x)', '(?<n>x)', '\\', '\\p{L}+', '\\pN', '\\C', '\\z', '\\Z', '\\b',
  'a{1000}', 'a{1001}', '(a{1000}){1000}', 'a{2,1}', '.*.*.*.*.*.*.*.*=', '^$', '$^', '[^]', '[a-', '(?=x)', '(?!x)', '(?<=x)y', '\\1',
  '[[:alpha:]]', '[[:foo:]]', '\\Q.*\\E', 'x**', 'x++', 'x?+', '(?U)a*',
  'type.googleapis.com/envoy.config.cluster.v3.Cluster', '@type', '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString',
  'envoy.filters.http.router', 'envoy.filters.http.rbac', 'envoy.filters.network.http_connection_manager', 'envoy.transport_sockets.tls',
  'STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST', 'ROUND_ROBIN', 'LEAST_REQUEST', 'RING_HASH', 'RANDOM', 'MAGLEV',
  'CLUSTER_PROVIDED', 'GRPC', 'DELTA_GRPC', 'REST', 'V2', 'V3', 'AUTO', 'HTTP1', 'HTTP2', 'HTTP3', 'ALLOW', 'DENY', 'LOG', 'HEALTHY',
  'UNHEALTHY', 'DRAINING', 'UNKNOWN', 'URI', 'DNS', 'EMAIL', 'IP_ADDRESS', 'TCP', 'UDP', 'websocket', 'CONNECT', 'h2c', 'h2', 'http/1.1',
  'spiffe://fuzz.test/ns/default/sa/x', 'spiffe://', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
  '-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----', '/dev/null', '/nonexistent/file', '/etc', '.',
];

const ODD_NUMBERS: readonly number[] = [
  0, -0, 1, -1, 2, 7, 99, 100, 101, 199, 200, 299, 300, 399, 400, 499, 500, 599, 600, 999, 1000, 1024, 65535, 65536, 65537, -65536,
  127, 128, 255, 256, 0.5, -0.5, 1.5, 1e-9, 1e-10, 0.1 + 0.2, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32,
  2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 2 ** 63, -(2 ** 63), 2 ** 64, 1e21, 1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE,
  315576000000, 315576000001, -315576000001, NaN, Infinity, -Infinity,
];

/** Random values of every JSON (and YAML) kind. */
export function randomScalar(rng: Rng): unknown {
  return rng.weighted<() => unknown>([
    [6, () => rng.pick(ODD_STRINGS)],
    [4, () => rng.pick(ODD_NUMBERS)],
    [1, () => rng.chance(0.5)],
    [1, () => null],
    [2, () => randomString(rng)],
    [1, () => rng.range(-5, 5) * 10 ** rng.range(0, 30)],
    [1, () => (rng.u32() | 0) / (rng.chance(0.5) ? 1 : rng.range(1, 1000))],
  ])();
}

export function randomString(rng: Rng): string {
  const len = rng.weighted([
    [6, () => rng.range(0, 12)],
    [2, () => rng.range(13, 200)],
    [1, () => rng.range(1000, 70_000)],
  ])();
  if (len > 1000 && rng.chance(0.7)) return rng.pick(['a', '/', '*', '(', 'a*', '\u00e9', '\\', '{']).repeat(len);
  let s = '';
  for (let i = 0; i < len; i++) {
    s += rng.weighted<() => string>([
      [8, () => String.fromCharCode(rng.range(0x20, 0x7e))],
      [2, () => String.fromCharCode(rng.range(0, 0x1f))],
      [2, () => String.fromCharCode(rng.range(0x80, 0x7ff))],
      [1, () => String.fromCharCode(rng.range(0xd800, 0xdfff))],
      [1, () => String.fromCodePoint(rng.range(0x10000, 0x10ffff))],
      [1, () => String.fromCharCode(rng.range(0xe000, 0xffff))],
    ])();
  }
  return s;
}

/** A small random JSON tree. */
export function randomTree(rng: Rng, opts: MutatorOptions, budget = 3): unknown {
  if (budget <= 0 || rng.chance(0.4)) return randomScalar(rng);
  if (rng.chance(0.5)) return Array.from({ length: rng.range(0, 4) }, () => randomTree(rng, opts, budget - 1));
  const obj: Record<string, unknown> = {};
  const n = rng.range(0, 4);
  for (let i = 0; i < n; i++) defineOwn(obj, randomKey(rng, opts), randomTree(rng, opts, budget - 1));
  return obj;
}

function randomKey(rng: Rng, opts: MutatorOptions): string {
  return rng.weighted<() => string>([
    [10, () => rng.pick(opts.keys)],
    [2, () => camelCase(rng.pick(opts.keys))],
    [1, () => '@type'],
    [1, () => rng.pick(['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'length', '0', ''])],
    [1, () => randomString(rng).slice(0, 40)],
    [1, () => rng.pick(opts.keys) + rng.pick([' ', '\u0000', '_', 'X', '.x'])],
  ])();
}

/** proto3 JSON accepts a field's lowerCamelCase json_name as well as its proto name. */
export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A nested value `depth` levels deep, of arrays, objects or Struct-shaped objects. */
export function depthBomb(rng: Rng, depth: number, keys: readonly string[]): unknown {
  const shape = rng.pick(['array', 'object', 'key', 'mixed'] as const);
  const key = rng.pick(keys);
  let v: unknown = rng.chance(0.5) ? 1 : {};
  for (let i = 0; i < depth; i++) {
    const s = shape === 'mixed' ? rng.pick(['array', 'object', 'key'] as const) : shape;
    if (s === 'array') v = [v];
    else if (s === 'object') v = { a: v };
    else v = { [key]: v };
  }
  return v;
}

function collectSlots(root: Container): Slot[] {
  const slots: Slot[] = [];
  const stack: Slot[] = [];
  const push = (parent: Container, depth: number) => {
    if (Array.isArray(parent)) parent.forEach((_, i) => stack.push({ parent, key: i, depth }));
    else for (const key of Object.keys(parent)) stack.push({ parent, key, depth });
  };
  push(root, 1);
  while (stack.length > 0 && slots.length < 20_000) {
    const slot = stack.pop()!;
    slots.push(slot);
    const v = get(slot);
    if (v !== null && typeof v === 'object' && slot.depth < 200) push(v as Container, slot.depth + 1);
  }
  return slots;
}

function get(slot: Slot): unknown {
  return (slot.parent as Record<string | number, unknown>)[slot.key];
}

function set(slot: Slot, value: unknown): void {
  if (Array.isArray(slot.parent)) slot.parent[slot.key as number] = value;
  else defineOwn(slot.parent, slot.key as string, value);
}

function remove(slot: Slot): void {
  if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
  else delete slot.parent[slot.key as string];
}

function retype(rng: Rng, v: unknown, opts: MutatorOptions): unknown {
  if (typeof v === 'string') {
    return rng.pick<() => unknown>([() => Number(v), () => parseFloat(v), () => [v], () => ({ value: v }), () => v.length, () => v !== '', () => null])();
  }
  if (typeof v === 'number') {
    return rng.pick<() => unknown>([() => String(v), () => `${v}s`, () => `${v}`.replace('.', ','), () => [v], () => ({ value: v }), () => v !== 0, () => BigInt.asIntN(64, BigInt(Math.trunc(Number.isFinite(v) ? v : 0))).toString()])();
  }
  if (typeof v === 'boolean') return rng.pick<unknown>([String(v), v ? 1 : 0, { value: v }, [v], null]);
  if (v === null) return rng.pick<unknown>([{}, [], '', 0, false]);
  if (Array.isArray(v)) {
    return rng.pick<() => unknown>([() => v[0], () => ({ ...v }), () => ({ value: v }), () => v.length, () => JSON.stringify(v), () => []])();
  }
  if (typeof v === 'object') {
    const values = Object.values(v as object);
    return rng.pick<() => unknown>([() => [v], () => values, () => values[0], () => JSON.stringify(v), () => '', () => randomTree(rng, opts)])();
  }
  return randomScalar(rng);
}

function mutateString(rng: Rng, s: string): string {
  const at = rng.int(s.length + 1);
  return rng.pick<() => string>([
    () => s.slice(0, at) + rng.pick(ODD_STRINGS) + s.slice(at),
    () => s.slice(0, at),
    () => s.slice(at),
    () => s + s,
    () => s.repeat(rng.range(2, 200)).slice(0, 100_000),
    () => s.toUpperCase(),
    () => s.toLowerCase(),
    () => `${s}s`,
    () => `-${s}`,
    () => ` ${s} `,
    () => s.slice(0, at) + String.fromCharCode(rng.int(0x10000)) + s.slice(at + 1),
    () => s.replace(/\./g, '\u0000'),
    () => s.normalize('NFD'),
  ])();
}

function mutateNumber(rng: Rng, n: number): number {
  return rng.pick<() => number>([
    () => -n,
    () => n + 1,
    () => n - 1,
    () => n * 2 ** rng.range(1, 64),
    () => n / 3,
    () => n + 0.5,
    () => rng.pick(ODD_NUMBERS),
    () => (n | 0) ^ (1 << rng.int(32)),
  ])();
}

/** Applies 1..`maxOps` random mutations to `doc` in place (call with a clone); returns the (possibly new) root. */
export function mutateDocument(rng: Rng, doc: unknown, opts: MutatorOptions, maxOps = 6): unknown {
  const holder: Record<string, unknown> = { root: doc };
  const ops = rng.smallCount(maxOps);
  for (let i = 0; i < ops; i++) {
    const slots = collectSlots(holder);
    const slot = rng.pick(slots);
    mutateSlot(rng, slot, slots, opts, slot.parent === holder);
  }
  return holder.root;
}

function mutateSlot(rng: Rng, slot: Slot, slots: readonly Slot[], opts: MutatorOptions, isRoot: boolean): void {
  const v = get(slot);
  const op = rng.weighted<string>([
    [isRoot ? 0 : 6, 'delete'],
    [4, 'scalar'],
    [2, 'tree'],
    [4, 'retype'],
    [3, 'duplicate'],
    [typeof v === 'string' ? 6 : 0, 'string'],
    [typeof v === 'number' ? 5 : 0, 'number'],
    [3, 'type-url'],
    [1, 'depth-bomb'],
    [3, 'graft'],
    [isRoot || Array.isArray(slot.parent) ? 0 : 3, 'rename'],
    [v !== null && typeof v === 'object' && !Array.isArray(v) ? 3 : 0, 'add-key'],
    [Array.isArray(v) && v.length > 0 ? 1 : 0, 'huge-array'],
    [isRoot ? 0 : 1, 'move'],
  ]);
  switch (op) {
    case 'delete':
      remove(slot);
      return;
    case 'scalar':
      set(slot, randomScalar(rng));
      return;
    case 'tree':
      set(slot, randomTree(rng, opts));
      return;
    case 'retype':
      set(slot, retype(rng, v, opts));
      return;
    case 'duplicate': {
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 0, structuredCloneSafe(v));
      else defineOwn(slot.parent, rng.chance(0.5) ? camelCase(slot.key as string) : randomKey(rng, opts), structuredCloneSafe(v));
      return;
    }
    case 'string':
      set(slot, mutateString(rng, v as string));
      return;
    case 'number':
      set(slot, mutateNumber(rng, v as number));
      return;
    case 'type-url': {
      const url = rng.chance(0.85) ? rng.pick(opts.typeUrls) : randomString(rng);
      const target = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
      if (target && rng.chance(0.7)) defineOwn(target, '@type', url);
      else if (!Array.isArray(slot.parent)) defineOwn(slot.parent, '@type', url);
      else set(slot, { '@type': url, ...(target ?? {}) });
      return;
    }
    case 'depth-bomb': {
      const depth = rng.weighted([
        [6, () => rng.range(2, 64)],
        [2, () => rng.range(65, 500)],
        [1, () => rng.range(501, opts.maxDepth)],
      ])();
      set(slot, depthBomb(rng, Math.min(depth, opts.maxDepth), opts.keys));
      return;
    }
    case 'graft':
      set(slot, structuredCloneSafe(rng.chance(0.8) ? rng.pick(opts.donors) : get(rng.pick(slots))));
      return;
    case 'rename': {
      const parent = slot.parent as Record<string, unknown>;
      delete parent[slot.key as string];
      const key = rng.chance(0.5) ? camelCase(slot.key as string) : randomKey(rng, opts);
      defineOwn(parent, key, v);
      return;
    }
    case 'add-key':
      defineOwn(v as Record<string, unknown>, randomKey(rng, opts), rng.chance(0.5) ? randomScalar(rng) : randomTree(rng, opts));
      return;
    case 'huge-array': {
      const arr = v as unknown[];
      const n = rng.pick([100, 1000, 5000]);
      const item = arr[rng.int(arr.length)];
      set(slot, Array.from({ length: n }, (_, i) => (rng.chance(0.5) ? item : withIndex(item, i))));
      return;
    }
    case 'move': {
      // Copies, so that swapping a node with its own descendant cannot make a cycle.
      const other = rng.pick(slots);
      const ov = structuredCloneSafe(get(other));
      set(other, structuredCloneSafe(v));
      set(slot, ov);
      return;
    }
  }
}

/** A copy of `item` whose `name`-like strings carry `i`, so duplicates are not all "duplicate name" errors. */
function withIndex(item: unknown, i: number): unknown {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
  const copy = structuredCloneSafe(item) as Record<string, unknown>;
  for (const key of ['name', 'cluster_name']) if (typeof copy[key] === 'string') copy[key] = `${copy[key]}-${i}`;
  return copy;
}

/** structuredClone that keeps own `__proto__` keys as own keys (and survives what it cannot clone). */
export function structuredCloneSafe(v: unknown, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || depth > 10_000) return v;
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (Array.isArray(v)) return v.map((x) => structuredCloneSafe(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) defineOwn(out, key, structuredCloneSafe((v as Record<string, unknown>)[key], depth + 1));
  return out;
}

/** Every key and every subtree (up to `limit`) of the seeds, for renames and grafts. */
export function harvest(docs: readonly unknown[], limit = 4000): { keys: string[]; donors: unknown[] } {
  const keys = new Set<string>();
  const donors: unknown[] = [];
  const walk = (v: unknown, depth: number) => {
    if (v === null || typeof v !== 'object' || depth > 60) return;
    if (donors.length < limit) donors.push(v);
    if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else
      for (const [k, x] of Object.entries(v)) {
        keys.add(k);
        walk(x, depth + 1);
      }
  };
  docs.forEach((d) => walk(d, 0));
  return { keys: [...keys], donors };
}
