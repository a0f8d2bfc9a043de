import t from 'tap';
import { bootstrapYaml, freePort, startProxy, staticCluster } from '../../helpers/proxy-process';
import { ControllableUpstream } from './fixtures/controllable-upstream';
import { client, metric, text, until } from './fixtures/proxy-client';

/**
 * Circuit breakers through a real `meshlet proxy`: a request over max_requests (or one that would
 * wait for a connection beyond max_pending_requests) is answered 503 UO at once, counted, and the
 * breaker's gauge shows it open while the limit is reached.
 */
t.test('max_requests and max_pending_requests overflow answer 503 UO at once', async (t) => {
  const slow = await ControllableUpstream.create('slow');
  slow.behaviour = { status: 200, delayMs: 1500 };
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: `            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /rq}
                route: {cluster: rq}
              - match: {prefix: /pending}
                route: {cluster: pending}`,
      clusters: [
        staticCluster('rq', [{ port: slow.port }], '    circuit_breakers: {thresholds: [{max_requests: 1, track_remaining: true}]}'),
        staticCluster('pending', [{ port: slow.port }], '    circuit_breakers: {thresholds: [{max_connections: 1, max_pending_requests: 0}]}'),
      ].join('\n'),
    }),
    adminPort,
  );
  const http = client();
  t.teardown(async () => {
    await proxy.stop();
    await http.close();
    await slow.stop();
  });
  const base = `http://127.0.0.1:${listenerPort}`;

  for (const [cluster, path] of [
    ['rq', '/rq'],
    ['pending', '/pending'],
  ] as const) {
    const seen = slow.count();
    const first = http.get(`${base}${path}`);
    await until(() => slow.count() === seen + 1, 3000, 'the first request reached the upstream');
    const scrape = await text(`${proxy.adminUrl}/stats/prometheus`);
    if (cluster === 'rq') {
      t.equal(metric(scrape, 'envoy_cluster_circuit_breakers_default_rq_open', 'rq'), 1, 'rq_open while max_requests are in flight');
      t.equal(metric(scrape, 'envoy_cluster_circuit_breakers_default_remaining_rq', 'rq'), 0, 'remaining_rq with track_remaining');
    } else {
      t.equal(metric(scrape, 'envoy_cluster_circuit_breakers_default_cx_open', 'pending'), 1, 'cx_open: its one connection is open');
      t.equal(metric(scrape, 'envoy_cluster_circuit_breakers_default_remaining_rq', 'pending'), undefined, 'no remaining_* without track_remaining');
    }
    const started = performance.now();
    const second = await http.get(`${base}${path}`);
    const tookMs = performance.now() - started;
    t.equal(second.status, 503, `${cluster}: overflow`);
    t.equal(second.flags, 'UO');
    t.ok(tookMs < 1000, `answered at once (${Math.round(tookMs)} ms), not after the slow request`);
    t.equal(slow.count(), seen + 1, 'the refused request never reached the upstream');
    t.equal((await first).status, 200, 'the first request completes');
    t.equal((await http.get(`${base}${path}`)).status, 200, 'with the slot free again, the next one passes');
  }
  const scrape = await text(`${proxy.adminUrl}/stats/prometheus`);
  t.equal(metric(scrape, 'envoy_cluster_upstream_rq_pending_overflow', 'rq'), 1);
  t.equal(metric(scrape, 'envoy_cluster_upstream_rq_pending_overflow', 'pending'), 1);
  t.ok(metric(scrape, 'envoy_cluster_upstream_cx_overflow', 'pending')! >= 1, 'the connection limit made it wait: upstream_cx_overflow');
  t.equal(metric(scrape, 'envoy_cluster_circuit_breakers_default_rq_open', 'rq'), 0, 'closed again');
  t.match(await text(`${proxy.adminUrl}/clusters`), /rq::default_priority::max_requests::1\n/);
});
