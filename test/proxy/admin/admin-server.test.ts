import t from 'tap';
import type { Server } from 'node:http';
import { request } from 'undici';
import { startEchoServer } from '../../../cli/echo-server';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster } from '../../helpers/proxy-process';

const servers: Server[] = [];
t.teardown(() => servers.forEach((s) => s.close()));

async function setup() {
  const [adminPort, listenerPort, a, b] = [await freePort(), await freePort(), await freePort(), await freePort()];
  servers.push(await startEchoServer('a', a), await startEchoServer('b', b));
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: catchAllVirtualHost('echo', '10s'),
      clusters: staticCluster('echo', [{ port: a, weight: 3 }, { port: b, weight: 1, health: 'UNHEALTHY' }]),
    }),
    adminPort,
    ['--drain-time-s', '5'],
  );
  const admin = async (path: string, method = 'GET') => {
    const res = await request(`${proxy.adminUrl}${path}`, { method });
    return { status: res.statusCode, text: await res.body.text() };
  };
  return { proxy, admin, base: `http://127.0.0.1:${listenerPort}`, a, b };
}

t.test('readiness, health check fail/ok, and method checks', async (t) => {
  const { proxy, admin } = await setup();
  t.teardown(() => proxy.stop());
  t.same(await admin('/ready'), { status: 200, text: 'LIVE\n' });
  t.equal((await admin('/healthcheck/fail')).status, 405, 'mutations need POST');
  t.equal((await admin('/healthcheck/fail', 'POST')).status, 200);
  t.same(await admin('/ready'), { status: 503, text: 'DRAINING\n' });
  t.equal((await admin('/healthcheck/ok', 'POST')).status, 200);
  t.equal((await admin('/ready')).status, 200);
  t.equal((await admin('/nope')).status, 404);
  t.match((await admin('/help')).text, '/quitquitquit');
});

t.test('server_info, clusters, config_dump, listeners', async (t) => {
  const { proxy, admin, a, b } = await setup();
  t.teardown(() => proxy.stop());
  const info = JSON.parse((await admin('/server_info')).text);
  t.equal(info.state, 'LIVE');
  t.match(info.version, /^meshlet\//);
  const clusters = (await admin('/clusters')).text;
  t.match(clusters, `echo::127.0.0.1:${a}::weight::3`);
  t.match(clusters, `echo::127.0.0.1:${a}::health_flags::healthy`);
  t.match(clusters, `echo::127.0.0.1:${b}::health_flags::/failed_eds_health`);
  const json = JSON.parse((await admin('/clusters?format=json')).text);
  t.equal(json.cluster_statuses[0].host_statuses.length, 2);
  const dump = JSON.parse((await admin('/config_dump')).text);
  t.same(
    dump.configs.map((c: { '@type': string }) => c['@type'].split('.').pop()),
    ['BootstrapConfigDump', 'ClustersConfigDump', 'ListenersConfigDump'],
  );
  t.equal(dump.configs[1].static_clusters[0].cluster.name, 'echo');
  t.match((await admin('/listeners')).text, /^main::127\.0\.0\.1:\d+/);
});

t.test('SIGTERM drains: readiness fails, in-flight requests finish, then exit 0', async (t) => {
  const { proxy, base } = await setup();
  const inflight = request(`${base}/delay/700`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
  await new Promise((r) => setTimeout(r, 150));
  proxy.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  const ready = await request(`${proxy.adminUrl}/ready`).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
  t.same(ready, { status: 503, text: 'DRAINING\n' }, 'readiness fails while draining');
  const done = await inflight;
  t.equal(done.status, 200, 'the in-flight request completed');
  t.match(done.body, /"server":"a"/);
  t.equal(await proxy.exited(), 0, 'exit code 0');
});

t.test('/quitquitquit answers, then the proxy exits 0', async (t) => {
  const { proxy, admin } = await setup();
  t.equal((await admin('/quitquitquit', 'POST')).text, 'OK\n');
  t.equal(await proxy.exited(), 0);
});
