/** One exported sample, as prom-client's Registry renders it. */
interface Sample {
  metricName?: string;
  labels: Record<string, string>;
  value: number;
}

/** The shape prom-client's Registry and AggregatorRegistry read from a metric's `get()`. */
interface RenderedMetric {
  name: string;
  help: string;
  type: MetricType;
  values: Sample[];
  aggregator: Aggregator;
}

/** How prom-client combines one series across worker processes (`--workers`). */
export type Aggregator = 'sum' | 'max';

type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * A metric with labels whose cells are plain objects updated in O(1).
 *
 * prom-client's own Counter/Histogram hash their label object on every
 * `inc()`/`observe()`; on the request path that costs more than the request
 * routing itself. Here the caller resolves a cell once (at config time, or
 * the first time a label combination appears) and keeps it; the per-request
 * update is a field increment. prom-client still renders and aggregates
 * (cluster workers) these families: they implement its metric interface.
 */
export abstract class MetricFamily<Cell> {
  private readonly cells = new Map<string, { labels: Record<string, string>; cell: Cell }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
    readonly aggregator: Aggregator = 'sum',
  ) {}

  /** The cell for these label values (same order as labelNames); created on first use. */
  cell(...labelValues: string[]): Cell {
    const key = labelValues.join('\u0000');
    let entry = this.cells.get(key);
    if (entry === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = labelValues[i] ?? ''));
      entry = { labels, cell: this.newCell() };
      this.cells.set(key, entry);
    }
    return entry.cell;
  }

  /** Drops cells whose label `name` equals `value` (a removed cluster or listener must not be exported forever). */
  forget(labelName: string, value: string): void {
    for (const [key, entry] of this.cells) if (entry.labels[labelName] === value) this.cells.delete(key);
  }

  protected abstract newCell(): Cell;
  protected abstract render(labels: Record<string, string>, cell: Cell, out: Sample[]): void;

  /** prom-client's Metric interface (used by Registry.metrics() and AggregatorRegistry). */
  get(): RenderedMetric {
    const values: Sample[] = [];
    for (const { labels, cell } of this.cells.values()) this.render(labels, cell, values);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.cells.clear();
  }
}

export interface CounterCell {
  value: number;
}

export class CounterFamily extends MetricFamily<CounterCell> {
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, 'counter', labelNames);
  }
  protected newCell(): CounterCell {
    return { value: 0 };
  }
  protected render(labels: Record<string, string>, cell: CounterCell, out: Sample[]): void {
    out.push({ labels, value: cell.value });
  }
}

/** A gauge whose cells are read when scraped, from whatever owns the live value. */
export interface GaugeCell {
  value: number;
}

export class GaugeFamily extends MetricFamily<GaugeCell> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly refresh: () => void,
    aggregator: Aggregator = 'sum',
  ) {
    super(name, help, 'gauge', labelNames, aggregator);
  }
  protected newCell(): GaugeCell {
    return { value: 0 };
  }
  override get(): RenderedMetric {
    this.refresh();
    return super.get();
  }
  protected render(labels: Record<string, string>, cell: GaugeCell, out: Sample[]): void {
    out.push({ labels, value: cell.value });
  }
}

/** Cumulative-at-render histogram: observe() touches one bucket slot, sum and count. */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    // Binary search for the first bound >= value; values above the last bound only count in +Inf.
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bounds[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    if (lo < bounds.length) this.counts[lo]!++;
    this.sum += value;
    this.count++;
  }
}

export class HistogramFamily extends MetricFamily<HistogramCell> {
  constructor(name: string, help: string, labelNames: readonly string[], readonly bounds: readonly number[]) {
    super(name, help, 'histogram', labelNames);
  }
  protected newCell(): HistogramCell {
    return new HistogramCell(this.bounds);
  }
  protected render(labels: Record<string, string>, cell: HistogramCell, out: Sample[]): void {
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += cell.counts[i]!;
      out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: String(this.bounds[i]) }, value: cumulative });
    }
    out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cell.count });
    out.push({ metricName: `${this.name}_sum`, labels, value: cell.sum });
    out.push({ metricName: `${this.name}_count`, labels, value: cell.count });
  }
}
