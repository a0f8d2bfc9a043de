import t, { type Test } from 'tap';
import type { Server } from 'node:http';
import { Agent, request } from 'undici';
import { startEchoServer } from '../../../cli/echo-server';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster } from '../../helpers/proxy-process';

async function setup(t: Test) {
  const [adminPort, listenerPort, echoPort] = [await freePort(), await freePort(), await freePort()];
  const echo: Server = await startEchoServer('echo', echoPort);
  t.teardown(() => void echo.close());
  const proxy = await startProxy(
    bootstrapYaml({ adminPort, listenerPort, virtualHosts: catchAllVirtualHost('echo', '10s'), clusters: staticCluster('echo', [{ port: echoPort }]) }),
    adminPort,
    ['--drain-time-s', '10'],
  );
  t.teardown(() => proxy.stop('SIGKILL'));
  // Every request on its own connection, so 100 are really in flight at once.
  const agent = new Agent({ connections: 200 });
  t.teardown(() => agent.close());
  const slow = () =>
    request(`http://127.0.0.1:${listenerPort}/delay/800`, { dispatcher: agent }).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
  return { proxy, listenerPort, slow };
}

t.test('SIGTERM during 100 in-flight slow requests loses none of them, then exits 0', async (t) => {
  const { proxy, listenerPort, slow } = await setup(t);
  const inflight = Array.from({ length: 100 }, slow);
  await new Promise((r) => setTimeout(r, 250));
  proxy.child.kill('SIGTERM');
  const results = await Promise.all(inflight);
  t.equal(results.filter((r) => r.status === 200 && r.body.includes('"server":"echo"')).length, 100, 'all 100 completed with 200');
  await t.rejects(request(`http://127.0.0.1:${listenerPort}/`, { reset: true }), 'no new connections after the drain began');
  t.equal(await proxy.exited(), 0);
});

t.test('POST /drain_listeners drains without exiting; readiness fails', async (t) => {
  const { proxy, listenerPort, slow } = await setup(t);
  const inflight = Array.from({ length: 20 }, slow);
  await new Promise((r) => setTimeout(r, 250));
  const drain = await request(`${proxy.adminUrl}/drain_listeners`, { method: 'POST' });
  t.equal(await drain.body.text(), 'OK\n');
  const results = await Promise.all(inflight);
  t.equal(results.filter((r) => r.status === 200).length, 20, 'in-flight requests finished');
  await t.rejects(request(`http://127.0.0.1:${listenerPort}/`, { reset: true }), 'the listener is closed');
  const ready = await request(`${proxy.adminUrl}/ready`);
  t.equal(ready.statusCode, 503);
  t.equal(await ready.body.text(), 'DRAINING\n');
  t.equal(proxy.child.exitCode, null, 'the process is still running');
});
