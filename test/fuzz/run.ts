/**
 * The long fuzz runner: the same targets as the CI tests (test/fuzz/*.fuzz.test.ts), for longer,
 * writing every finding to fuzz/findings/ (see fuzz/README.md).
 *
 *   npm run fuzz -- [--target config|http1|all] [--seconds 600] [--seed N|date|random]
 *                   [--max-inputs N] [--start-index N] [--out DIR]
 *                   [--max-depth N] [--slow-ms N] [--hang-ms N] [--concurrency N]
 *   npm run fuzz -- --target config --seed S --index I      re-run one input, print what it threw
 *   npm run fuzz -- --target config --replay FILE           re-run the input saved in a finding
 *   npm run fuzz -- --target http1 --seed S --index I       re-send one case to a fresh proxy
 *
 * `--seconds` is per target (`all` runs config, then http1). The seed defaults to a random one,
 * printed first: a run is reproduced by its seed (and an input by seed and index).
 * Exit code: 1 when a failure was found, else 0.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeFinding, fromTaggedJson, writeFinding, type Finding } from './lib/findings';
import { parseSeed } from './lib/rng';
import { ConfigTarget, type ConfigInput } from './targets/config-decoder';
import { runConfigFuzz } from './targets/config-runner';
import { REPO_ROOT } from './targets/config-seeds';
import { runHttp1Fuzz } from './targets/http1';

interface Args {
  target: 'config' | 'http1' | 'all';
  seconds: number;
  seed: number;
  maxInputs: number;
  startIndex: number;
  index: number | undefined;
  replay: string | undefined;
  out: string;
  maxDepth: number;
  slowMs: number;
  hangMs: number;
  concurrency: number;
}

function parseArgs(argv: readonly string[]): Args {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const [key, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (key === 'help') {
      // The usage is this file's opening comment.
      const source = readFileSync(__filename, 'utf8');
      process.stdout.write(source.slice(source.indexOf('/**')).split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, '') + '\n');
      process.exit(0);
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${key} needs a value`);
    values.set(key, value);
  }
  const known = ['target', 'seconds', 'seed', 'max-inputs', 'start-index', 'index', 'replay', 'out', 'max-depth', 'slow-ms', 'hang-ms', 'concurrency'];
  for (const key of values.keys()) if (!known.includes(key)) throw new Error(`unknown option --${key} (known: ${known.map((k) => `--${k}`).join(' ')})`);
  const num = (key: string, fallback: number) => {
    const v = values.get(key);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${key} must be a non-negative number, not ${v}`);
    return n;
  };
  const target = values.get('target') ?? 'all';
  if (target !== 'config' && target !== 'http1' && target !== 'all') throw new Error(`--target is config, http1 or all, not ${target}`);
  return {
    target,
    seconds: num('seconds', 600),
    seed: parseSeed(values.get('seed'), (Math.random() * 4294967296) >>> 0),
    maxInputs: num('max-inputs', Number.MAX_SAFE_INTEGER),
    startIndex: num('start-index', 0),
    index: values.has('index') ? num('index', 0) : undefined,
    replay: values.get('replay'),
    out: resolve(values.get('out') ?? join(REPO_ROOT, 'fuzz', 'findings')),
    maxDepth: num('max-depth', 3000),
    slowMs: num('slow-ms', 200),
    hangMs: num('hang-ms', 10_000),
    concurrency: num('concurrency', 6),
  };
}

/**
 * Runs one saved config input in this process and prints the outcome or the full stack. (The main
 * thread's stack is smaller than the fuzz workers': an input nested thousands deep may overflow here only.)
 */
function runOneConfig(input: ConfigInput, maxDepth: number, label: string): boolean {
  const target = new ConfigTarget({ maxDepth });
  const t0 = performance.now();
  try {
    const outcome = target.execute(input);
    console.log(`${label}: ${input.kind} ${outcome} in ${(performance.now() - t0).toFixed(1)} ms`);
    return true;
  } catch (err) {
    console.log(`${label}: ${input.kind} threw after ${(performance.now() - t0).toFixed(1)} ms:\n${(err as Error)?.stack ?? String(err)}`);
    return false;
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const stamp = new Date().toISOString();
  const written: string[] = [];
  let failures = 0;
  const onFinding = (f: Finding) => {
    if (f.severity === 'failure') failures++;
    console.log(describeFinding(f));
    // A single-input replay is for debugging: show the whole story.
    if (args.index !== undefined && f.detail) console.log(f.detail);
    written.push(writeFinding(args.out, f));
  };
  const log = (line: string) => console.log(line);

  if (args.replay !== undefined) {
    const finding = JSON.parse(readFileSync(args.replay, 'utf8')) as Finding;
    if (finding.target !== 'config') throw new Error('--replay re-runs config findings; for http1 use --seed and --index');
    if (finding.input === undefined || (finding.input as { omitted?: string }).omitted) throw new Error(`the finding has no input; use --seed ${finding.seed} --index ${finding.index}`);
    return runOneConfig(fromTaggedJson(finding.input) as ConfigInput, args.maxDepth, args.replay) ? 0 : 1;
  }
  if (args.index !== undefined && args.target === 'all') throw new Error('--index needs --target config or --target http1');

  console.log(`fuzz: seed ${args.seed}, target ${args.target}, ${args.seconds} s per target, findings in ${args.out}`);
  const summaries: Record<string, unknown> = {};
  let totalFailures = 0;
  const single = args.index !== undefined;
  if (args.target === 'config' || args.target === 'all') {
    const summary = await runConfigFuzz({
      seed: args.seed,
      startIndex: single ? args.index : args.startIndex,
      maxInputs: single ? 1 : args.maxInputs,
      verbose: single,
      seconds: args.seconds,
      maxDepth: args.maxDepth,
      slowMs: args.slowMs,
      hangMs: args.hangMs,
      keepPerSignature: 3,
      onFinding,
      log,
    });
    summaries.config = summary;
    totalFailures += summary.failures;
    console.log(`config: ${JSON.stringify(summary, null, 2)}`);
  }
  if (args.target === 'http1' || args.target === 'all') {
    const summary = await runHttp1Fuzz({
      seed: args.seed,
      startIndex: single ? args.index : args.startIndex,
      maxCases: single ? 1 : args.maxInputs,
      seconds: args.seconds,
      concurrency: single ? 1 : args.concurrency,
      keepPerKind: single ? 100 : 5,
      onFinding,
      log,
    });
    summaries.http1 = summary;
    totalFailures += summary.failures;
    console.log(`http1: ${JSON.stringify(summary, null, 2)}`);
  }
  mkdirSync(args.out, { recursive: true });
  const summaryFile = join(args.out, `summary-${args.target}-${args.seed}.json`);
  writeFileSync(summaryFile, JSON.stringify({ started: stamp, args: { ...args }, summaries, findings: written }, null, 2) + '\n');
  console.log(`fuzz: seed ${args.seed}: ${totalFailures} failing input(s), ${failures} written; ${written.length} finding file(s); summary in ${summaryFile}`);
  return totalFailures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
