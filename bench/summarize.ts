import { median, PERCENTILE_KEYS, ratio, type LatencyPercentiles } from './percentiles';
import { histogramMean, histogramQuantile, type Histogram } from './prometheus-text';
import type { HistogramSummary, MeshletSummary, RunSample, SystemSummary } from './result-types';

function medianOf(samples: readonly RunSample[], pick: (s: RunSample) => number | undefined): number {
  return median(samples.map(pick).filter((v): v is number => v !== undefined));
}

function histogramSummary(hists: readonly (Histogram | undefined)[]): HistogramSummary | undefined {
  const present = hists.filter((h): h is Histogram => h !== undefined && h.count > 0);
  if (present.length === 0) return undefined;
  return {
    meanUs: median(present.map((h) => histogramMean(h) * 1e6)),
    p50Us: median(present.map((h) => histogramQuantile(0.5, h) * 1e6)),
    p99Us: median(present.map((h) => histogramQuantile(0.99, h) * 1e6)),
    count: present.reduce((a, h) => a + h.count, 0),
  };
}

function meshletSummaries(samples: readonly RunSample[]): MeshletSummary[] | undefined {
  const names = [...new Set(samples.flatMap((s) => (s.meshlet ?? []).map((m) => m.process)))];
  if (names.length === 0) return undefined;
  return names.map((process) => {
    const per = samples.map((s) => s.meshlet?.find((m) => m.process === process));
    const summary: MeshletSummary = { process };
    for (const key of ['total', 'overhead', 'grid'] as const) {
      const h = histogramSummary(per.map((m) => m?.[key]));
      if (h) summary[key] = h;
    }
    return summary;
  });
}

/**
 * Medians over rounds per system, in the order given. Added latency pairs each round with the direct
 * run of the same round (they ran seconds apart), then takes the median of the differences: drift
 * over the whole run cancels out instead of landing in the difference.
 */
export function summarizeScenario(samples: readonly RunSample[], systems: readonly string[]): SystemSummary[] {
  const direct = samples.filter((s) => s.system === 'direct');
  const summaries = systems
    .map((system) => samples.filter((s) => s.system === system))
    .filter((runs) => runs.length > 0)
    .map((runs): SystemSummary => {
      const latencyUs = {} as LatencyPercentiles;
      for (const k of PERCENTILE_KEYS) latencyUs[k] = medianOf(runs, (s) => s.load.latencyUs[k]);
      const summary: SystemSummary = {
        system: runs[0].system,
        rounds: runs.length,
        rps: medianOf(runs, (s) => s.load.rps),
        latencyUs,
        upstreamCpuUsPerRequest: medianOf(runs, (s) => s.upstreamCpuUsPerRequest),
        core0Busy: medianOf(runs, (s) => s.coreBusy.core0),
        core1Busy: medianOf(runs, (s) => s.coreBusy.core1),
        errors: runs.reduce((a, s) => a + s.load.non2xx + s.load.socketErrors, 0),
        requests: runs.reduce((a, s) => a + s.load.requests, 0),
        socketErrors: runs.reduce((a, s) => a + s.load.socketErrors, 0),
      };
      if (runs.some((s) => s.proxy)) {
        summary.cpuUsPerRequest = medianOf(runs, (s) => s.proxy?.cpuUsPerRequest);
        summary.peakRssKb = Math.max(...runs.map((s) => s.proxy?.peakRssKb ?? 0));
      }
      if (runs[0].system !== 'direct' && direct.length > 0) {
        const added = {} as LatencyPercentiles;
        for (const k of PERCENTILE_KEYS) {
          added[k] = median(
            runs.flatMap((s) => {
              const d = direct.find((x) => x.round === s.round);
              return d ? [s.load.latencyUs[k] - d.load.latencyUs[k]] : [];
            }),
          );
        }
        summary.addedLatencyUs = added;
      }
      const meshlet = meshletSummaries(runs);
      if (meshlet) summary.meshlet = meshlet;
      return summary;
    });
  const nginx = summaries.find((s) => s.system === 'nginx');
  const directSummary = summaries.find((s) => s.system === 'direct');
  for (const s of summaries) {
    if (nginx) {
      s.vsNginx = {
        rps: ratio(s.rps, nginx.rps),
        p50: ratio(s.latencyUs.p50, nginx.latencyUs.p50),
        p99: ratio(s.latencyUs.p99, nginx.latencyUs.p99),
        cpuUsPerRequest: ratio(s.cpuUsPerRequest, nginx.cpuUsPerRequest),
      };
    }
    if (directSummary) {
      s.vsDirect = {
        rps: ratio(s.rps, directSummary.rps),
        p50: ratio(s.latencyUs.p50, directSummary.latencyUs.p50),
        p99: ratio(s.latencyUs.p99, directSummary.latencyUs.p99),
      };
    }
  }
  return summaries;
}

/** Sum of a meshlet histogram over all rounds of a system, for the distribution chart. */
export function mergedHistogram(samples: readonly RunSample[], system: string, process: string, key: 'total' | 'overhead' | 'grid'): Histogram | undefined {
  const hists = samples
    .filter((s) => s.system === system)
    .map((s) => s.meshlet?.find((m) => m.process === process)?.[key])
    .filter((h): h is Histogram => h !== undefined);
  if (hists.length === 0) return undefined;
  const byLe = new Map<number, number>();
  for (const h of hists) for (const b of h.buckets) byLe.set(b.le, (byLe.get(b.le) ?? 0) + b.count);
  return {
    buckets: [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count })),
    sum: hists.reduce((a, h) => a + h.sum, 0),
    count: hists.reduce((a, h) => a + h.count, 0),
  };
}
