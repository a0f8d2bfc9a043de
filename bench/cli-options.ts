import { parseCommandArgs } from '../cli/command-args';
import type { BenchOptions } from './result-types';
import { SCENARIO_NAMES, SYSTEM_NAMES } from './scenarios';

export const DEFAULT_DURATION_SEC = 2;
export const DEFAULT_WARMUP_SEC = 1;
export const DEFAULT_ROUNDS = 3;

export const BENCH_HELP = `Usage: meshlet bench [options]

Benchmarks meshlet against direct access and peer proxies on loopback. Each proxy is pinned to
core 0; the upstream and the load generator share core 1. Systems run interleaved, round after round.

Options:
  --systems LIST     comma-separated, from: ${SYSTEM_NAMES.join(',')}
                     (default: all; absent peers are skipped and reported)
  --scenarios LIST   comma-separated, from: ${SCENARIO_NAMES.join(',')} (default: all)
  --rounds N         rounds of every system per scenario (default ${DEFAULT_ROUNDS})
  --duration D       length of one measured run: 500ms, 2s, 1m (default ${DEFAULT_DURATION_SEC}s; wrk rounds up to whole seconds)
  --warmup D         closed-loop warm-up of each proxy before a scenario's rounds (default ${DEFAULT_WARMUP_SEC}s; 0 for none)
  --upstream KIND    node (default) or nginx, serving the same 64-byte body
  --generator KIND   auto (default: wrk for closed loops when installed) or loadgen (the Node generator for everything)
  --out DIR          where <date>.json, <date>.md and the SVG charts go (default bench/results)
  --quick            ~2 s smoke run: meshlet and direct, 1 round, closed loop only
  --control-plane-scale   instead: the control plane with 500 simulated xDS clients and a
                     1000-service mesh (≤ 3 min); --control-plane-scale --help for its options
  --help             this text

Peers nginx, haproxy and wrk come from Debian: bench/setup --install.
`;

export type ParsedBenchArgs = { kind: 'help' } | { kind: 'error'; message: string } | { kind: 'run'; options: BenchOptions };

/** "2s", "500ms", "1m" or a bare number of seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
}

function parseList(text: string, allowed: readonly string[], what: string): string[] | string {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = items.filter((s) => !allowed.includes(s));
  if (bad.length > 0) return `unknown ${what}: ${bad.join(', ')} (known: ${allowed.join(', ')})`;
  if (items.length === 0) return `--${what} needs at least one name`;
  return items;
}

/** Pure: argv → options. --quick sets smoke-run defaults that explicit flags still override. */
export function parseBenchArgs(args: string[], defaultOut: string): ParsedBenchArgs {
  const parsed = parseCommandArgs(args, {
    systems: { type: 'string' },
    scenarios: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    upstream: { type: 'string' },
    generator: { type: 'string' },
    out: { type: 'string' },
    quick: { type: 'boolean', default: false },
  });
  if (parsed.kind !== 'run') return parsed;
  const { values } = parsed;
  const quick = values.quick === true;
  const systems = parseList(values.systems ?? (quick ? 'meshlet,direct' : SYSTEM_NAMES.join(',')), SYSTEM_NAMES, 'systems');
  if (typeof systems === 'string') return { kind: 'error', message: systems };
  const scenarios = parseList(values.scenarios ?? (quick ? 'closed' : SCENARIO_NAMES.join(',')), SCENARIO_NAMES, 'scenarios');
  if (typeof scenarios === 'string') return { kind: 'error', message: scenarios };
  const rounds = Number(values.rounds ?? (quick ? 1 : DEFAULT_ROUNDS));
  if (!Number.isInteger(rounds) || rounds < 1) return { kind: 'error', message: `--rounds must be a positive integer, got ${values.rounds}` };
  const durationSec = parseDuration(values.duration ?? (quick ? '1s' : `${DEFAULT_DURATION_SEC}s`));
  if (durationSec === undefined || durationSec <= 0) return { kind: 'error', message: `--duration: cannot read ${JSON.stringify(values.duration)}` };
  const warmupSec = parseDuration(values.warmup ?? (quick ? '0' : `${DEFAULT_WARMUP_SEC}s`));
  if (warmupSec === undefined) return { kind: 'error', message: `--warmup: cannot read ${JSON.stringify(values.warmup)}` };
  const upstream = values.upstream ?? 'node';
  if (upstream !== 'node' && upstream !== 'nginx') return { kind: 'error', message: `--upstream must be node or nginx, got ${upstream}` };
  const generator = values.generator ?? 'auto';
  if (generator !== 'auto' && generator !== 'loadgen') return { kind: 'error', message: `--generator must be auto or loadgen, got ${generator}` };
  return {
    kind: 'run',
    options: { systems, scenarios, rounds, durationSec, warmupSec, upstream, useWrk: generator === 'auto', out: values.out ?? defaultOut, quick },
  };
}
