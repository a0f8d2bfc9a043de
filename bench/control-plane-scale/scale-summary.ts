/** The scale benchmark's result document and the summary derived from its raw data. Pure. */
import { histogramMean, histogramQuantile, type Histogram } from '../prometheus-text';
import type { MachineInfo } from '../result-types';
import { cpuSummary, otherCores, summarizeChanges, summarizeTimes, ticksBetween, type ChangesSummary, type TimeSummary } from './convergence';
import type { ScaleOptions } from './scale-options';
import type { WorkerResult } from './scale-types';

export interface ScaleSummary {
  initialSync: TimeSummary & { cpuMs: number; coreFraction: number };
  changes: ChangesSummary;
  /** Per edit: file write → the control plane's "reloaded" log line (debounce, parse, snapshots, validation); null if not logged. */
  rebuildMs: (number | null)[];
  /**
   * Per edit, the control plane's CPU before and after its rebuild was logged: the rebuild
   * (parse, snapshots, validation) and the fan-out to every client (version comparisons, encoding,
   * writing), each widened by at most one 100 ms trace interval. Null without a logged rebuild.
   */
  phases: ({ rebuildCpuMs: number; fanOutMs: number; fanOutCpuMs: number; fanOutCpuUsPerClient: number } | null)[];
  memoryMb: { beforeClients: number; afterSync: number; afterChanges: number; peak: number };
  /** Cores' worth of CPU used by other processes on the machine (otherCores), during the initial sync and during the edits. */
  otherCores: { initial: number; changes: number };
  pushLatencyEds?: { count: number; meanMs: number; p50Ms: number; p99Ms: number; highestBucketMs: number };
}

/** Where the control plane's mesh came from, as the report describes it. */
export type ScaleRegistryInfo =
  | { kind: 'file' }
  | {
      kind: 'etcd';
      /** What the member answered on /version (etcdserver), e.g. "3.4.23". */
      version: string;
      members: number;
      /** The control plane's --registry and --prefix. */
      url: string;
      prefix: string;
      /** The core etcd was pinned to; absent without taskset. */
      core?: number;
      /** The one lease every registration is on (kept alive by the bench), and its TTL. */
      leaseTtlSec: number;
      registrations: number;
      registrationBytes: number;
      /** etcd started until healthy, the document put, every registration put. */
      setupMs: { start: number; document: number; registrations: number };
    };

export interface ScaleResult {
  schema: 'meshlet-control-plane-scale/1';
  date: string;
  startedAt: string;
  finishedAt: string;
  elapsedSec: number;
  /** How the run was started, for the report. */
  command: string;
  options: ScaleOptions;
  machine: MachineInfo;
  /** fileBytes: the mesh file's, or in etcd the mesh document's (without endpoints). */
  mesh: { services: number; endpointsPerService: number; routedServices: number; clusters: number; endpoints: number; fileBytes: number };
  /** Absent in results written before the etcd mode (all from a file). */
  registry?: ScaleRegistryInfo;
  controlPlane: { startupMs: number; reloadedAtEpochMs: number[] };
  /** /proc/loadavg's 1-minute figure at the start and the end: other work on the machine shows here. */
  loadAverage: { start: number; end: number };
  worker?: WorkerResult;
  summary?: ScaleSummary;
  /** Why the run has no (or partial) results. */
  error?: string;
}

/**
 * When the control plane logged that it had rebuilt the mesh (pino JSON lines, `time` in epoch
 * ms). The message was "mesh file reloaded" and became "mesh reloaded" with mesh registries;
 * either is accepted. The line carries its registry's origin (`file`; `registry` and `key`):
 * given `origin`, only lines with those fields count.
 */
export function reloadTimes(logText: string, origin: Readonly<Record<string, string>> = {}): number[] {
  const times: number[] = [];
  for (const line of logText.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      const fromOrigin = Object.entries(origin).every(([k, v]) => entry[k] === v);
      if (typeof entry.msg === 'string' && /^mesh (file )?reloaded$/.test(entry.msg) && typeof entry.time === 'number' && fromOrigin) times.push(entry.time);
    } catch {
      // not a log line
    }
  }
  return times.sort((a, b) => a - b);
}

/**
 * For each write, the first reload logged at or after it, as a delay in ms. Log times are whole
 * milliseconds, so a reload up to 1 ms "before" the write still belongs to it.
 */
export function rebuildDelays(writtenAt: readonly number[], reloads: readonly number[]): (number | null)[] {
  return writtenAt.map((w, i) => {
    const next = writtenAt[i + 1] ?? Number.POSITIVE_INFINITY;
    const r = reloads.find((t) => t >= w - 1 && t < next);
    return r === undefined ? null : Math.max(0, r - w);
  });
}

function pushLatency(h: Histogram | undefined): ScaleSummary['pushLatencyEds'] {
  if (h === undefined || h.count <= 0) return undefined;
  const finite = h.buckets.filter((b) => Number.isFinite(b.le));
  return {
    count: h.count,
    meanMs: histogramMean(h) * 1000,
    p50Ms: histogramQuantile(0.5, h) * 1000,
    p99Ms: histogramQuantile(0.99, h) * 1000,
    highestBucketMs: (finite.at(-1)?.le ?? Number.NaN) * 1000,
  };
}

export function summarizeScale(worker: WorkerResult, clockTicksPerSecond: number, reloads: readonly number[]): ScaleSummary {
  const kb = (v: number): number => v / 1024;
  const tickMs = (ticks: number): number => (ticks / clockTicksPerSecond) * 1000;
  const initialCpu = cpuSummary(worker.initial.cpu, clockTicksPerSecond);
  const rebuildMs = rebuildDelays(
    worker.changes.map((c) => c.writtenAtEpochMs),
    reloads,
  );
  const phases = worker.changes.map((c, i) => {
    const rebuilt = rebuildMs[i];
    const seen = c.convergenceMs.filter((v): v is number => v !== null);
    if (rebuilt === null || seen.length === 0) return null;
    const last = Math.max(...seen);
    const fanOutCpuMs = tickMs(ticksBetween(c.cpuTrace, rebuilt, last));
    return {
      rebuildCpuMs: tickMs(ticksBetween(c.cpuTrace, 0, rebuilt)),
      fanOutMs: last - rebuilt,
      fanOutCpuMs,
      fanOutCpuUsPerClient: (fanOutCpuMs * 1000) / c.convergenceMs.length,
    };
  });
  const changeWall = worker.changes.reduce((n, c) => n + c.cpu.wallMs, 0);
  // Busy fractions are weighted by each edit's length to cover the edits as one window.
  const weighted = (busy: (c: (typeof worker.changes)[number]) => number): number =>
    changeWall > 0 ? worker.changes.reduce((n, c) => n + busy(c) * c.cpu.wallMs, 0) / changeWall : Number.NaN;
  return {
    initialSync: { ...summarizeTimes(worker.initial.readyMs), ...initialCpu },
    changes: summarizeChanges(worker.changes, clockTicksPerSecond),
    rebuildMs,
    phases,
    memoryMb: {
      beforeClients: kb(worker.memoryKb.beforeClients),
      afterSync: kb(worker.memoryKb.afterSync),
      afterChanges: kb(worker.memoryKb.afterChanges),
      peak: kb(worker.memoryKb.peak),
    },
    otherCores: {
      initial: otherCores({
        wallMs: worker.initial.cpu.wallMs,
        core0Busy: worker.initial.coreBusy.core0,
        core1Busy: worker.initial.coreBusy.core1,
        controlPlaneCpuMs: initialCpu.cpuMs,
        workerCpuMs: worker.initial.workerCpuMs,
      }),
      changes: otherCores({
        wallMs: changeWall,
        core0Busy: weighted((c) => c.coreBusy.core0),
        core1Busy: weighted((c) => c.coreBusy.core1),
        controlPlaneCpuMs: worker.changes.reduce((n, c) => n + cpuSummary(c.cpu, clockTicksPerSecond).cpuMs, 0),
        workerCpuMs: worker.changes.reduce((n, c) => n + c.workerCpuMs, 0),
      }),
    },
    ...(worker.pushLatencyEds && { pushLatencyEds: pushLatency(worker.pushLatencyEds) }),
  };
}
