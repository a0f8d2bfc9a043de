import { httpGetStatus } from './http-probe';
import { diffHistogram, extractHistogram, parsePrometheusText, type PromSample } from './prometheus-text';
import type { MeshletHistograms } from './result-types';

/** meshlet's own view of each request: whole time in meshlet, meshlet's own work, and time waiting on the event loop ("grid"). */
export const MESHLET_METRICS = {
  total: 'meshlet_request_total_seconds',
  overhead: 'meshlet_request_overhead_seconds',
  grid: 'meshlet_request_grid_seconds',
} as const;

export type Scrape = { ok: true; samples: PromSample[] } | { ok: false; error: string };

export async function scrapeMeshlet(adminPort: number): Promise<Scrape> {
  try {
    const { status, body } = await httpGetStatus(`http://127.0.0.1:${adminPort}/stats/prometheus`, 3000);
    if (status !== 200) return { ok: false, error: `/stats/prometheus answered ${status}` };
    return { ok: true, samples: parsePrometheusText(body) };
  } catch (err) {
    return { ok: false, error: `/stats/prometheus: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** What the run added to each histogram; a metric meshlet does not export is left out, not zeroed. */
export function meshletHistogramDelta(process: string, before: Scrape, after: Scrape): MeshletHistograms {
  if (!after.ok) return { process, error: after.error };
  const out: MeshletHistograms = { process };
  for (const key of ['total', 'overhead', 'grid'] as const) {
    const a = extractHistogram(after.samples, MESHLET_METRICS[key]);
    if (a) out[key] = diffHistogram(a, before.ok ? extractHistogram(before.samples, MESHLET_METRICS[key]) : undefined);
  }
  if (!out.total && !out.overhead && !out.grid) out.error = `none of ${Object.values(MESHLET_METRICS).join(', ')} exported`;
  return out;
}
