import type { Scrape } from '../meshlet-stats';
import { diffHistogram, extractHistogram, type Histogram, type PromSample } from '../prometheus-text';

/** The samples carrying every one of `labels` (others, such as `le`, may be anything). */
function withLabels(samples: readonly PromSample[], labels: Readonly<Record<string, string>>): PromSample[] {
  return samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/**
 * What happened to one labelled histogram between two scrapes: the control plane's push latency
 * of EDS only, say, since its histogram is per resource type.
 */
export function meshletHistogramDeltaOf(
  before: Scrape,
  after: Scrape,
  name: string,
  labels: Readonly<Record<string, string>>,
): { histogram: Histogram } | { error: string } {
  if (!after.ok) return { error: after.error };
  const a = extractHistogram(withLabels(after.samples, labels), name);
  if (a === undefined) return { error: `${name}${JSON.stringify(labels)} not exported` };
  return { histogram: diffHistogram(a, before.ok ? extractHistogram(withLabels(before.samples, labels), name) : undefined) };
}
