import type { BenchResult, SystemSummary } from '../result-types';
import { NOT_APPLICABLE } from '../scenarios';
import { formatCount, formatMb, formatMicros, formatPercent, formatRatio, formatUs } from './format';
import { renderTextTable } from './text-table';

function summaryTable(summary: readonly SystemSummary[]): string {
  return renderTextTable(
    ['system', 'req/s', 'p50', 'p99', 'p99.9', '+p50', '+p99', 'CPU µs/req', 'RSS', '÷nginx req/s', 'core1', 'errors'],
    summary.map((s) => [
      s.system,
      formatCount(s.rps),
      formatUs(s.latencyUs.p50),
      formatUs(s.latencyUs.p99),
      formatUs(s.latencyUs.p999),
      formatUs(s.addedLatencyUs?.p50),
      formatUs(s.addedLatencyUs?.p99),
      formatMicros(s.cpuUsPerRequest),
      formatMb(s.peakRssKb),
      formatRatio(s.vsNginx?.rps),
      formatPercent(s.core1Busy),
      formatCount(s.errors),
    ]),
  );
}

/** The summary printed to stdout: one compact table per scenario, then why anything did not run. */
export function renderTextSummary(result: BenchResult): string {
  const gen = result.options.useWrk ? 'closed loops by wrk, fixed rates by the Node loadgen' : 'all loads by the Node loadgen';
  const out: string[] = [
    result.machine.pinning
      ? `Proxies pinned to core 0; upstream and load generator share core 1 (core1 near 100%: the client side was the limit, a faster proxy cannot show it).`
      : 'taskset not found: nothing was pinned.',
    `Medians of ${result.options.rounds} round(s) × ${result.options.durationSec} s; +p50/+p99 = added over direct; ${gen}; fixed-rate latency corrected for coordinated omission.`,
  ];
  for (const sc of result.scenarios) {
    out.push(`\n${sc.title} [${sc.name}]`);
    out.push(sc.skipped ? `  not run: ${sc.skipped}` : summaryTable(sc.summary));
    for (const s of sc.skippedSystems.filter((k) => k.reason !== NOT_APPLICABLE)) out.push(`  skipped ${s.system}: ${s.reason}`);
  }
  for (const s of result.skipped) out.push(`not run: ${s.system}: ${s.reason}`);
  return `${out.join('\n')}\n`;
}
