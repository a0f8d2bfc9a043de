import type { Histogram } from '../prometheus-text';
import type { BenchResult } from '../result-types';
import { mergedHistogram } from '../summarize';
import { bucketDistributionSvg, cpuChartSvg, latencyChartSvg, systemColor } from './svg-charts';

export interface Chart {
  file: string;
  title: string;
  /** The scenario the chart belongs to, or undefined for the cross-scenario charts. */
  scenario?: string;
  svg: string;
}

/** Every chart of a result, named `<date>-...svg` so the Markdown next to them can link them. */
export function renderCharts(result: BenchResult): Chart[] {
  const charts: Chart[] = [];
  const ran = result.scenarios.filter((s) => !s.skipped && s.summary.length > 0);
  for (const sc of ran) {
    const title = `${sc.title}: client-measured latency (median of ${result.options.rounds} rounds)`;
    charts.push({ file: `${result.date}-${sc.name}-latency.svg`, title, scenario: sc.name, svg: latencyChartSvg(title, sc.summary) });
  }
  const withCpu = ran.filter((sc) => sc.summary.some((s) => s.cpuUsPerRequest !== undefined));
  if (withCpu.length > 0) {
    const title = 'Proxy CPU per request (user + system, median of rounds)';
    charts.push({ file: `${result.date}-cpu.svg`, title, svg: cpuChartSvg(title, withCpu) });
  }
  for (const sc of ran) {
    const series: { name: string; color?: string; histogram: Histogram }[] = [];
    for (const s of sc.summary) {
      for (const m of s.meshlet ?? []) {
        const h = mergedHistogram(sc.samples, s.system, m.process, 'overhead');
        if (h && h.count > 0) {
          const own = m.process === s.system;
          series.push({ name: own ? s.system : `${s.system} ${m.process}`, color: own ? systemColor(s.system) : undefined, histogram: h });
        }
      }
    }
    if (series.length === 0) continue;
    const title = `${sc.title}: meshlet S_overhead distribution`;
    charts.push({ file: `${result.date}-${sc.name}-overhead.svg`, title, scenario: sc.name, svg: bucketDistributionSvg(title, series) });
  }
  return charts;
}
