import type { LoadResult } from './load/load-result';
import type { LatencyPercentiles } from './percentiles';
import type { Histogram } from './prometheus-text';

/** meshlet's own request-time histograms over one run (after-scrape minus before-scrape), per meshlet process. */
export interface MeshletHistograms {
  /** Which meshlet of the system, e.g. "meshlet" or "client-side"/"server-side" in the mTLS scenario. */
  process: string;
  total?: Histogram;
  overhead?: Histogram;
  grid?: Histogram;
  /** Why there is nothing, e.g. the admin endpoint does not serve the metric. */
  error?: string;
}

/** One system under one load in one round. */
export interface RunSample {
  scenario: string;
  system: string;
  round: number;
  load: LoadResult;
  /** Absent for `direct`, which has no proxy. */
  proxy?: {
    cpuSeconds: number;
    cpuUsPerRequest: number;
    /** Sum of VmHWM over the proxy's processes, since it started (so: the peak so far in this scenario). */
    peakRssKb: number;
    processes: number;
  };
  upstreamCpuUsPerRequest: number;
  /** Busy fraction of core 0 (proxy) and core 1 (upstream + generator) during the run. */
  coreBusy: { core0: number; core1: number };
  meshlet?: MeshletHistograms[];
}

export interface HistogramSummary {
  meanUs: number;
  p50Us: number;
  p99Us: number;
  count: number;
}

export interface MeshletSummary {
  process: string;
  total?: HistogramSummary;
  overhead?: HistogramSummary;
  grid?: HistogramSummary;
}

/** Medians over rounds for one system in one scenario. */
export interface SystemSummary {
  system: string;
  rounds: number;
  rps: number;
  latencyUs: LatencyPercentiles;
  /** Median over rounds of (this system − direct in the same round), per percentile. */
  addedLatencyUs?: LatencyPercentiles;
  cpuUsPerRequest?: number;
  peakRssKb?: number;
  upstreamCpuUsPerRequest: number;
  core0Busy: number;
  core1Busy: number;
  /** Non-2xx responses plus socket errors, summed over rounds. */
  errors: number;
  /** Responses received, whatever their status (so non-2xx ones are counted here too), summed over rounds. */
  requests: number;
  /** The socket errors among `errors` (requests that got no response), summed over rounds; absent in older results. */
  socketErrors?: number;
  vsNginx?: { rps: number; p50: number; p99: number; cpuUsPerRequest: number };
  vsDirect?: { rps: number; p50: number; p99: number };
  meshlet?: MeshletSummary[];
}

export interface Skip {
  system: string;
  reason: string;
}

export interface ScenarioResult {
  name: string;
  title: string;
  description: string;
  /** Set when the whole scenario did not run. */
  skipped?: string;
  skippedSystems: Skip[];
  samples: RunSample[];
  summary: SystemSummary[];
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  kernel: string;
  os: string;
  nodeVersion: string;
  clockTicksPerSecond: number;
  pinning: boolean;
  /** Version strings of everything measured or measuring (a proxy bench lists absent tools under `skipped`). */
  versions: Record<string, string>;
}

export interface BenchOptions {
  systems: string[];
  scenarios: string[];
  rounds: number;
  durationSec: number;
  warmupSec: number;
  upstream: 'node' | 'nginx';
  useWrk: boolean;
  out: string;
  quick: boolean;
}

export interface BenchResult {
  schema: 'meshlet-bench/1';
  date: string;
  startedAt: string;
  finishedAt: string;
  elapsedSec: number;
  options: BenchOptions;
  machine: MachineInfo;
  /** Systems not run at all, with the reason (peer not installed, meshlet not built, ...). */
  skipped: Skip[];
  scenarios: ScenarioResult[];
}
