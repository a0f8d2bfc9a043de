/**
 * The config target's worker thread: generates and runs inputs [start, end) until the deadline,
 * writing the index it is on into shared memory before each one, so the main thread can tell a
 * hang and regenerate the input that caused it (config-runner.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Finding } from '../lib/findings';
import { ConfigTarget, type ConfigInput } from './config-decoder';
import { errorSignature, serializeInput, type ConfigWorkerData, type WorkerMessage } from './config-runner';

const data = workerData as ConfigWorkerData;
const shared = new Int32Array(data.shared);
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const seen = new Map<string, number>();
let slowReported = 0;
let current = data.start;

function report(kind: string, index: number, input: ConfigInput | undefined, err: unknown, ms: number): void {
  const signature = `${kind} ${errorSignature(err)}`;
  const count = (seen.get(signature) ?? 0) + 1;
  seen.set(signature, count);
  if (count > data.keepPerSignature) {
    post({ type: 'duplicate', signature });
    return;
  }
  const e = err as Error;
  const finding: Finding & { signature: string } = {
    target: 'config',
    severity: 'failure',
    kind,
    seed: data.seed,
    index,
    message: `${e?.name ?? typeof err}: ${String(e?.message ?? err).slice(0, 500)}`,
    detail: String(e?.stack ?? err),
    input: input === undefined ? undefined : serializeInput(input),
    ms,
    signature,
  };
  post({ type: 'finding', finding });
}

// yaml reports unresolved tags etc. through process warnings: thousands of them in a run, and
// not what this target checks (the document it returns is what is parsed).
process.emitWarning = () => {};

process.on('unhandledRejection', (reason) => report('unhandled-rejection', current, undefined, reason, 0));

/** The input's size, to tell an input slow for its size from a merely big one. */
function inputSize(input: ConfigInput): string {
  if (input.kind === 'bootstrap-file') return `${input.text.length} characters of ${input.ext}`;
  if (input.kind === 'resource-binary') return `${input.bytes.length} bytes`;
  try {
    return `${JSON.stringify(input.doc)?.length ?? 0} characters as JSON`;
  } catch {
    return 'not JSON-serializable';
  }
}

async function main(): Promise<void> {
  const target = new ConfigTarget({ maxDepth: data.maxDepth });
  if (data.mode === 'generate') {
    // Regenerates an input for a report in a thread like the one that ran it (stack size matters for deep inputs).
    let input: unknown;
    try {
      input = serializeInput(target.generate(data.seed, data.start));
    } catch (err) {
      input = { omitted: `generation failed: ${(err as Error).message}` };
    }
    post({ type: 'input', input });
    return;
  }
  // Warm up (proto loading, JIT) on the seeds themselves, so the first inputs are not "slow".
  let seedsAccepted = 0;
  for (const b of target.bootstraps) {
    try {
      if (target.execute({ kind: 'bootstrap', seed: b.name, doc: b.doc }) === 'accepted') seedsAccepted++;
    } catch (err) {
      report('unexpected-throw', -1, { kind: 'bootstrap', seed: b.name, doc: b.doc }, err, 0);
    }
  }
  post({ type: 'ready', seeds: target.bootstraps.length, seedsAccepted, resources: target.resources.length });

  let accepted = 0;
  let rejected = 0;
  let done = 0;
  let next = data.start;
  for (let i = data.start; i < data.end && Date.now() < data.deadline; i++) {
    current = i;
    next = i + 1;
    Atomics.store(shared, 0, i);
    let input: ConfigInput | undefined;
    const t0 = performance.now();
    try {
      input = target.generate(data.seed, i);
    } catch (err) {
      // A harness problem (e.g. a stack overflow cloning a deep input), not a finding: a warning.
      post({ type: 'finding', finding: { target: 'config', severity: 'warning', kind: 'generator-error', seed: data.seed, index: i, message: String((err as Error)?.message ?? err), detail: String((err as Error)?.stack ?? err) } });
      continue;
    }
    const t1 = performance.now();
    try {
      const outcome = target.execute(input);
      if (outcome === 'accepted') accepted++;
      else rejected++;
      if (data.verbose) post({ type: 'outcome', index: i, kind: input.kind, outcome, ms: performance.now() - t1 });
    } catch (err) {
      report('unexpected-throw', i, input, err, performance.now() - t1);
    }
    let ms = performance.now() - t1;
    if (ms > data.slowMs) {
      // Once more, to tell a slow input from a garbage collection that happened to fall on it.
      const t2 = performance.now();
      try {
        target.execute(input);
      } catch {
        // reported above
      }
      ms = Math.min(ms, performance.now() - t2);
    }
    if (ms > data.slowMs) {
      if (slowReported++ < data.maxSlowReports) {
        post({
          type: 'finding',
          finding: { target: 'config', severity: 'slow', kind: 'slow-input', seed: data.seed, index: i, message: `${input.kind} took ${ms.toFixed(0)} ms (best of two; input ${inputSize(input)}, generation ${(t1 - t0).toFixed(0)} ms)`, input: serializeInput(input), ms },
        });
      } else post({ type: 'duplicate', signature: 'slow-input' });
    }
    done++;
    // Lets timers and promise rejections the input caused surface while it is still the current one.
    await new Promise((resolve) => setImmediate(resolve));
    if (done % 100 === 0) post({ type: 'progress', done, accepted, rejected });
  }
  post({ type: 'done', done, accepted, rejected, next });
}

main().catch((err) => report('worker-error', current, undefined, err, 0));
