import t from 'tap';
import type { Server } from 'node:http';
import { request } from 'undici';
import { startEchoServer } from '../../cli/echo-server';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster } from '../helpers/proxy-process';

t.test('--workers 2: listeners shared by two processes, one admin, metrics summed over workers', async (t) => {
  const [adminPort, listenerPort, echoPort] = [await freePort(), await freePort(), await freePort()];
  const echo: Server = await startEchoServer('echo', echoPort);
  t.teardown(() => void echo.close());
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: catchAllVirtualHost('echo'),
      clusters: staticCluster('echo', [{ port: echoPort }]),
    }),
    adminPort,
    ['--workers', '2'],
  );
  t.teardown(() => proxy.stop());
  // Separate connections, so the primary spreads them over both workers.
  for (let i = 0; i < 40; i++) {
    const res = await request(`http://127.0.0.1:${listenerPort}/w`, { reset: true });
    t.equal(res.statusCode, 200);
    await res.body.text();
  }
  const text = await (await request(`${proxy.adminUrl}/stats/prometheus`)).body.text();
  t.match(text, /meshlet_request_total_seconds_count\{listener="main",route="all\/0",cluster="echo",code_class="2xx"\} 40\n/);
  t.match(text, /envoy_cluster_upstream_rq_total\{envoy_cluster_name="echo"\} 40\n/);
  t.match(text, /envoy_cluster_membership_total\{envoy_cluster_name="echo"\} 1\n/, 'membership is not summed over workers');
  t.equal(await proxy.stop(), 0, 'SIGTERM stops primary and workers, exit 0');
});
