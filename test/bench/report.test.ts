import t from 'tap';
import { renderCharts } from '../../bench/report/chart-set';
import { renderMarkdown, reproduceCommand } from '../../bench/report/markdown';
import { bucketDistributionSvg, groupedBarChartSvg, latencyChartSvg, niceStep } from '../../bench/report/svg-charts';
import { renderTextSummary } from '../../bench/report/text-summary';
import { fixtureResult } from './fixtures/result';

/** Minimal well-formedness check: every tag closes in order, attributes are quoted, entities are known. */
function isWellFormedXml(xml: string): boolean {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let ok = true;
  while ((m = tag.exec(xml)) !== null) {
    const text = xml.slice(last, m.index);
    if (/[<>]/.test(text) || /&(?!amp;|lt;|gt;|quot;|apos;|#\d+;)/.test(text)) ok = false;
    last = tag.lastIndex;
    if (m[2] === undefined) continue;
    if (m[1] === '/') {
      if (stack.pop() !== m[2]) ok = false;
    } else if (m[4] !== '/') {
      stack.push(m[2]);
    }
  }
  if (/[<>]/.test(xml.slice(last))) ok = false;
  return ok && stack.length === 0;
}

t.test('Markdown report from a fixed result', async (t) => {
  const result = fixtureResult();
  const md = renderMarkdown(result, renderCharts(result));
  t.match(md, /^# meshlet benchmark, 2026-01-02/);
  t.match(md, /\| Test CPU \| 2 \| Debian GNU\/Linux 12 \(bookworm\) \| 6\.1\.0 \| v20\.0\.0 \| 100 \|/);
  t.match(md, /Versions: meshlet 0\.1\.0, nginx 1\.22\.1, wrk 4\.1\.0\./);
  t.match(md, /## Closed loop, 50 connections \(`closed`\)/);
  t.match(md, /\| system \| req\/s \| p50 \| p90 \| p99 \| p99\.9 \| added p50 \| added p99 \| CPU µs\/req \| peak RSS \|/);
  t.match(md, /\| meshlet \| 20,200 \| 1520 µs \| 3040 µs \| 7600 µs \| 15\.2 ms \| 518 µs \| 2590 µs \| 37\.0 \| 117\.2 MB \| 0\.67× \| 1\.36× \| 2\.47× \| 0\.50× \| 90% \| 100% \| 0 \|/);
  t.match(md, /\| nginx \| 30,200 \|.*\| 1\.00× \|/);
  t.match(md, /\| meshlet \| meshlet \| 80 µs \/ 75 µs \/ 250 µs \| 80 µs \/ 75 µs \/ 250 µs \| – \| 1520 µs \/ 7600 µs \|/);
  t.match(md, /!\[[^\]]*\]\(2026-01-02-closed-latency\.svg\)/);
  t.match(md, /!\[[^\]]*\]\(2026-01-02-cpu\.svg\)/);
  t.match(md, /!\[[^\]]*\]\(2026-01-02-closed-overhead\.svg\)/);
  t.match(md, /\*\*Not run:\*\* no proxy could be started for this scenario\./);
  t.match(md, /- \*\*meshlet\*\*: meshlet rejected meshlet-server-side\.yaml/);
  t.match(md, /No configuration for this scenario: nginx\./);
  t.match(md, /- \*\*haproxy\*\*: haproxy is not installed/);
  t.match(md, /Coordinated omission/);
  t.match(md, /taskset -c 0/);
  t.match(md, /npm run bench -- --systems direct,meshlet,nginx,haproxy --scenarios closed,mtls --rounds 3 --duration 2s/);
  t.equal(reproduceCommand({ ...result, options: { ...result.options, quick: true } }), 'npm run bench -- --quick');
});

t.test('stdout summary', async (t) => {
  const text = renderTextSummary(fixtureResult());
  t.match(text, /Closed loop, 50 connections \[closed\]/);
  t.match(text, /meshlet\s+20,200\s+1520 µs/);
  t.match(text, /not run: no proxy could be started/);
  t.match(text, /skipped meshlet: meshlet rejected/);
  t.notMatch(text, /skipped nginx/, 'not-applicable systems are not noise');
});

t.test('charts: well-formed SVG with one bar per value', async (t) => {
  const result = fixtureResult();
  const charts = renderCharts(result);
  t.same(charts.map((c) => c.file), ['2026-01-02-closed-latency.svg', '2026-01-02-cpu.svg', '2026-01-02-closed-overhead.svg']);
  const bars = (svg: string): number => (svg.match(/<rect class="bar"/g) ?? []).length;
  for (const c of charts) {
    t.ok(isWellFormedXml(c.svg), 'well-formed XML');
    t.match(c.svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  }
  t.equal(bars(charts[0].svg), 3 * 4, '3 systems × 4 percentiles');
  t.equal(bars(charts[1].svg), 2, 'meshlet and nginx CPU; direct has none');
  // Buckets ≤50 µs, ≤100, ≤250, ≤500 are used; the empty +Inf bucket is trimmed.
  t.equal(bars(charts[2].svg), 4);
  for (const label of ['p50', 'p90', 'p99', 'p99.9', 'direct', 'meshlet', 'nginx', 'latency (log scale)']) t.ok(charts[0].svg.includes(`>${label}<`), `label ${label}`);
});

t.test('grouped bar chart: missing values draw no bar, text is escaped', async (t) => {
  const svg = groupedBarChartSvg({
    title: 'A <b> & "c"',
    groups: ['g1', 'g2', 'g3'],
    series: [
      { name: 's<1>', values: [1, undefined, 3] },
      { name: 's2', values: [4, 5, Number.NaN] },
    ],
    yLabel: 'y',
    scale: 'linear',
    formatValue: String,
  });
  t.ok(isWellFormedXml(svg), 'well-formed XML');
  t.equal((svg.match(/<rect class="bar"/g) ?? []).length, 4);
  t.match(svg, /A &lt;b&gt; &amp; &quot;c&quot;/);
  t.match(svg, /s&lt;1&gt;/);
  const empty = latencyChartSvg('nothing', []);
  t.ok(isWellFormedXml(empty), 'well-formed XML');
  const dist = bucketDistributionSvg('none', []);
  t.ok(isWellFormedXml(dist), 'well-formed XML');
});

t.test('nice axis steps', async (t) => {
  t.equal(niceStep(100, 5), 20);
  t.equal(niceStep(47, 5), 10);
  t.equal(niceStep(0.3, 5), 0.1);
  t.equal(niceStep(2400, 5), 500);
});

t.test('the well-formedness check itself rejects broken XML', async (t) => {
  t.notOk(isWellFormedXml('<svg><rect></svg>'));
  t.notOk(isWellFormedXml('<svg><text>a < b</text></svg>'));
  t.notOk(isWellFormedXml('<svg><text>a & b</text></svg>'));
  t.ok(isWellFormedXml('<svg><rect x="1"/><text>a &amp; b</text></svg>'));
});
