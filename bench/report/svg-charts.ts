import { PERCENTILE_KEYS, PERCENTILE_LABELS } from '../percentiles';
import { bucketCounts, type Histogram } from '../prometheus-text';
import type { SystemSummary } from '../result-types';
import { SYSTEM_NAMES } from '../scenarios';
import { formatBound } from './format';

export interface BarSeries {
  name: string;
  /** Fixed per system so a system has the same colour in every chart; defaults to the palette by position. */
  color?: string;
  /** One value per group; undefined draws no bar. */
  values: readonly (number | undefined)[];
}

export interface GroupedBarChart {
  title: string;
  groups: readonly string[];
  series: readonly BarSeries[];
  yLabel: string;
  scale: 'linear' | 'log';
  formatValue(v: number): string;
}

/** Distinguishable, colour-blind-friendlier palette (Okabe–Ito plus greys). */
const COLORS = ['#999999', '#0072B2', '#56B4E9', '#009E73', '#E69F00', '#D55E00', '#CC79A7', '#F0E442', '#000000', '#666666'];

/** direct grey, the meshlets blues, then the peers. */
export function systemColor(system: string): string | undefined {
  const i = (SYSTEM_NAMES as readonly string[]).indexOf(system);
  return i < 0 ? undefined : COLORS[i];
}

/** Latency for axis ticks and bar tooltips: three significant digits, µs below 1 ms. */
export function formatLatencyTick(us: number): string {
  return us < 1000 ? `${+us.toPrecision(3)} µs` : `${+(us / 1000).toPrecision(3)} ms`;
}

const WIDTH = 820;
const HEIGHT = 420;
const PLOT = { left: 80, right: WIDTH - 190, top: 50, bottom: HEIGHT - 60 };

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2 or 5 times a power of ten: steps people read at a glance. */
export function niceStep(range: number, targetTicks: number): number {
  const raw = range / Math.max(1, targetTicks);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
}

interface Axis {
  ticks: number[];
  y(v: number): number;
}

function linearAxis(max: number): Axis {
  const step = niceStep(max > 0 ? max : 1, 5);
  const top = Math.max(step, Math.ceil((max > 0 ? max : 1) / step) * step);
  const ticks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(+v.toPrecision(12));
  return { ticks, y: (v) => PLOT.bottom - (Math.max(0, v) / top) * (PLOT.bottom - PLOT.top) };
}

/**
 * Decades, with 2 and 5 in between when the data spans few of them. The axis starts at least a factor
 * of two below the smallest value, so the shortest bar is still visibly a bar.
 */
function logAxis(min: number, max: number): Axis {
  const lo = Math.floor(Math.log10(min > 0 && Number.isFinite(min) ? min / 2 : 1));
  // Headroom above the tallest bar, so it does not touch the title.
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max > 0 && Number.isFinite(max) ? max * 1.5 : 10)));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) {
    ticks.push(10 ** e);
    if (hi - lo <= 3 && e < hi) ticks.push(2 * 10 ** e, 5 * 10 ** e);
  }
  ticks.sort((a, b) => a - b);
  const span = hi - lo;
  return {
    ticks,
    y: (v) => PLOT.bottom - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / span) * (PLOT.bottom - PLOT.top),
  };
}

const n = (v: number): string => (Math.round(v * 10) / 10).toString();

/** A grouped bar chart as a standalone SVG document: title, y axis with grid, group labels, legend. */
export function groupedBarChartSvg(c: GroupedBarChart): string {
  const values = c.series.flatMap((s) => s.values).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const positive = values.filter((v) => v > 0);
  const axis = c.scale === 'log' ? logAxis(Math.min(...positive, Infinity), Math.max(...positive, 0)) : linearAxis(Math.max(...values, 0));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  out.push(`<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(c.title)}</text>`);
  for (const t of axis.ticks) {
    const y = n(axis.y(t));
    out.push(`<line x1="${PLOT.left}" y1="${y}" x2="${PLOT.right}" y2="${y}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${PLOT.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(c.formatValue(t))}</text>`);
  }
  out.push(`<line x1="${PLOT.left}" y1="${PLOT.top}" x2="${PLOT.left}" y2="${PLOT.bottom}" stroke="#000000"/>`);
  out.push(`<line x1="${PLOT.left}" y1="${PLOT.bottom}" x2="${PLOT.right}" y2="${PLOT.bottom}" stroke="#000000"/>`);
  const midY = (PLOT.top + PLOT.bottom) / 2;
  out.push(`<text x="18" y="${midY}" text-anchor="middle" transform="rotate(-90 18 ${midY})">${escapeXml(c.yLabel)}${c.scale === 'log' ? ' (log scale)' : ''}</text>`);

  const groupWidth = (PLOT.right - PLOT.left) / Math.max(1, c.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, c.series.length);
  c.groups.forEach((g, gi) => {
    const x0 = PLOT.left + gi * groupWidth + groupWidth * 0.1;
    const lx = n(PLOT.left + (gi + 0.5) * groupWidth);
    // Narrow groups (many histogram buckets) get slanted labels so neighbours do not overlap.
    out.push(
      groupWidth < 70
        ? `<text x="${lx}" y="${PLOT.bottom + 14}" text-anchor="end" transform="rotate(-30 ${lx} ${PLOT.bottom + 14})">${escapeXml(g)}</text>`
        : `<text x="${lx}" y="${PLOT.bottom + 18}" text-anchor="middle">${escapeXml(g)}</text>`,
    );
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === undefined || !Number.isFinite(v)) return;
      const top = axis.y(v);
      const height = Math.max(1, PLOT.bottom - top);
      out.push(
        `<rect class="bar" x="${n(x0 + si * barWidth)}" y="${n(PLOT.bottom - height)}" width="${n(Math.max(1, barWidth - 1))}" height="${n(height)}" fill="${s.color ?? COLORS[si % COLORS.length]}"><title>${escapeXml(`${s.name}, ${g}: ${c.formatValue(v)}`)}</title></rect>`,
      );
    });
  });

  c.series.forEach((s, si) => {
    const y = PLOT.top + si * 20;
    out.push(`<rect x="${PLOT.right + 16}" y="${y}" width="12" height="12" fill="${s.color ?? COLORS[si % COLORS.length]}"/>`);
    out.push(`<text x="${PLOT.right + 34}" y="${y + 10}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Client-measured latency percentiles of each system in one scenario; log axis since systems differ by orders of magnitude at the tail. */
export function latencyChartSvg(title: string, summaries: readonly SystemSummary[]): string {
  return groupedBarChartSvg({
    title,
    groups: PERCENTILE_KEYS.map((k) => PERCENTILE_LABELS[k]),
    series: summaries.map((s) => ({ name: s.system, color: systemColor(s.system), values: PERCENTILE_KEYS.map((k) => s.latencyUs[k]) })),
    yLabel: 'latency',
    scale: 'log',
    formatValue: formatLatencyTick,
  });
}

/** Proxy CPU per request, one group per scenario. */
export function cpuChartSvg(title: string, scenarios: readonly { name: string; summary: readonly SystemSummary[] }[]): string {
  const systems = [...new Set(scenarios.flatMap((sc) => sc.summary.filter((s) => s.cpuUsPerRequest !== undefined).map((s) => s.system)))];
  return groupedBarChartSvg({
    title,
    groups: scenarios.map((sc) => sc.name),
    series: systems.map((system) => ({
      name: system,
      color: systemColor(system),
      values: scenarios.map((sc) => sc.summary.find((s) => s.system === system)?.cpuUsPerRequest),
    })),
    yLabel: 'proxy CPU µs per request',
    scale: 'linear',
    formatValue: (v) => `${+v.toPrecision(3)}`,
  });
}

/**
 * Share of requests per histogram bucket, one series per meshlet histogram. Leading and trailing
 * buckets that are empty in every series are dropped: prom-client's bucket lists span far more
 * than a benchmark fills.
 */
export function bucketDistributionSvg(title: string, series: readonly { name: string; color?: string; histogram: Histogram }[]): string {
  const rows = series.map((s) => ({ name: s.name, color: s.color, buckets: bucketCounts(s.histogram), total: s.histogram.buckets.at(-1)?.count ?? 0 }));
  const bounds = rows[0]?.buckets.map((b) => ({ lower: b.lower, upper: b.upper })) ?? [];
  const used = bounds.map((_, i) => rows.some((r) => (r.buckets[i]?.count ?? 0) > 0));
  const first = used.indexOf(true);
  const last = used.lastIndexOf(true);
  const range = first < 0 ? [] : bounds.slice(first, last + 1).map((b, k) => ({ ...b, index: first + k }));
  return groupedBarChartSvg({
    title,
    groups: range.map((b) => (b.upper === Number.POSITIVE_INFINITY ? `> ${formatBound(b.lower)}` : `≤ ${formatBound(b.upper)}`)),
    series: rows.map((r) => ({
      name: r.name,
      color: r.color,
      values: range.map((b) => (r.total > 0 ? ((r.buckets[b.index]?.count ?? 0) / r.total) * 100 : undefined)),
    })),
    yLabel: '% of requests',
    scale: 'linear',
    formatValue: (v) => `${+v.toPrecision(3)}%`,
  });
}
