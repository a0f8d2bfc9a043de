import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH_HELP, parseBenchArgs } from './cli-options';
import { controlPlaneScaleCommand } from './control-plane-scale/run';
import { renderCharts } from './report/chart-set';
import { renderMarkdown } from './report/markdown';
import { renderTextSummary } from './report/text-summary';
import type { BenchResult } from './result-types';
import { runBench } from './run-bench';

/** The checkout: dist/bench/bench-command.js → two levels up. */
const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Writes `<date>.json`, `<date>.md` and the charts; returns the paths written. */
function writeResults(result: BenchResult, outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  const charts = renderCharts(result);
  const written = [path.join(outDir, `${result.date}.json`), path.join(outDir, `${result.date}.md`)];
  // JSON has no Infinity: the +Inf histogram bound is written as Prometheus spells it, not as null.
  writeFileSync(written[0], `${JSON.stringify(result, (_key, value: unknown) => (value === Number.POSITIVE_INFINITY ? '+Inf' : value), 2)}\n`);
  writeFileSync(written[1], renderMarkdown(result, charts));
  for (const c of charts) {
    const file = path.join(outDir, c.file);
    writeFileSync(file, c.svg);
    written.push(file);
  }
  return written;
}

/** `meshlet bench` / `npm run bench`: returns the process exit code (0 ok, 1 failed run, 2 bad arguments). */
export async function benchCommand(args: string[]): Promise<number> {
  // A benchmark of its own (the control plane, not the proxy), with its own options.
  if (args.includes('--control-plane-scale')) {
    const rest = args.filter((a) => a !== '--control-plane-scale');
    return controlPlaneScaleCommand(rest, ['npm run bench -- --control-plane-scale', ...rest].join(' '));
  }
  const parsed = parseBenchArgs(args, path.join(REPO_ROOT, 'bench', 'results'));
  if (parsed.kind === 'help') {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`meshlet bench: ${parsed.message}\n\n${BENCH_HELP}`);
    return 2;
  }
  const log = (line: string): void => {
    process.stderr.write(`bench: ${line}\n`);
  };
  try {
    const result = await runBench(parsed.options, REPO_ROOT, log);
    const written = writeResults(result, path.resolve(parsed.options.out));
    process.stdout.write(renderTextSummary(result));
    process.stdout.write(`\nwrote ${written.map((f) => path.relative(process.cwd(), f) || f).join(', ')} (${Math.round(result.elapsedSec)} s)\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`meshlet bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
