import t from 'tap';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster } from '../../helpers/proxy-process';
import { ControllableUpstream } from './fixtures/controllable-upstream';
import { HTTP_CHECK, client, healthFlags, metric, text, until } from './fixtures/proxy-client';


const TCP_CHECK = `    health_checks:
    - timeout: 0.3s
      interval: 0.1s
      no_traffic_interval: 0.1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      tcp_health_check: {}`;

/**
 * Active health checking through a real `meshlet proxy`: an HTTP check fails a host when its
 * path fails and brings it back after healthy_threshold passes; a TCP check fails a stopped
 * port; a host down at start-up starts failed.
 */
t.test('HTTP health check: /failed_active_hc while the path fails, no traffic, healthy again after healthy_threshold', async (t) => {
  // Four hosts, so that two failed ones (50 %) do not put the cluster in panic.
  const [a, a2, b, d] = [
    await ControllableUpstream.create('a'),
    await ControllableUpstream.create('a2'),
    await ControllableUpstream.create('b'),
    await ControllableUpstream.createRestartable('d'),
  ];
  await d.stop(); // down from the start
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: catchAllVirtualHost('svc'),
      clusters: staticCluster('svc', [a, a2, b, d].map((u) => ({ port: u.port })), HTTP_CHECK),
    }),
    adminPort,
  );
  const http = client();
  t.teardown(async () => {
    await proxy.stop();
    await http.close();
    for (const u of [a, a2, b]) await u.stop();
  });
  const url = `http://127.0.0.1:${listenerPort}/`;
  const flags = (u: ControllableUpstream) => healthFlags(proxy.adminUrl, 'svc', u.port);

  // LIVE means the first round of checks is done: a and b passed, d failed.
  t.equal(await flags(a), 'healthy');
  t.equal(await flags(b), 'healthy');
  t.equal(await flags(d), '/failed_active_hc', 'a host down at start-up stays failed');
  t.ok(a.count('/healthz') >= 1 && b.count('/healthz') >= 1);

  b.byPath.set('/healthz', { status: 503 });
  await until(async () => (await flags(b)) === '/failed_active_hc', 3000, 'b failed by its health check');
  for (let i = 0; i < 10; i++) t.equal((await http.get(url)).status, 200);
  t.equal(b.countExcept('/healthz'), 0, 'no request to the failed host');
  t.equal(a.countExcept('/healthz') + a2.countExcept('/healthz'), 10);
  let scrape = await text(`${proxy.adminUrl}/stats/prometheus`);
  t.equal(metric(scrape, 'envoy_cluster_membership_healthy', 'svc'), 2);
  t.equal(metric(scrape, 'envoy_cluster_health_check_healthy', 'svc'), 2);
  t.ok(metric(scrape, 'envoy_cluster_health_check_failure', 'svc')! >= 2, 'b and d failures counted');
  t.ok(metric(scrape, 'envoy_cluster_health_check_network_failure', 'svc')! >= 1, "d's connect failures are network failures");

  // Healthy again: the first pass is pending, the second (healthy_threshold 2) clears it.
  b.byPath.set('/healthz', { status: 200 });
  const passesBefore = b.count('/healthz');
  await until(async () => (await flags(b)) === 'healthy', 3000, 'b healthy again');
  t.ok(b.count('/healthz') - passesBefore >= 2, `${b.count('/healthz') - passesBefore} checks to come back`);
  for (let i = 0; i < 10; i++) await http.get(url);
  t.ok(b.countExcept('/healthz') > 0, 'b serves again');

  // d comes up: its first pass was long ago, so it takes healthy_threshold passes too.
  await d.start();
  await until(async () => (await flags(d)) === 'healthy', 3000, 'd healthy once it listens');
  scrape = await text(`${proxy.adminUrl}/stats/prometheus`);
  t.equal(metric(scrape, 'envoy_cluster_membership_healthy', 'svc'), 4);
  t.equal(metric(scrape, 'envoy_cluster_health_check_healthy', 'svc'), 4);
  const attempts = metric(scrape, 'envoy_cluster_health_check_attempt', 'svc')!;
  const successes = metric(scrape, 'envoy_cluster_health_check_success', 'svc')!;
  const failures = metric(scrape, 'envoy_cluster_health_check_failure', 'svc')!;
  t.ok(attempts >= successes + failures && successes > 0, `attempts ${attempts}, success ${successes}, failure ${failures}`);
  const json = JSON.parse(await text(`${proxy.adminUrl}/clusters?format=json`));
  t.same(json.cluster_statuses[0].host_statuses.map((h: any) => h.health_flags), ['healthy', 'healthy', 'healthy', 'healthy']);
  await d.stop();
});

t.test('TCP health check: a stopped port is failed after unhealthy_threshold, a restarted one comes back', async (t) => {
  const [a, e] = [await ControllableUpstream.create('a'), await ControllableUpstream.createRestartable('e')];
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: catchAllVirtualHost('tcp'),
      clusters: staticCluster('tcp', [a, e].map((u) => ({ port: u.port })), TCP_CHECK),
    }),
    adminPort,
  );
  const http = client();
  t.teardown(async () => {
    await proxy.stop();
    await http.close();
    for (const u of [a, e]) await u.stop();
  });
  const flags = () => healthFlags(proxy.adminUrl, 'tcp', e.port);
  t.equal(await flags(), 'healthy');
  await e.stop();
  await until(async () => (await flags()) === '/failed_active_hc', 3000, 'e failed');
  const url = `http://127.0.0.1:${listenerPort}/`;
  for (let i = 0; i < 6; i++) t.equal((await http.get(url)).status, 200, 'every request to the live host');
  await e.start();
  await until(async () => (await flags()) === 'healthy', 3000, 'e healthy');
  t.equal(e.count(), 0, 'a TCP check sends no HTTP request');
});
