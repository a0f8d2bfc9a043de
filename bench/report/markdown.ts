import { PERCENTILE_KEYS, PERCENTILE_LABELS } from '../percentiles';
import type { BenchResult, HistogramSummary, ScenarioResult, SystemSummary } from '../result-types';
import { NOT_APPLICABLE } from '../scenarios';
import type { Chart } from './chart-set';
import { formatCount, formatMb, formatMicros, formatPercent, formatRatio, formatUs } from './format';

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const hist = (h: HistogramSummary | undefined): string => (h ? `${formatUs(h.meanUs)} / ${formatUs(h.p50Us)} / ${formatUs(h.p99Us)}` : '–');

function systemRow(s: SystemSummary): string[] {
  return [
    s.system,
    formatCount(s.rps),
    ...PERCENTILE_KEYS.map((k) => formatUs(s.latencyUs[k])),
    formatUs(s.addedLatencyUs?.p50),
    formatUs(s.addedLatencyUs?.p99),
    formatMicros(s.cpuUsPerRequest),
    formatMb(s.peakRssKb),
    formatRatio(s.vsNginx?.rps),
    formatRatio(s.vsNginx?.p50),
    formatRatio(s.vsNginx?.cpuUsPerRequest),
    formatRatio(s.vsDirect?.rps),
    formatPercent(s.core0Busy),
    formatPercent(s.core1Busy),
    // Non-2xx responses are among `requests` already; only requests that got no response are added.
    s.errors === 0 ? '0' : `${formatCount(s.errors)} of ${formatCount(s.requests + (s.socketErrors ?? 0))}`,
  ];
}

export const SYSTEM_TABLE_HEADERS = [
  'system',
  'req/s',
  ...PERCENTILE_KEYS.map((k) => PERCENTILE_LABELS[k]),
  'added p50',
  'added p99',
  'CPU µs/req',
  'peak RSS',
  'req/s ÷ nginx',
  'p50 ÷ nginx',
  'CPU ÷ nginx',
  'req/s ÷ direct',
  'core 0 busy',
  'core 1 busy',
  'errors',
];

function scenarioSection(sc: ScenarioResult, charts: readonly Chart[]): string {
  const parts = [`## ${sc.title} (\`${sc.name}\`)`, '', sc.description, ''];
  if (sc.skipped) {
    parts.push(`**Not run:** ${sc.skipped}.`, '');
  } else {
    parts.push(table(SYSTEM_TABLE_HEADERS, sc.summary.map(systemRow)), '');
    const meshletRows = sc.summary.flatMap((s) =>
      (s.meshlet ?? []).map((m) => [s.system, m.process, hist(m.total), hist(m.overhead), hist(m.grid), `${formatUs(s.latencyUs.p50)} / ${formatUs(s.latencyUs.p99)}`]),
    );
    if (meshletRows.length > 0) {
      parts.push(
        "meshlet's own histograms (scraped from `/stats/prometheus` before and after each run; mean / p50 / p99, percentiles estimated from buckets), next to what the client measured:",
        '',
        table(['system', 'meshlet', 'S_total', 'S_overhead', 'S_grid', 'client p50 / p99'], meshletRows),
        '',
      );
    }
    for (const c of charts.filter((c) => c.scenario === sc.name)) parts.push(`![${c.title}](${c.file})`, '');
  }
  const skipped = sc.skippedSystems.filter((s) => s.reason !== NOT_APPLICABLE);
  const notApplicable = sc.skippedSystems.filter((s) => s.reason === NOT_APPLICABLE).map((s) => s.system);
  if (skipped.length > 0) parts.push('Skipped here:', '', ...skipped.map((s) => `- **${s.system}**: ${s.reason}`), '');
  if (notApplicable.length > 0) parts.push(`No configuration for this scenario: ${notApplicable.join(', ')}.`, '');
  return parts.join('\n');
}

/** The reproducing command for exactly these options. */
export function reproduceCommand(result: BenchResult): string {
  const o = result.options;
  if (o.quick) return 'npm run bench -- --quick';
  return [
    'npm run bench --',
    `--systems ${o.systems.join(',')}`,
    `--scenarios ${o.scenarios.join(',')}`,
    `--rounds ${o.rounds}`,
    `--duration ${o.durationSec}s`,
    `--warmup ${o.warmupSec}s`,
    `--upstream ${o.upstream}`,
    `--generator ${o.useWrk ? 'auto' : 'loadgen'}`,
  ].join(' ');
}

/** The whole Markdown report. */
export function renderMarkdown(result: BenchResult, charts: readonly Chart[]): string {
  const m = result.machine;
  const o = result.options;
  const versions = Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ');
  const lines = [
    `# meshlet benchmark, ${result.date}`,
    '',
    `${o.rounds} round(s) × ${o.durationSec} s per system and scenario, interleaved, after a ${o.warmupSec} s warm-up of each proxy; total ${Math.round(result.elapsedSec)} s. Upstream: ${o.upstream === 'node' ? 'Node `bench/upstream-server.ts`' : 'nginx'}, fixed 64-byte body. Figures are medians over rounds.`,
    '',
    '## Machine',
    '',
    table(['CPU', 'cores', 'OS', 'kernel', 'Node', 'CLK_TCK'], [[m.cpuModel, String(m.cores), m.os, m.kernel, m.nodeVersion, String(m.clockTicksPerSecond)]]),
    '',
    `Versions: ${versions}.`,
    '',
    '## How to read this',
    '',
    m.pinning
      ? '- **Pinning.** Each proxy runs as one process tree pinned to core 0 (`taskset -c 0`); the upstream and the load generator share core 1. When *core 1 busy* is near 100 %, the client side was the limit: a proxy faster than core 1 cannot show it, and its req/s is a lower bound.'
      : '- **No pinning:** `taskset` was not found, so proxy, upstream and load generator competed for all cores. Treat ratios with care.',
    '- **Core busy** is the whole core, whoever used it: *core 0 busy* on the `direct` row (no proxy running) is load from outside the benchmark, and should be near 0 %; if it is not, the machine was shared and the run is noisier than it looks.',
    '- **Added latency** = proxied − direct (the load generator straight to the upstream), per percentile, paired with the direct run of the same round, median over rounds.',
    '- **CPU µs/req** = utime + stime of the proxy process and its children (from `/proc/<pid>/stat`, in clock ticks of `getconf CLK_TCK`), delta over the run ÷ requests completed. At 10 ms per tick, short low-rate runs have coarse CPU figures.',
    '- **Peak RSS** = VmHWM from `/proc/<pid>/status`, summed over the proxy\'s processes (nginx: master + worker; two meshlets in the mTLS scenario).',
    `- **Load generators.** Closed loops: ${o.useWrk ? '`wrk -t1` (latency from request write to response, µs resolution)' : 'the Node loadgen (`bench/load/loadgen.ts`)'}. Fixed rates: the Node loadgen, open loop.`,
    '- **Coordinated omission.** Fixed-rate latencies are corrected: the loadgen releases requests on a schedule and times each one from its release, including any time it waits for a free connection, so a stalled proxy is charged for every request it delays. The loadgen\'s own timer lateness (Node timers fire every ~1 ms, so requests leave in small bursts) is not charged to the proxy; it is kept in the JSON as `dispatchLagUs`, next to the strict wrk2 figure `latencyFromIntendedUs`. Closed-loop latencies (wrk) are not corrected, by nature: they measure service time under maximum load, not the latency users would see at that rate.',
    '- **Single connection.** Compare p50: p99 at one connection is dominated by cross-core wake-ups.',
    '',
  ];
  if (result.skipped.length > 0) {
    lines.push('**Not run at all:**', '', ...result.skipped.map((s) => `- **${s.system}**: ${s.reason}`), '');
  }
  for (const sc of result.scenarios) lines.push(scenarioSection(sc, charts));
  const general = charts.filter((c) => c.scenario === undefined);
  if (general.length > 0) {
    lines.push('## Across scenarios', '');
    for (const c of general) lines.push(`![${c.title}](${c.file})`, '');
  }
  lines.push('## Reproduce', '', '```sh', 'bench/setup --install   # nginx, haproxy, wrk from Debian (root)', reproduceCommand(result), '```', '');
  return lines.join('\n');
}
