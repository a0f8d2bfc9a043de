/**
 * Percentiles by the nearest-rank method: the value at rank ceil(q/100 * n) of the sorted list.
 * Nearest-rank never invents a value that was not measured, which matters for p99.9 of a few
 * thousand samples where interpolation would blend the two slowest requests.
 */
export function percentileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (q <= 0) return sorted[0];
  // The epsilon keeps 99.9% of 2000 at rank 1998: in floating point 0.999 * 2000 is a hair above it.
  const rank = Math.max(1, Math.ceil((q / 100) * sorted.length - 1e-9));
  return sorted[Math.min(rank, sorted.length) - 1];
}

export interface LatencyPercentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}

export const PERCENTILE_KEYS = ['p50', 'p90', 'p99', 'p999'] as const;
export type PercentileKey = (typeof PERCENTILE_KEYS)[number];
export const PERCENTILE_LABELS: Record<PercentileKey, string> = { p50: 'p50', p90: 'p90', p99: 'p99', p999: 'p99.9' };
const PERCENTILE_Q: Record<PercentileKey, number> = { p50: 50, p90: 90, p99: 99, p999: 99.9 };

/** Sorts a copy, so callers may keep appending to their sample buffer. */
export function latencyPercentiles(samples: ArrayLike<number>): LatencyPercentiles {
  const sorted = Float64Array.from(samples).sort();
  return {
    p50: percentileOfSorted(sorted, PERCENTILE_Q.p50),
    p90: percentileOfSorted(sorted, PERCENTILE_Q.p90),
    p99: percentileOfSorted(sorted, PERCENTILE_Q.p99),
    p999: percentileOfSorted(sorted, PERCENTILE_Q.p999),
  };
}

/** Median of rounds; the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

/** a / b, or NaN when either side is missing or b is zero, so a table shows "–" instead of Infinity. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN;
  return a / b;
}
