/**
 * The control-plane scale benchmark (issue 8): thin I/O around the pure parts. Generates the
 * mesh and provides it (a file, or etcd with registrations: mesh-source.ts), starts
 * `meshlet control-plane` on core 0 and the client worker (scale-worker.ts) on core 1, and
 * writes bench/results/<date>-control-plane-scale[-etcd].{json,md}. Every process is in the
 * harness' ProcessRegistry (killed on exit, SIGINT/SIGTERM, and by the reaper if this dies), and
 * every wait is bounded by the run's budget.
 *
 * `npm run bench -- --control-plane-scale [options]`, or `node dist/bench/control-plane-scale/run.js [options]`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor200 } from '../http-probe';
import { packageVersion } from '../machine-info';
import { onStderrLines, pinned, ProcessRegistry, type Tracked } from '../processes';
import type { MachineInfo } from '../result-types';
import { localDate, machineInfo } from '../run-bench';
import { CLIENT_CORE, PROXY_CORE } from '../systems';
import { parseWithInfinity, stringifyWithInfinity } from './json';
import { meshShape, plannedMoves, type ScaleMeshOptions } from './mesh-generator';
import { provideMesh, type MeshSource } from './mesh-source';
import { renderScaleMarkdown, resultBaseName } from './scale-markdown';
import { parseScaleArgs, SCALE_HELP, type ScaleOptions } from './scale-options';
import { reloadTimes, summarizeScale, type ScaleResult } from './scale-summary';
import type { WorkerConfig, WorkerResult } from './scale-types';

/** dist/bench/control-plane-scale/run.js → the checkout. */
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** Kept for writing results and stopping processes after the worker's budget runs out. */
const RESERVE_MS = 10_000;
const QUIET_MS = 500;

function loadAverage(): number {
  return os.loadavg()[0] ?? Number.NaN;
}

function machine(): MachineInfo {
  const grpc = packageVersion(REPO_ROOT, '@grpc/grpc-js');
  return machineInfo(REPO_ROOT, grpc ? { '@grpc/grpc-js': grpc } : {});
}

/** pino's level of a JSON log line (40 = warn); 50 for anything that is not one, e.g. a crash's stack. */
function logLevel(line: string): number {
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level;
    return typeof level === 'number' ? level : 50;
  } catch {
    return 50;
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve(undefined);
    }, ms);
  });
  const result = await Promise.race([promise, timeout]);
  clearTimeout(timer);
  return result;
}

export async function runControlPlaneScale(options: ScaleOptions, command: string, log: (line: string) => void): Promise<ScaleResult> {
  const started = new Date();
  const deadline = Date.now() + options.budgetSec * 1000;
  const procs = new ProcessRegistry();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'meshlet-cp-scale-'));
  const removeTmp = (): void => rmSync(tmp, { recursive: true, force: true });
  const removeHooks = procs.installExitHooks(removeTmp);
  const mesh: ScaleMeshOptions = { services: options.services, endpointsPerService: options.endpointsPerService, routedEvery: 100 };
  const result: ScaleResult = {
    schema: 'meshlet-control-plane-scale/1',
    date: localDate(started),
    startedAt: started.toISOString(),
    finishedAt: '',
    elapsedSec: 0,
    command,
    options,
    machine: machine(),
    mesh: { services: mesh.services, endpointsPerService: mesh.endpointsPerService, ...meshShape(mesh), fileBytes: Number.NaN },
    controlPlane: { startupMs: Number.NaN, reloadedAtEpochMs: [] },
    loadAverage: { start: loadAverage(), end: Number.NaN },
  };
  let source: MeshSource | undefined;
  let plane: Tracked | undefined;
  try {
    const moves = plannedMoves(mesh, options.changes);
    source = await provideMesh(options.registry, { mesh, tmp, procs, deadline: deadline - RESERVE_MS, log });
    const from = source;
    result.registry = from.info;
    result.mesh.fileBytes = Buffer.byteLength(from.text);
    Object.assign(result.machine.versions, from.versions);
    const [port, adminPort] = [await freePort(), await freePort()];
    const bin = path.join(REPO_ROOT, 'bin', 'meshlet.js');
    // info: the "mesh reloaded" lines time each rebuild; at info it logs nothing per request.
    const args = [bin, 'control-plane', ...from.controlPlaneArgs, '--port', String(port), '--admin-port', String(adminPort), '--log-level', 'info'];
    log(`control plane: ${mesh.services} services × ${mesh.endpointsPerService} endpoints (${options.registry === 'file' ? 'mesh file' : 'from etcd'}, ${(result.mesh.fileBytes / 1024).toFixed(0)} KiB), core ${PROXY_CORE}`);
    const startAt = Date.now();
    const cp = procs.spawn('control-plane', ...pinned(PROXY_CORE, process.execPath, args));
    plane = cp;
    // Its log (pino, on stderr) is kept for the reload times; only warnings and errors are shown.
    onStderrLines(cp, (line) => {
      result.controlPlane.reloadedAtEpochMs.push(...reloadTimes(line, from.origin));
      if (logLevel(line) >= 40) log(`control plane: ${line}`);
    });
    const ready = await waitFor200(`http://127.0.0.1:${adminPort}/ready`, Math.max(1000, deadline - RESERVE_MS - Date.now()), () => !cp.hasExited());
    if (!ready.ok) throw new Error(`control plane not ready: ${ready.reason} ${cp.stderr().slice(-500)}`);
    result.controlPlane.startupMs = Date.now() - startAt;
    log(`control plane ready after ${(result.controlPlane.startupMs / 1000).toFixed(1)} s; ${options.clients} ${options.flavor} clients on core ${CLIENT_CORE}`);

    const budgetMs = deadline - RESERVE_MS - Date.now();
    const config: WorkerConfig = {
      target: `127.0.0.1:${port}`,
      adminPort,
      controlPlanePid: cp.pid,
      flavor: options.flavor,
      clients: options.clients,
      mesh,
      edits: from.edits,
      moves,
      budgetMs,
      initialTimeoutMs: budgetMs,
      // An edit may take as long as the budget allows: with a slow rebuild, one complete edit beats none.
      changeTimeoutMs: budgetMs,
      quietMs: QUIET_MS,
    };
    const worker = procs.spawn('clients', ...pinned(CLIENT_CORE, process.execPath, [path.join(__dirname, 'scale-worker.js'), JSON.stringify(config)]));
    onStderrLines(worker, (line) => log(`clients: ${line}`));
    // The worker keeps to its budget; this only catches one that hangs.
    const exit = await withTimeout(worker.exited, budgetMs + 5000, () => void procs.stop(worker));
    const line = worker.stdout().split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`the client worker ${exit ? `exited (code ${exit.code}, signal ${exit.signal})` : 'overran its budget'} without a result: ${worker.stderr().slice(-500)}`);
    const raw = parseWithInfinity<WorkerResult>(line);
    result.worker = raw;
    result.summary = summarizeScale(raw, result.machine.clockTicksPerSecond, result.controlPlane.reloadedAtEpochMs);
    if (raw.stoppedEarly) log(`stopped early: ${raw.stoppedEarly}`);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
  } finally {
    // The control plane before its etcd, so that it does not log etcd going away.
    if (plane) await procs.stop(plane);
    await source?.close().catch((err: Error) => log(`stopping the mesh source: ${err.message}`));
    await procs.stopAll();
    removeHooks();
    removeTmp();
  }
  result.loadAverage.end = loadAverage();
  const finished = new Date();
  result.finishedAt = finished.toISOString();
  result.elapsedSec = (finished.getTime() - started.getTime()) / 1000;
  return result;
}

function writeResults(result: ScaleResult, outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, resultBaseName(result));
  writeFileSync(`${base}.json`, `${stringifyWithInfinity(result, 2)}\n`);
  writeFileSync(`${base}.md`, renderScaleMarkdown(result));
  return [`${base}.json`, `${base}.md`];
}

/** `meshlet bench --control-plane-scale [options]`: 0 ok, 1 failed run, 2 bad arguments. */
export async function controlPlaneScaleCommand(args: readonly string[], command: string): Promise<number> {
  const parsed = parseScaleArgs(args, path.join(REPO_ROOT, 'bench', 'results'));
  if (parsed.kind === 'help') {
    process.stdout.write(SCALE_HELP);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`control-plane scale bench: ${parsed.message}\n\n${SCALE_HELP}`);
    return 2;
  }
  const result = await runControlPlaneScale(parsed.options, command, (line) => process.stderr.write(`bench: ${line}\n`));
  const written = writeResults(result, path.resolve(parsed.options.out));
  const s = result.summary;
  if (s) {
    const f = (v: number): string => (Number.isFinite(v) ? `${(v / 1000).toFixed(3)} s` : String(v));
    const registry = result.registry;
    process.stdout.write(
      (registry?.kind === 'etcd'
        ? `mesh from etcd ${registry.version} (${registry.members} member): the document and ${registry.registrations} registered endpoints; edits move a registration in one transaction\n`
        : 'mesh from a file; edits rewrite it\n') +
        `initial configuration, all ${parsed.options.clients} clients: ${f(s.initialSync.maxMs)} (p50 ${f(s.initialSync.p50Ms)})\n` +
        `edit → client over ${result.worker?.changes.length ?? 0} edits: p50 ${f(s.changes.pooled.p50Ms)}, p90 ${f(s.changes.pooled.p90Ms)}, p99 ${f(s.changes.pooled.p99Ms)}, max ${f(s.changes.pooled.maxMs)}\n` +
        `control plane: ${f(s.changes.cpuMsPerUpdateMedian)} CPU per edit, ${(s.changes.coreFraction * 100).toFixed(0)} % of a core during edits; RSS steady ${s.memoryMb.afterSync.toFixed(0)} MB, peak ${s.memoryMb.peak.toFixed(0)} MB\n`,
    );
  }
  process.stdout.write(`wrote ${written.map((f) => path.relative(process.cwd(), f) || f).join(', ')} (${Math.round(result.elapsedSec)} s)\n`);
  if (result.error) {
    process.stderr.write(`control-plane scale bench: ${result.error}\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  void controlPlaneScaleCommand(args, ['node dist/bench/control-plane-scale/run.js', ...args].join(' ')).then((code) => process.exit(code));
}
