/**
 * The client side of the control-plane scale benchmark, run as its own process (pinned to the
 * client core by the runner): opens every simulated node's ADS stream, then edits the mesh (the
 * mesh file, or the registrations in etcd: mesh-editor.ts) and times each node's receipt of the
 * edit. The edits are written here, not by the runner, so the write and every receipt are timed
 * on one clock (performance.now() of this process).
 * Control plane CPU and memory are read from /proc at the phase boundaries this process knows.
 * argv[2] is a WorkerConfig (JSON); the result is one JSON line on stdout, progress on stderr.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { exitWhenParentExits } from '../child-lifeline';
import { stringifyWithInfinity } from './json';
import { meshletHistogramDeltaOf } from './push-latency';
import { scrapeMeshlet } from '../meshlet-stats';
import { sampleCpus, sampleProcessTree } from '../proc-sampler';
import { busyFraction, parsePidStat, parsePidStatus, type CpuTimes } from '../proc-stats';
import { serviceName } from './mesh-generator';
import { meshEditor } from './mesh-editor';
import type { ChangeRecord, CoreBusy, WorkerConfig, WorkerResult } from './scale-types';
import { SimulatedNode } from './simulated-node';

const POLL_MS = 5;
const TRACE_MS = 100;

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `done` every few ms until it holds or `deadline` (performance.now()) passes. */
async function waitUntil(done: () => boolean, deadline: number): Promise<boolean> {
  while (!done()) {
    if (performance.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

interface Mark {
  at: number;
  cpuTicks: number;
  cpus: Map<string, CpuTimes>;
  workerCpuUs: number;
}

function mark(pid: number): Mark {
  const usage = process.cpuUsage();
  return { at: performance.now(), cpuTicks: sampleProcessTree(pid).cpuTicks, cpus: sampleCpus(), workerCpuUs: usage.user + usage.system };
}

function between(a: Mark, b: Mark): { cpu: { cpuTicks: number; wallMs: number }; coreBusy: CoreBusy; workerCpuMs: number } {
  return {
    cpu: { cpuTicks: b.cpuTicks - a.cpuTicks, wallMs: b.at - a.at },
    coreBusy: { core0: busyFraction(a.cpus.get('cpu0'), b.cpus.get('cpu0')), core1: busyFraction(a.cpus.get('cpu1'), b.cpus.get('cpu1')) },
    workerCpuMs: (b.workerCpuUs - a.workerCpuUs) / 1000,
  };
}

/** One process' utime + stime: cheap enough to read every 100 ms while clients are being served. */
function cpuTicksOf(pid: number): number {
  try {
    const s = parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return s.utimeTicks + s.stimeTicks;
  } catch {
    return Number.NaN;
  }
}

function memory(pid: number): { rssKb: number; peakKb: number } {
  try {
    const s = parsePidStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { rssKb: s.vmRssKb, peakKb: s.vmHwmKb };
  } catch {
    return { rssKb: Number.NaN, peakKb: Number.NaN };
  }
}

async function run(config: WorkerConfig): Promise<WorkerResult> {
  const started = performance.now();
  const deadline = started + config.budgetMs;
  const pid = config.controlPlanePid;
  const beforeClients = memory(pid).rssKb;

  // Node i is the sidecar of service i (mod the mesh): distinct roles, each with its own snapshot.
  const nodes = Array.from(
    { length: config.clients },
    (_, i) => new SimulatedNode(config.target, config.flavor, { id: `scale-node-${i}`, cluster: serviceName(i % config.mesh.services, config.mesh) }),
  );
  const readyCount = (): number => nodes.filter((n) => n.readyAt !== undefined).length;

  const initialStart = mark(pid);
  for (const node of nodes) node.start();
  const allReady = await waitUntil(() => readyCount() === nodes.length, Math.min(deadline, initialStart.at + config.initialTimeoutMs));
  const lastReady = Math.max(initialStart.at, ...nodes.map((n) => n.readyAt ?? 0));
  progress(`initial configuration: ${readyCount()}/${nodes.length} clients in ${((lastReady - initialStart.at) / 1000).toFixed(2)} s`);
  await sleep(config.quietMs);
  const initialEnd = mark(pid);
  const initial = { readyMs: nodes.map((n) => (n.readyAt === undefined ? null : n.readyAt - initialStart.at)), ...between(initialStart, initialEnd) };
  // Let the control plane settle (GC after the burst) before the steady-state figures.
  await sleep(config.quietMs);
  const afterSync = memory(pid).rssKb;

  const changes: ChangeRecord[] = [];
  let stoppedEarly: string | undefined = allReady ? undefined : `only ${readyCount()} of ${nodes.length} clients got their initial configuration`;
  const editor = meshEditor(config.edits, config.mesh, config.moves);
  if (stoppedEarly === undefined) stoppedEarly = await editor.ready().then(() => undefined, (err: Error) => `cannot write edits: ${err.message}`);
  const scrapeBefore = await scrapeMeshlet(config.adminPort);
  for (let k = 0; stoppedEarly === undefined && k < config.moves.length; k++) {
    const move = config.moves[k];
    // An edit is started only if one like the last fits in the budget.
    const lastWall = changes.at(-1)?.cpu.wallMs ?? 0;
    if (performance.now() + lastWall + config.quietMs + 1000 > deadline) {
      stoppedEarly = `time budget: ${k} of ${config.moves.length} edits fitted (the last took ${(lastWall / 1000).toFixed(1)} s)`;
      break;
    }
    const write = editor.prepare(k);
    const cluster = serviceName(move.serviceIndex, config.mesh);
    for (const node of nodes) node.await({ cluster, port: move.port });
    const before = mark(pid);
    const writtenAt = performance.now();
    const cpuTrace = [{ atMs: 0, cpuTicks: before.cpuTicks }];
    const tracer = setInterval(() => cpuTrace.push({ atMs: performance.now() - writtenAt, cpuTicks: cpuTicksOf(pid) }), TRACE_MS);
    const failed = await write().then(() => undefined, (err: Error) => err.message);
    const writeMs = performance.now() - writtenAt;
    if (failed !== undefined) {
      clearInterval(tracer);
      stoppedEarly = `edit ${k + 1} could not be written: ${failed}`;
      break;
    }
    await waitUntil(() => nodes.every((n) => n.changeSeenAt !== undefined), Math.min(deadline, writtenAt + config.changeTimeoutMs));
    cpuTrace.push({ atMs: performance.now() - writtenAt, cpuTicks: cpuTicksOf(pid) });
    clearInterval(tracer);
    const convergenceMs = nodes.map((n) => (n.changeSeenAt === undefined ? null : n.changeSeenAt - writtenAt));
    const seen = convergenceMs.filter((v): v is number => v !== null);
    await sleep(config.quietMs);
    const after = mark(pid);
    changes.push({
      service: cluster,
      cluster,
      port: move.port,
      convergenceMs,
      writtenAtEpochMs: performance.timeOrigin + writtenAt,
      writeMs,
      cpuTrace,
      ...between(before, after),
    });
    progress(`edit ${k + 1}/${config.moves.length} (${cluster} endpoint 0 → port ${move.port}): ${seen.length}/${nodes.length} clients, last after ${seen.length ? (Math.max(...seen) / 1000).toFixed(2) : '–'} s`);
    if (seen.length < nodes.length) stoppedEarly = `edit ${k + 1} reached only ${seen.length} of ${nodes.length} clients within the timeout`;
  }
  editor.close();
  const scrapeAfter = await scrapeMeshlet(config.adminPort);
  const push = meshletHistogramDeltaOf(scrapeBefore, scrapeAfter, 'meshlet_control_plane_push_latency_seconds', { type: 'EDS' });
  const end = memory(pid);
  for (const node of nodes) node.close();
  const lastError = nodes.find((n) => n.lastError !== undefined)?.lastError;
  return {
    flavor: config.flavor,
    clients: nodes.length,
    initial,
    changes,
    quietMs: config.quietMs,
    ...(stoppedEarly !== undefined && { stoppedEarly }),
    memoryKb: { beforeClients, afterSync, afterChanges: end.rssKb, peak: end.peakKb },
    ...('histogram' in push ? { pushLatencyEds: push.histogram } : { pushLatencyError: push.error }),
    streamErrors: nodes.reduce((n, c) => n + c.streamErrors, 0),
    ...(lastError !== undefined && { lastStreamError: lastError }),
    responses: nodes.reduce((n, c) => n + c.responses, 0),
  };
}

exitWhenParentExits();
run(JSON.parse(process.argv[2] ?? '{}') as WorkerConfig).then(
  (result) => process.stdout.write(`${stringifyWithInfinity(result)}\n`, () => process.exit(0)),
  (err: unknown) => {
    process.stderr.write(`scale worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
