/**
 * A 3-member etcd cluster, and a control plane given all three: when the member serving its
 * watch is killed (SIGKILL), it keeps serving its proxies the last mesh, moves its watch to
 * another member, and an instance registered after the kill reaches a real proxy.
 */
import t from 'tap';
import type { Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { startEchoServer } from '../../../cli/echo-server';
import { adsBootstrap } from '../../helpers/ads-test-server';
import { startControlPlane } from '../../helpers/control-plane-process';
import { memberWithWatcher, startEtcd, waitHealthy } from '../../helpers/etcd';
import { untilProxyHost } from '../../helpers/proxy-clusters';
import { freePort, startProxy } from '../../helpers/proxy-process';
import { startRegister, type RegisterProcess } from '../../helpers/register-process';

t.test('losing the etcd member it watches through, the control plane keeps serving and keeps watching', async (t) => {
  const etcd = await startEtcd(3);
  t.teardown(() => etcd.stop());
  const servers: Server[] = [];
  t.teardown(() => servers.forEach((s) => s.close()));
  const ports = { a: await freePort(), b: await freePort() };
  for (const [name, port] of Object.entries(ports)) servers.push(await startEchoServer(name, port));

  const [xdsPort, cpAdminPort, proxyAdminPort, gatewayPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  await etcd.client.put('/meshlet/mesh').value(`
services:
  echo: {connect_timeout: 250ms}
gateways:
  ingress:
    port: ${gatewayPort}
    routes: [{match: {prefix: /}, to: {service: echo}}]
`);
  const controlPlane = await startControlPlane(['--registry', etcd.registry, '--port', String(xdsPort)], cpAdminPort);
  t.teardown(() => controlPlane.stop());
  const proxy = await startProxy(adsBootstrap({ adminPort: proxyAdminPort, xdsPort, nodeId: 'ingress-1', nodeCluster: 'ingress' }), proxyAdminPort);
  t.teardown(() => proxy.stop('SIGKILL'));
  const registered: RegisterProcess[] = [];
  t.teardown(() => Promise.all(registered.map((r) => r.stop('SIGKILL'))));
  const register = async (name: keyof typeof ports) => {
    const process = await startRegister(['--registry', etcd.registry, '--service', 'echo', '--address', '127.0.0.1', '--port', String(ports[name]), '--ttl', '10s']);
    registered.push(process);
    return process;
  };
  const servedBy = async () => {
    const res = await request(`http://127.0.0.1:${gatewayPort}/`);
    await res.body.text();
    return res.headers['x-served-by'];
  };

  const a = await register('a');
  await untilProxyHost(proxy.adminUrl, 'echo', `127.0.0.1:${ports.a}`, true, a.registeredAt, 3000);

  const watched = await memberWithWatcher(etcd);
  if (watched === undefined) throw new Error('no etcd member has the control plane watching');
  const killedAt = performance.now();
  await watched.kill('SIGKILL');
  t.comment(`killed ${watched.name}, the member serving the control plane's watch`);

  t.equal(await servedBy(), 'a', 'the proxy goes on with the last mesh');
  t.equal((await fetch(`${controlPlane.adminUrl}/ready`)).status, 200, 'the control plane goes on serving');
  // Writes wait for a leader (the killed member may have been it): the registration's own wait is not what is measured.
  await Promise.all(etcd.members.filter((m) => m.running).map((m) => waitHealthy(m)));

  const b = await register('b');
  const appeared = await untilProxyHost(proxy.adminUrl, 'echo', `127.0.0.1:${ports.b}`, true, b.registeredAt, 10_000);
  t.comment(`registered after the kill → in the proxy: ${appeared} ms after the registration, ${Math.round(performance.now() - killedAt)} ms after the kill`);
  t.ok(appeared < 10_000, `an instance registered after the kill reaches the proxy (${appeared} ms)`);
  const answers = new Set([await servedBy(), await servedBy()]);
  t.same([...answers].sort(), ['a', 'b'], 'and takes traffic');

  const logs = controlPlane.logs().map((l) => l.msg);
  t.ok(logs.includes('etcd watch disconnected: serving the last mesh while reconnecting'), 'the lost watch is logged');
  t.ok(logs.includes('etcd watch reconnected'), 'and its reconnection');
  const metrics = await request(`${proxy.adminUrl}/stats/prometheus`).then((r) => r.body.text());
  t.ok(metrics.split('\n').includes('envoy_control_plane_connected_state 1'), "the proxy's ADS stream stayed up");
});
