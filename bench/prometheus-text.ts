/** One sample line of the Prometheus text exposition format. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;

/** Parses exposition text (comments and blank lines skipped); malformed lines are ignored rather than fatal, since a scrape is diagnostic data. */
export function parsePrometheusText(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) continue;
    const labels = m[2] === undefined ? {} : parseLabels(m[2]);
    if (labels === undefined) continue;
    samples.push({ name: m[1], labels, value: parsePromNumber(m[3]) });
  }
  return samples;
}

function parsePromNumber(s: string): number {
  if (s === '+Inf' || s === 'Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(s);
}

/** Label values may contain escaped quotes, backslashes and newlines and commas, so a regex split is not enough. */
function parseLabels(body: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    while (body[i] === ' ' || body[i] === ',') i++;
    if (i >= body.length) break;
    const eq = body.indexOf('=', i);
    if (eq < 0 || body[eq + 1] !== '"') return undefined;
    const name = body.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < body.length && body[j] !== '"'; j++) {
      if (body[j] === '\\' && j + 1 < body.length) {
        j++;
        value += body[j] === 'n' ? '\n' : body[j];
      } else {
        value += body[j];
      }
    }
    if (j >= body.length) return undefined;
    labels[name] = value;
    i = j + 1;
  }
  return labels;
}

/** A histogram summed over all label sets except `le`; buckets are cumulative and sorted by upper bound. */
/** The value of the first sample named `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const wanted = Object.entries(labels);
  return parsePrometheusText(text).find((s) => s.name === name && wanted.every(([k, v]) => s.labels[k] === v))?.value;
}

export interface Histogram {
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

/** Undefined when the metric is absent, so "meshlet does not export this yet" is distinguishable from "zero requests". */
export function extractHistogram(samples: readonly PromSample[], name: string): Histogram | undefined {
  const byLe = new Map<number, number>();
  let sum = 0;
  let count = 0;
  let seen = false;
  for (const s of samples) {
    if (s.name === `${name}_bucket` && s.labels.le !== undefined) {
      const le = parsePromNumber(s.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
      seen = true;
    } else if (s.name === `${name}_sum`) {
      sum += s.value;
      seen = true;
    } else if (s.name === `${name}_count`) {
      count += s.value;
      seen = true;
    }
  }
  if (!seen) return undefined;
  const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c }));
  return { buckets, sum, count };
}

/** What happened between two scrapes of the same process; a bucket missing before counts as zero. */
export function diffHistogram(after: Histogram, before: Histogram | undefined): Histogram {
  if (before === undefined) return after;
  const beforeByLe = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (beforeByLe.get(b.le) ?? 0) })),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/**
 * Quantile estimate with Prometheus' histogram_quantile rule: find the bucket holding rank q*count and
 * interpolate linearly inside it. A rank in the +Inf bucket returns the highest finite bound, as
 * Prometheus does, because nothing better is known.
 */
export function histogramQuantile(q: number, h: Histogram): number {
  const buckets = h.buckets;
  if (buckets.length === 0) return Number.NaN;
  const total = buckets[buckets.length - 1].count;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Number.POSITIVE_INFINITY) return prevLe;
      const inBucket = b.count - prevCount;
      if (inBucket <= 0) return b.le;
      return prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

export function histogramMean(h: Histogram): number {
  return h.count > 0 ? h.sum / h.count : Number.NaN;
}

/** Per-bucket (non-cumulative) counts, the shape a distribution chart needs. */
export function bucketCounts(h: Histogram): { lower: number; upper: number; count: number }[] {
  let prevLe = 0;
  let prevCount = 0;
  return h.buckets.map((b) => {
    const row = { lower: prevLe, upper: b.le, count: b.count - prevCount };
    prevLe = b.le;
    prevCount = b.count;
    return row;
  });
}
