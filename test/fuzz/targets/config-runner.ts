/**
 * Runs the config target (config-decoder.ts) for a time/input budget in a worker thread, with a
 * watchdog: the worker writes the index of the input it is on into shared memory, and an input
 * that keeps it longer than `hangMs` is a hang: the worker is terminated, the input regenerated
 * from (seed, index) and reported, and a new worker goes on after it. Used by the tap test
 * (test/fuzz/config-decoder.fuzz.test.ts) and the long runner (test/fuzz/run.ts) alike.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { toTaggedJson, type Finding } from '../lib/findings';
import type { ConfigInput } from './config-decoder';

export interface ConfigRunOptions {
  readonly seed: number;
  /** First input index (default 0): a run can go on where another stopped. */
  readonly startIndex?: number;
  readonly maxInputs: number;
  readonly seconds: number;
  readonly maxDepth?: number;
  /** An input taking longer is recorded as `slow` (never a failure). */
  readonly slowMs?: number;
  /** An input taking longer is a hang (a failure). */
  readonly hangMs?: number;
  /** Findings kept per distinct error signature (the rest are counted). */
  readonly keepPerSignature?: number;
  readonly onFinding: (finding: Finding) => void;
  readonly log?: (line: string) => void;
  /** Log every input's outcome (single-input replays). */
  readonly verbose?: boolean;
}

export interface ConfigRunSummary {
  readonly seed: number;
  readonly firstIndex: number;
  readonly nextIndex: number;
  readonly inputs: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly failures: number;
  readonly slow: number;
  readonly seconds: number;
  readonly seedsAccepted: string;
  /** Failure signature → how many inputs hit it. */
  readonly signatures: Record<string, number>;
}

export interface ConfigWorkerData {
  readonly seed: number;
  readonly start: number;
  readonly end: number;
  readonly deadline: number;
  readonly maxDepth: number;
  readonly slowMs: number;
  readonly keepPerSignature: number;
  readonly maxSlowReports: number;
  readonly shared: SharedArrayBuffer;
  /** `generate`: only regenerate input `start` and post it. */
  readonly mode?: 'run' | 'generate';
  /** Post every input's outcome (for single-input replays). */
  readonly verbose?: boolean;
}

/** Every worker gets the same limits, so an input behaves (and generates) the same in a replay as in the run. */
const WORKER_LIMITS = { maxOldGenerationSizeMb: 3072, stackSizeMb: 4 };

export type WorkerMessage =
  | { type: 'ready'; seeds: number; seedsAccepted: number; resources: number }
  | { type: 'finding'; finding: Finding & { signature?: string } }
  | { type: 'duplicate'; signature: string }
  | { type: 'progress'; done: number; accepted: number; rejected: number }
  | { type: 'done'; done: number; accepted: number; rejected: number; next: number }
  | { type: 'outcome'; index: number; kind: string; outcome: string; ms: number }
  | { type: 'input'; input: unknown };

const MAX_INPUT_JSON = 1_000_000;

/** The input in tagged JSON, or a note when it is too big to keep (it regenerates from seed and index). */
export function serializeInput(input: ConfigInput): unknown {
  try {
    const tagged = toTaggedJson(input);
    const size = JSON.stringify(tagged).length;
    return size <= MAX_INPUT_JSON ? tagged : { omitted: `${size} characters of JSON; regenerate it with --seed and --index`, kind: input.kind };
  } catch (err) {
    return { omitted: `not serializable: ${(err as Error).message}`, kind: input.kind };
  }
}

/** `TypeError: Cannot read properties of undefined (reading 'x') @ proxy/config/cluster-parser.ts:123` with numbers masked. */
export function errorSignature(err: unknown): string {
  const e = err as Error;
  const message = String(e?.message ?? err)
    .split('\n')[0]!
    .replace(/"[^"]*"|'[^']*'/g, '"…"')
    .replace(/\d+/g, 'N')
    .slice(0, 160);
  // The first frame in the code under test (or a dependency), as `xds/proto-binary.js:264`.
  const where =
    String(e?.stack ?? '')
      .split('\n')
      .slice(1)
      .filter((l) => !l.includes('/test/fuzz/'))
      .map((l) => /\/(proxy|xds|certs|cli|node_modules)\/([^():]+:\d+)/.exec(l))
      .find((m) => m !== null)
      ?.slice(1, 3)
      .join('/') ?? 'unknown';
  return `${e?.name ?? typeof err}: ${message} @ ${where}`;
}

/** Runs `data`'s inputs in a fresh worker; `timeout` when it is not done within `timeoutMs`. */
function runAlone(data: ConfigWorkerData, timeoutMs: number): Promise<{ how: 'done' | 'timeout' | 'crash'; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const worker = new Worker(join(__dirname, 'config-worker.js'), { workerData: data, resourceLimits: WORKER_LIMITS });
    let readyAt = 0;
    const done = (how: 'done' | 'timeout' | 'crash') => {
      clearInterval(timer);
      void worker.terminate();
      resolve({ how, ms: Date.now() - (readyAt || started) });
    };
    // The budget counts from the end of the warm-up, as in the run.
    const timer = setInterval(() => {
      if (readyAt > 0 && Date.now() - readyAt > timeoutMs) done('timeout');
      else if (Date.now() - started > timeoutMs * 4) done('timeout');
    }, 100);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') readyAt = Date.now();
      if (m.type === 'done') done('done');
    });
    worker.on('error', () => done('crash'));
    worker.on('exit', () => done('crash'));
  });
}

/** Input `data.start`, generated in a worker like the one that ran it, serialized. */
function regenerate(data: ConfigWorkerData): Promise<unknown> {
  return new Promise((resolve) => {
    const worker = new Worker(join(__dirname, 'config-worker.js'), { workerData: data, resourceLimits: WORKER_LIMITS });
    const timer = setTimeout(() => void worker.terminate(), 60_000);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type !== 'input') return;
      clearTimeout(timer);
      void worker.terminate();
      resolve(m.input);
    });
    worker.on('error', () => resolve(undefined));
    worker.on('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

export async function runConfigFuzz(options: ConfigRunOptions): Promise<ConfigRunSummary> {
  const log = options.log ?? (() => {});
  const first = options.startIndex ?? 0;
  const end = first + options.maxInputs;
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const hangMs = options.hangMs ?? 10_000;
  const maxDepth = options.maxDepth ?? 3000;
  const signatures: Record<string, number> = {};
  let next = first;
  let inputs = 0;
  let accepted = 0;
  let rejected = 0;
  let failures = 0;
  let slow = 0;
  let seedsAccepted = '';

  const record = (f: Finding & { signature?: string }) => {
    if (f.severity === 'failure') {
      failures++;
      const sig = f.signature ?? f.kind;
      signatures[sig] = (signatures[sig] ?? 0) + 1;
    } else if (f.severity === 'slow') slow++;
    options.onFinding(f);
  };

  while (next < end && Date.now() < deadline) {
    const shared = new SharedArrayBuffer(8);
    const index = new Int32Array(shared);
    Atomics.store(index, 0, next);
    const data: ConfigWorkerData = {
      seed: options.seed,
      start: next,
      end,
      deadline,
      maxDepth,
      slowMs: options.slowMs ?? 200,
      keepPerSignature: options.keepPerSignature ?? 3,
      maxSlowReports: 20,
      shared,
    };
    const worker = new Worker(join(__dirname, 'config-worker.js'), { workerData: { ...data, verbose: options.verbose }, resourceLimits: WORKER_LIMITS });
    let base = { done: 0, accepted: 0, rejected: 0 };
    const ended = await new Promise<{ how: 'done'; next: number } | { how: 'hang' | 'crash'; index: number; error?: Error }>((resolve) => {
      let lastIndex = -1;
      let lastChange = Date.now();
      let ready = false;
      const watchdog = setInterval(() => {
        const current = Atomics.load(index, 0);
        if (current !== lastIndex) {
          lastIndex = current;
          lastChange = Date.now();
          return;
        }
        // Warm-up (proto loading) is not an input: it gets the hang budget three times over.
        if (Date.now() - lastChange > (ready ? hangMs : hangMs * 3)) {
          clearInterval(watchdog);
          void worker.terminate();
          resolve({ how: 'hang', index: current });
        }
      }, 100);
      worker.on('message', (m: WorkerMessage) => {
        switch (m.type) {
          case 'ready':
            ready = true;
            lastChange = Date.now();
            seedsAccepted = `${m.seedsAccepted}/${m.seeds} bootstrap seeds accepted, ${m.resources} resource seeds`;
            break;
          case 'finding':
            record(m.finding);
            break;
          case 'duplicate':
            if (m.signature === 'slow-input') slow++;
            else {
              failures++;
              signatures[m.signature] = (signatures[m.signature] ?? 0) + 1;
            }
            break;
          case 'progress':
            base = m;
            break;
          case 'outcome':
            log(`input ${m.index}: ${m.kind} ${m.outcome} in ${m.ms.toFixed(1)} ms`);
            break;
          case 'done':
            base = m;
            clearInterval(watchdog);
            resolve({ how: 'done', next: m.next });
            break;
        }
      });
      worker.on('error', (error) => {
        clearInterval(watchdog);
        resolve({ how: 'crash', index: Atomics.load(index, 0), error });
      });
      worker.on('exit', (code) => {
        clearInterval(watchdog);
        resolve({ how: 'crash', index: Atomics.load(index, 0), error: new Error(`worker exited with code ${code}`) });
      });
    });
    inputs += base.done;
    accepted += base.accepted;
    rejected += base.rejected;
    if (ended.how === 'done') {
      next = ended.next;
      await worker.terminate();
      break;
    }
    // A hang or a crash: regenerate the input (generation is cheap and deterministic) and report it.
    inputs++;
    const input = (await regenerate({ ...data, start: ended.index, mode: 'generate' })) as { kind?: string } | undefined;
    // A hang is confirmed by running the input again alone: a machine busy with something else (or a
    // garbage collection near the heap limit) can stall a worker too, and that is no finding.
    if (ended.how === 'hang') {
      const again = await runAlone({ ...data, start: ended.index, end: ended.index + 1, deadline: Number.MAX_SAFE_INTEGER }, hangMs);
      if (again.how === 'done') {
        const what = `input ${ended.index} (${input?.kind}) stalled the worker over ${hangMs} ms, but alone it took ${again.ms} ms: not reproduced`;
        log(`config fuzz: ${what}`);
        record({ target: 'config', severity: 'warning', kind: 'stall-not-reproduced', seed: options.seed, index: ended.index, message: what, input } as Finding);
        next = ended.index + 1;
        continue;
      }
    }
    const what = ended.how === 'hang' ? `input ${ended.index} (${input?.kind}) ran over ${hangMs} ms, twice` : `the worker died on input ${ended.index}: ${ended.error?.message}`;
    log(`config fuzz: ${what}`);
    record({
      target: 'config',
      severity: 'failure',
      kind: ended.how === 'hang' ? 'hang' : 'worker-crash',
      seed: options.seed,
      index: ended.index,
      message: what,
      detail: ended.error?.stack,
      input,
      signature: ended.how === 'hang' ? `hang ${input?.kind}` : `worker-crash ${ended.error?.message}`,
    } as Finding);
    next = ended.index + 1;
  }
  return {
    seed: options.seed,
    firstIndex: first,
    nextIndex: next,
    inputs,
    accepted,
    rejected,
    failures,
    slow,
    seconds: (Date.now() - started) / 1000,
    seedsAccepted,
    signatures,
  };
}
