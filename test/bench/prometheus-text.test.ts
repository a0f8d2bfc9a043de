import t from 'tap';
import { bucketCounts, diffHistogram, extractHistogram, histogramMean, histogramQuantile, parsePrometheusText, sampleValue } from '../../bench/prometheus-text';

const SCRAPE = `# HELP meshlet_request_overhead_seconds Time meshlet spent on its own work per request
# TYPE meshlet_request_overhead_seconds histogram
meshlet_request_overhead_seconds_bucket{le="0.0001",listener="bench"} 10
meshlet_request_overhead_seconds_bucket{le="0.0002",listener="bench"} 60
meshlet_request_overhead_seconds_bucket{le="0.0005",listener="bench"} 90
meshlet_request_overhead_seconds_bucket{le="+Inf",listener="bench"} 100
meshlet_request_overhead_seconds_sum{listener="bench"} 0.02
meshlet_request_overhead_seconds_count{listener="bench"} 100
meshlet_request_overhead_seconds_bucket{le="0.0001",listener="admin"} 5
meshlet_request_overhead_seconds_bucket{le="0.0002",listener="admin"} 5
meshlet_request_overhead_seconds_bucket{le="0.0005",listener="admin"} 5
meshlet_request_overhead_seconds_bucket{le="+Inf",listener="admin"} 5
meshlet_request_overhead_seconds_sum{listener="admin"} 0.0002
meshlet_request_overhead_seconds_count{listener="admin"} 5
process_cpu_seconds_total 1.5 1700000000000
weird_label{path="a \\"quoted\\", comma\\nand newline"} 3
`;

t.test('parses samples, labels with escapes, and timestamps', async (t) => {
  const samples = parsePrometheusText(SCRAPE);
  t.equal(samples.length, 14);
  t.same(samples.find((s) => s.name === 'process_cpu_seconds_total'), { name: 'process_cpu_seconds_total', labels: {}, value: 1.5 });
  t.equal(samples.find((s) => s.name === 'weird_label')?.labels.path, 'a "quoted", comma\nand newline');
  t.equal(samples[3].value, 100);
  t.equal(samples[3].labels.le, '+Inf');
});

t.test('histogram summed over label sets', async (t) => {
  const h = extractHistogram(parsePrometheusText(SCRAPE), 'meshlet_request_overhead_seconds');
  t.ok(h);
  t.same(h?.buckets, [
    { le: 0.0001, count: 15 },
    { le: 0.0002, count: 65 },
    { le: 0.0005, count: 95 },
    { le: Number.POSITIVE_INFINITY, count: 105 },
  ]);
  t.equal(h?.count, 105);
  t.equal(extractHistogram(parsePrometheusText(SCRAPE), 'meshlet_request_grid_seconds'), undefined, 'absent metric is undefined');
});

t.test('quantiles and mean from a known histogram', async (t) => {
  const h = {
    buckets: [
      { le: 0.0001, count: 10 },
      { le: 0.0002, count: 60 },
      { le: 0.0005, count: 90 },
      { le: Number.POSITIVE_INFINITY, count: 100 },
    ],
    sum: 0.02,
    count: 100,
  };
  // rank 50 lies in (0.0001, 0.0002] which holds ranks 11..60: 40 of 50 of the way.
  t.equal(histogramQuantile(0.5, h), 0.0001 + 0.0001 * (40 / 50));
  // rank 5 in the first bucket, interpolated from 0.
  t.equal(histogramQuantile(0.05, h), 0.00005);
  // rank 90 is exactly the top of the third bucket.
  t.equal(histogramQuantile(0.9, h), 0.0005);
  // rank 99 is in +Inf: the highest finite bound, as Prometheus does.
  t.equal(histogramQuantile(0.99, h), 0.0005);
  t.equal(histogramMean(h), 0.0002);
  t.ok(Number.isNaN(histogramQuantile(0.5, { buckets: [], sum: 0, count: 0 })));
  t.same(bucketCounts(h).map((b) => b.count), [10, 50, 30, 10]);
});

t.test('diff of two scrapes is what the run added', async (t) => {
  const before = { buckets: [{ le: 0.001, count: 5 }, { le: Number.POSITIVE_INFINITY, count: 6 }], sum: 0.003, count: 6 };
  const after = {
    buckets: [{ le: 0.0005, count: 4 }, { le: 0.001, count: 25 }, { le: Number.POSITIVE_INFINITY, count: 36 }],
    sum: 0.033,
    count: 36,
  };
  const d = diffHistogram(after, before);
  t.same(d.buckets, [{ le: 0.0005, count: 4 }, { le: 0.001, count: 20 }, { le: Number.POSITIVE_INFINITY, count: 30 }], 'a bucket new since before counts from zero');
  t.equal(d.count, 30);
  t.ok(Math.abs(d.sum - 0.03) < 1e-12);
  t.same(diffHistogram(after, undefined), after, 'no before scrape: everything is new');
});

t.test('sampleValue: the first sample of that name whose labels include the given ones', async (t) => {
  const text = 'a_total{x="1",y="2"} 5\na_total{x="3",y="2"} 7\nb 1\n';
  t.equal(sampleValue(text, 'a_total', { x: '3' }), 7);
  t.equal(sampleValue(text, 'a_total', { y: '2' }), 5, 'the first that matches');
  t.equal(sampleValue(text, 'b'), 1);
  t.equal(sampleValue(text, 'a_total', { x: '9' }), undefined);
  t.equal(sampleValue(text, 'c'), undefined);
});
