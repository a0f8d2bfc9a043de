import t from 'tap';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster } from '../../helpers/proxy-process';
import { ControllableUpstream } from './fixtures/controllable-upstream';
import { client, healthFlags, metric, text, until } from './fixtures/proxy-client';

/**
 * Outlier detection through a real `meshlet proxy`: consecutive 5xx eject a host, it gets no
 * traffic while ejected, comes back when base_ejection_time (× ejections) has passed.
 */
t.test('a host answering 503 is ejected after consecutive_5xx, gets no traffic, and comes back', async (t) => {
  const [a, b, c] = [await ControllableUpstream.create('a'), await ControllableUpstream.create('b'), await ControllableUpstream.create('c')];
  b.behaviour = { status: 503 };
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: catchAllVirtualHost('svc'),
      clusters: staticCluster(
        'svc',
        [a, b, c].map((u) => ({ port: u.port })),
        '    outlier_detection: {consecutive_5xx: 3, interval: 0.2s, base_ejection_time: 0.5s, max_ejection_percent: 50}',
      ),
    }),
    adminPort,
  );
  const http = client();
  t.teardown(async () => {
    await proxy.stop();
    await http.close();
    for (const u of [a, b, c]) await u.stop();
  });
  const url = `http://127.0.0.1:${listenerPort}/`;
  const flags = () => healthFlags(proxy.adminUrl, 'svc', b.port);

  // Round robin: every third request goes to b, and fails.
  let failures = 0;
  for (let i = 0; i < 30 && b.count() < 3; i++) if ((await http.get(url)).status === 503) failures++;
  t.equal(b.count(), 3);
  t.equal(failures, 3, 'the three requests b got failed (no retries configured)');
  const ejectedAt = Date.now();
  t.equal(await flags(), '/failed_outlier_check');

  for (let i = 0; i < 20; i++) t.equal((await http.get(url)).status, 200, `request ${i} while b is ejected`);
  t.equal(b.count(), 3, 'no traffic to the ejected host');
  const scrape = await text(`${proxy.adminUrl}/stats/prometheus`);
  t.equal(metric(scrape, 'envoy_cluster_outlier_detection_ejections_enforced_total', 'svc'), 1);
  t.equal(metric(scrape, 'envoy_cluster_outlier_detection_ejections_enforced_consecutive_5xx', 'svc'), 1);
  t.equal(metric(scrape, 'envoy_cluster_outlier_detection_ejections_detected_consecutive_5xx', 'svc'), 1);
  t.equal(metric(scrape, 'envoy_cluster_outlier_detection_ejections_active', 'svc'), 1);
  t.equal(metric(scrape, 'envoy_cluster_membership_healthy', 'svc'), 2);
  t.equal(metric(scrape, 'envoy_cluster_membership_total', 'svc'), 3);

  // Back after base_ejection_time (checked on the 200 ms interval).
  await until(async () => (await flags()) === 'healthy', 3000, 'b unejected');
  const outFor = Date.now() - ejectedAt;
  t.ok(outFor >= 400, `ejected for about base_ejection_time: ${outFor} ms`);
  t.equal(metric(await text(`${proxy.adminUrl}/stats/prometheus`), 'envoy_cluster_outlier_detection_ejections_active', 'svc'), 0);

  // It gets traffic again, still fails: ejected a second time, now for 2 × base_ejection_time.
  for (let i = 0; i < 30 && b.count() < 6; i++) await http.get(url);
  t.equal(b.count(), 6, 'b gets traffic again');
  const secondAt = Date.now();
  t.equal(await flags(), '/failed_outlier_check');
  await new Promise((r) => setTimeout(r, 700));
  t.equal(await flags(), '/failed_outlier_check', 'still out after 700 ms: the second ejection lasts 1 s');
  await until(async () => (await flags()) === 'healthy', 3000, 'b back after its second ejection');
  t.ok(Date.now() - secondAt >= 900, `second ejection ≈ 2 × base: ${Date.now() - secondAt} ms`);
  t.equal(metric(await text(`${proxy.adminUrl}/stats/prometheus`), 'envoy_cluster_outlier_detection_ejections_enforced_total', 'svc'), 2);

  // Fixed: it serves again.
  b.behaviour = { status: 200 };
  const before = b.count();
  for (let i = 0; i < 6; i++) t.equal((await http.get(url)).status, 200);
  t.ok(b.count() > before, 'the recovered host serves');
});

t.test('connect failures count as 5xx (no split): a stopped host is ejected; /clusters JSON shows it', async (t) => {
  const [a, c] = [await ControllableUpstream.create('a'), await ControllableUpstream.create('c')];
  await c.stop();
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: catchAllVirtualHost('svc'),
      clusters: staticCluster('svc', [a, c].map((u) => ({ port: u.port })), '    outlier_detection: {consecutive_5xx: 2, interval: 0.2s, max_ejection_percent: 50}'),
    }),
    adminPort,
  );
  const http = client();
  t.teardown(async () => {
    await proxy.stop();
    await http.close();
    await a.stop();
  });
  const url = `http://127.0.0.1:${listenerPort}/`;
  let failed = 0;
  for (let i = 0; i < 4; i++) {
    const reply = await http.get(url);
    if (reply.status !== 200) {
      failed++;
      t.equal(reply.flags, 'UF', 'connect failure');
    }
  }
  t.equal(failed, 2, 'two connect failures, then c is ejected');
  for (let i = 0; i < 10; i++) t.equal((await http.get(url)).status, 200);
  t.equal(await healthFlags(proxy.adminUrl, 'svc', c.port), '/failed_outlier_check');
  const json = JSON.parse(await text(`${proxy.adminUrl}/clusters?format=json`));
  const host = json.cluster_statuses[0].host_statuses.find((h: any) => h.address.socket_address.port_value === c.port);
  t.same(host.health_status, { failed_outlier_check: true, eds_health_status: 'HEALTHY' });
  t.equal(host.health_flags, '/failed_outlier_check');
});
