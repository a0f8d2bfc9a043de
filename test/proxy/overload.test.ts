import { connect, type Socket } from 'node:net';
import type { Server } from 'node:http';
import t from 'tap';
import { startEchoServer } from '../../cli/echo-server';
import { httpGet, metricValue } from '../helpers/ads-test-server';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster, type ProxyProcess } from '../helpers/proxy-process';

/** Overload protection: connections and requests are refused cheaply, and admin keeps answering. */

let app: Server;
let appPort: number;

t.before(async () => {
  appPort = await freePort();
  app = await startEchoServer('app', appPort);
});
t.teardown(() => app?.close());

async function proxyWith(extraBootstrap: string, args: string[] = [], hcmExtra?: string): Promise<{ proxy: ProxyProcess; port: number }> {
  const [admin, port] = [await freePort(), await freePort()];
  const yaml = bootstrapYaml({ adminPort: admin, listenerPort: port, virtualHosts: catchAllVirtualHost('app'), clusters: staticCluster('app', [{ port: appPort }]), hcmExtra });
  return { proxy: await startProxy(yaml + extraBootstrap, admin, args), port };
}

/** A connection that has sent nothing yet; resolves once connected. */
function openConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Whether the proxy closes a new connection without answering a request on it. */
function refusedOnAccept(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    let data = '';
    socket.on('data', (d) => (data += d));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(data === ''));
    setTimeout(() => {
      socket.destroy();
    }, 3000);
  });
}

t.test('global_downstream_max_connections: connections past the limit are closed on accept; admin still answers', async (t) => {
  const { proxy, port } = await proxyWith(`
overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config: {"@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig, max_active_downstream_connections: 3}
`);
  t.teardown(() => proxy.stop());
  const held = await Promise.all([openConnection(port), openConnection(port), openConnection(port)]);
  t.ok(await refusedOnAccept(port), 'the fourth connection is closed unanswered');
  t.equal((await httpGet(`${proxy.adminUrl}/ready`)).status, 200, 'the admin listener is not subject to it');
  t.equal(await metricValue(proxy.adminUrl, /^envoy_listener_downstream_global_cx_overflow\{/), 1);
  held[0]!.destroy();
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(await refusedOnAccept(port), 'a freed slot takes a new connection');
  for (const socket of held) socket.destroy();
});

t.test('--max-active-requests: requests past it are shed with 503 OM, the rest served', async (t) => {
  const { proxy, port } = await proxyWith('', ['--max-active-requests', '2']);
  t.teardown(() => proxy.stop());
  const results = await Promise.all(Array.from({ length: 5 }, () => httpGet(`http://127.0.0.1:${port}/delay/400`)));
  const statuses = results.map((r) => r.status).sort();
  t.same(statuses, [200, 200, 503, 503, 503]);
  t.match(results.find((r) => r.status === 503)!.text, /envoy overloaded/);
  t.equal(await metricValue(proxy.adminUrl, /^envoy_http_downstream_rq_overload_close\{/), 3);
  t.equal((await httpGet(`http://127.0.0.1:${port}/after`)).status, 200, 'served again once below the limit');
});

t.test('fixed_heap pressure over the threshold sheds every new request; admin keeps answering', async (t) => {
  // A 1 MB "heap limit": the process is always over it, so the action engages at the first refresh.
  const { proxy, port } = await proxyWith(`
overload_manager:
  refresh_interval: 0.05s
  resource_monitors:
  - name: envoy.resource_monitors.fixed_heap
    typed_config: {"@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig, max_heap_size_bytes: 1048576}
  actions:
  - name: envoy.overload_actions.stop_accepting_requests
    triggers: [{name: envoy.resource_monitors.fixed_heap, threshold: {value: 0.9}}]
`);
  t.teardown(() => proxy.stop());
  await new Promise((r) => setTimeout(r, 200));
  const res = await httpGet(`http://127.0.0.1:${port}/`);
  t.equal(res.status, 503);
  t.match(res.text, /envoy overloaded/);
  t.equal((await httpGet(`${proxy.adminUrl}/ready`)).status, 200);
  t.equal((await httpGet(`${proxy.adminUrl}/stats/prometheus`)).status, 200);
});

t.test('an unsupported resource monitor is a config error naming it', async (t) => {
  const [admin, port] = [await freePort(), await freePort()];
  const yaml = bootstrapYaml({ adminPort: admin, listenerPort: port, virtualHosts: catchAllVirtualHost('app'), clusters: staticCluster('app', [{ port: appPort }]) });
  await t.rejects(
    startProxy(`${yaml}
overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.injected_resource
    typed_config: {"@type": type.googleapis.com/envoy.extensions.resource_monitors.injected_resource.v3.InjectedResourceConfig, filename: /tmp/x}
`, admin),
    /overload_manager\.resource_monitors\[0\]/,
  );
});

t.test('slowloris: many half-sent requests are cut at request_headers_timeout while normal clients are served', async (t) => {
  const { proxy, port } = await proxyWith('', [], '          request_headers_timeout: 1s');
  t.teardown(() => proxy.stop());
  const slow = await Promise.all(Array.from({ length: 200 }, () => openConnection(port)));
  for (const socket of slow) socket.write('GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ');
  const answers: string[] = slow.map(() => '');
  const closed = slow.map((socket, i) => {
    socket.on('data', (d) => (answers[i] += d));
    return new Promise<void>((resolve) => socket.on('close', () => resolve()));
  });
  const normal = await Promise.all(Array.from({ length: 20 }, (_, i) => httpGet(`http://127.0.0.1:${port}/normal/${i}`)));
  t.ok(normal.every((r) => r.status === 200), 'normal clients are served meanwhile');
  await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 10_000))]);
  t.ok(slow.every((s) => s.destroyed || s.readyState === 'closed'), 'every slow connection was closed');
  t.ok(answers.every((a) => a.startsWith('HTTP/1.1 408 ')), 'each got a 408');
  t.ok(((await metricValue(proxy.adminUrl, /^envoy_http_downstream_rq_timeout\{/)) ?? 0) >= 200);
});
