/**
 * Summaries of the scale benchmark's raw measurements: per-client times, control plane CPU
 * and memory. Pure, so the numbers in a report can be recomputed from the JSON.
 */
import { median, percentileOfSorted } from '../percentiles';

/** p50/p90/p99/max of per-client times (ms) over every client expected to report. */
export interface TimeSummary {
  /** Clients expected. */
  clients: number;
  /** Clients that never reported within the timeout: counted as +Infinity in the percentiles. */
  missing: number;
  /** The first client to get there. */
  minMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * `null` is a client that never got there: it counts as slower than every one that did, so a
 * p99 cannot look good by leaving out the clients that timed out (p99 is +Infinity when more than
 * 1 % are missing).
 */
export function summarizeTimes(samples: readonly (number | null)[]): TimeSummary {
  const sorted = Float64Array.from(samples, (v) => (v === null || !Number.isFinite(v) ? Number.POSITIVE_INFINITY : v)).sort();
  return {
    clients: samples.length,
    missing: samples.filter((v) => v === null || !Number.isFinite(v)).length,
    minMs: sorted.length === 0 ? Number.NaN : sorted[0],
    p50Ms: percentileOfSorted(sorted, 50),
    p90Ms: percentileOfSorted(sorted, 90),
    p99Ms: percentileOfSorted(sorted, 99),
    maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1],
  };
}

/** CPU and wall time of the control plane over one window, from /proc tick counts. */
export interface CpuWindow {
  cpuTicks: number;
  wallMs: number;
}

export interface CpuSummary {
  cpuMs: number;
  /** CPU time ÷ wall time: 1 is one core fully busy. */
  coreFraction: number;
}

export function cpuSummary(window: CpuWindow, clockTicksPerSecond: number): CpuSummary {
  const cpuMs = clockTicksPerSecond > 0 ? (window.cpuTicks / clockTicksPerSecond) * 1000 : Number.NaN;
  return { cpuMs, coreFraction: window.wallMs > 0 ? cpuMs / window.wallMs : Number.NaN };
}

/** What one mesh file edit cost and how long each client took to see it. */
export interface ChangeMeasurement {
  service: string;
  cluster: string;
  port: number;
  /** Per client: ms from the file write to the EDS (or Delta) response carrying the edit; null if it never came. */
  convergenceMs: (number | null)[];
  /** From the file write until every client had it, plus the quiet period (or the timeout). */
  cpu: CpuWindow;
}

export interface ChangeSummary {
  service: string;
  convergence: TimeSummary;
  cpuMs: number;
  coreFraction: number;
}

export interface ChangesSummary {
  perChange: ChangeSummary[];
  /** Every client of every change, pooled. */
  pooled: TimeSummary;
  /** Median over changes of the control plane's CPU for one edit. */
  cpuMsPerUpdateMedian: number;
  /** Control plane CPU ÷ wall over all change windows together. */
  coreFraction: number;
}

export function summarizeChanges(changes: readonly ChangeMeasurement[], clockTicksPerSecond: number): ChangesSummary {
  const perChange = changes.map((c) => {
    const cpu = cpuSummary(c.cpu, clockTicksPerSecond);
    return { service: c.service, convergence: summarizeTimes(c.convergenceMs), cpuMs: cpu.cpuMs, coreFraction: cpu.coreFraction };
  });
  const cpuMsMedian = median(perChange.map((c) => c.cpuMs));
  const total = changes.reduce((acc, c) => ({ cpuTicks: acc.cpuTicks + c.cpu.cpuTicks, wallMs: acc.wallMs + c.cpu.wallMs }), { cpuTicks: 0, wallMs: 0 });
  return {
    perChange,
    pooled: summarizeTimes(changes.flatMap((c) => c.convergenceMs)),
    cpuMsPerUpdateMedian: cpuMsMedian,
    coreFraction: cpuSummary(total, clockTicksPerSecond).coreFraction,
  };
}

/**
 * How many cores' worth of CPU went to processes other than the two measured, on average over
 * a window: both cores' busy time minus the control plane's and the client worker's CPU. On a
 * shared machine this says whether a slow figure was the control plane's or a neighbour's.
 */
export function otherCores(window: { wallMs: number; core0Busy: number; core1Busy: number; controlPlaneCpuMs: number; workerCpuMs: number }): number {
  if (!(window.wallMs > 0)) return Number.NaN;
  const busyMs = (window.core0Busy + window.core1Busy) * window.wallMs;
  return Math.max(0, (busyMs - window.controlPlaneCpuMs - window.workerCpuMs) / window.wallMs);
}

/** The control plane's CPU counter, read every ~100 ms during an edit; `atMs` from the file write. */
export interface CpuSample {
  atMs: number;
  cpuTicks: number;
}

/**
 * Ticks spent between two moments of an edit (say, the rebuild logged and the last client
 * served), from the trace: widened to the samples around them, so at most one sampling interval
 * too much on each side. NaN without samples on both sides.
 */
export function ticksBetween(trace: readonly CpuSample[], fromMs: number, toMs: number): number {
  const start = trace.filter((s) => s.atMs <= fromMs).at(-1);
  const end = trace.find((s) => s.atMs >= toMs);
  return start === undefined || end === undefined ? Number.NaN : end.cpuTicks - start.cpuTicks;
}
