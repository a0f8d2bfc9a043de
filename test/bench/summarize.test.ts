import t from 'tap';
import { renderMarkdown } from '../../bench/report/markdown';
import { SYSTEM_NAMES } from '../../bench/scenarios';
import { mergedHistogram, summarizeScenario } from '../../bench/summarize';
import { fixtureResult } from './fixtures/result';

t.test('medians, added latency and ratios per system', async (t) => {
  const result = fixtureResult();
  const summary = result.scenarios[0].summary;
  t.same(summary.map((s) => s.system), ['direct', 'meshlet', 'nginx'], 'in the canonical system order');
  const [direct, meshlet, nginx] = summary;
  t.equal(direct.rps, 40200, 'median of 40100, 40200, 40300');
  t.equal(meshlet.latencyUs.p50, 1520);
  t.equal(meshlet.rounds, 3);
  t.equal(direct.addedLatencyUs, undefined, 'direct adds nothing to itself');
  // Round r: meshlet p50 = 1500 + 10r, direct = 1000 + r → differences 509, 518, 527.
  t.equal(meshlet.addedLatencyUs?.p50, 518);
  t.equal(meshlet.addedLatencyUs?.p99, 5 * 1520 - 5 * 1002);
  t.equal(meshlet.cpuUsPerRequest, 37);
  t.equal(meshlet.peakRssKb, 120_003, 'peak is the maximum over rounds');
  t.equal(direct.cpuUsPerRequest, undefined, 'no proxy, no proxy CPU');
  t.equal(meshlet.vsNginx?.rps, 20200 / 30200);
  t.equal(nginx.vsNginx?.rps, 1);
  t.equal(meshlet.vsNginx?.cpuUsPerRequest, 37 / 15);
  t.equal(meshlet.vsDirect?.rps, 20200 / 40200);
  t.ok(Number.isNaN(direct.vsNginx?.cpuUsPerRequest as number), 'direct has no CPU to compare');
  t.equal(meshlet.requests, 2 * (20100 + 20200 + 20300));
});

t.test("meshlet's histograms: medians per round and the merged distribution", async (t) => {
  const result = fixtureResult();
  const meshlet = result.scenarios[0].summary[1];
  const overhead = meshlet.meshlet?.[0].overhead;
  t.equal(meshlet.meshlet?.[0].process, 'meshlet');
  t.equal(overhead?.count, 3000);
  t.ok(Math.abs((overhead?.meanUs ?? 0) - 80) < 1e-9, 'mean from _sum/_count');
  // rank 500 of 1000 lies in (50 µs, 100 µs], which holds ranks 101..900: 400/800 of the way.
  t.ok(Math.abs((overhead?.p50Us ?? 0) - 75) < 1e-9);
  t.equal(meshlet.meshlet?.[0].grid, undefined, 'a metric not exported stays absent');
  const merged = mergedHistogram(result.scenarios[0].samples, 'meshlet', 'meshlet', 'overhead');
  t.equal(merged?.count, 3000);
  t.same(merged?.buckets.map((b) => b.count), [300, 2700, 2970, 3000, 3000]);
  t.equal(mergedHistogram(result.scenarios[0].samples, 'nginx', 'meshlet', 'overhead'), undefined);
});

t.test('errors: non-2xx responses are among the requests, socket errors are not', async (t) => {
  const result = fixtureResult();
  const samples = result.scenarios[0].samples.map((s) =>
    s.system === 'meshlet' && s.round === 1 ? { ...s, load: { ...s.load, requests: 100, non2xx: 90, socketErrors: 4 } } : s,
  );
  const meshlet = summarizeScenario(samples, SYSTEM_NAMES).find((s) => s.system === 'meshlet');
  t.equal(meshlet?.errors, 94);
  t.equal(meshlet?.socketErrors, 4);
  t.equal(meshlet?.requests, 100 + 2 * (20200 + 20300));
  const scenario = { ...result.scenarios[0], samples, summary: summarizeScenario(samples, SYSTEM_NAMES) };
  const md = renderMarkdown({ ...result, scenarios: [scenario] }, []);
  t.match(md, new RegExp(`\\| 94 of ${(100 + 2 * (20200 + 20300) + 4).toLocaleString('en-US')} \\|`), 'attempted = responses + requests without a response');
});
