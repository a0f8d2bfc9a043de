/**
 * End to end, real processes: etcd, `meshlet control-plane --registry etcd://`, a `meshlet
 * proxy` gateway following it over ADS, echo servers as instances and `meshlet register` beside
 * each. An endpoint appears in the proxy within a moment of its registration; `kill -9` of an
 * instance (its register process with it) removes it once its lease's TTL has passed; SIGTERM of
 * a register process (a drained instance) removes it at once, before the instance stops. A steady
 * load through the gateway, with retries on, fails no request meanwhile.
 */
import t from 'tap';
import type { Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { startEchoServer } from '../../../cli/echo-server';
import { adsBootstrap } from '../../helpers/ads-test-server';
import { startControlPlane } from '../../helpers/control-plane-process';
import { startEtcd } from '../../helpers/etcd';
import { freePort, startProxy, type ProxyProcess } from '../../helpers/proxy-process';
import { untilProxyHost } from '../../helpers/proxy-clusters';
import { startRegister, type RegisterProcess } from '../../helpers/register-process';

const TTL_S = 2;
/**
 * Below the cluster's retry budget (Envoy's default circuit breaker: 3 retries in flight): more
 * clients than that, a third of whose requests go to a dead instance for a TTL, overflow it and
 * get 503 UF,UO, as they would from Envoy.
 */
const LOAD_CLIENTS = 2;
const LOAD_MAX_MS = 5000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Milliseconds from `since` until the proxy has (or no longer has) 127.0.0.1:port in cluster echo. */
function untilProxy(proxy: ProxyProcess, port: number, present: boolean, since: number, timeoutMs: number): Promise<number> {
  return untilProxyHost(proxy.adminUrl, 'echo', `127.0.0.1:${port}`, present, since, timeoutMs);
}

/** Clients sending requests back to back until stopped (at most LOAD_MAX_MS); every non-200 is a failure. */
function steadyLoad(url: string) {
  const agent = new Agent({ connections: LOAD_CLIENTS });
  const servedBy: Record<string, number> = {};
  const failures: string[] = [];
  let stopped = false;
  let result: Promise<{ servedBy: Record<string, number>; failures: string[] }> | undefined;
  const deadline = Date.now() + LOAD_MAX_MS;
  const clients = Promise.all(
    Array.from({ length: LOAD_CLIENTS }, async () => {
      while (!stopped && Date.now() < deadline) {
        try {
          const res = await request(url, { dispatcher: agent, headersTimeout: 5000, bodyTimeout: 5000 });
          const body = await res.body.text();
          const by = String(res.headers['x-served-by'] ?? '');
          if (res.statusCode === 200) servedBy[by] = (servedBy[by] ?? 0) + 1;
          else failures.push(`${res.statusCode} ${res.headers['x-meshlet-response-flags'] ?? ''} ${body.slice(0, 200)}`);
        } catch (err) {
          failures.push((err as Error).message);
          await sleep(5);
        }
      }
    }),
  );
  return {
    get running() {
      return !stopped && Date.now() < deadline;
    },
    stop() {
      stopped = true;
      result ??= clients.then(() => agent.close()).then(() => ({ servedBy, failures }));
      return result;
    },
  };
}

t.test('registered endpoints reach a real proxy; kill -9 expires with the lease, SIGTERM deregisters at once; no request fails', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const servers: Record<string, Server> = {};
  const ports: Record<string, number> = {};
  for (const name of ['a', 'b', 'c']) {
    ports[name] = await freePort();
    servers[name] = await startEchoServer(name, ports[name]!);
  }
  t.teardown(() => {
    for (const server of Object.values(servers)) server.close();
  });

  const [xdsPort, cpAdminPort, proxyAdminPort, gatewayPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  // Retries as a mesh's routes set them: a request to an instance that died is retried on another.
  await etcd.client.put('/meshlet/mesh').value(`
services:
  echo: {connect_timeout: 250ms}
gateways:
  ingress:
    port: ${gatewayPort}
    routes: [{match: {prefix: /}, to: {service: echo}, retries: {attempts: 3, on: "connect-failure,reset,5xx"}}]
`);
  const controlPlane = await startControlPlane(['--registry', etcd.registry, '--port', String(xdsPort)], cpAdminPort);
  t.teardown(() => controlPlane.stop());
  const proxy = await startProxy(adsBootstrap({ adminPort: proxyAdminPort, xdsPort, nodeId: 'ingress-1', nodeCluster: 'ingress' }), proxyAdminPort);
  t.teardown(() => proxy.stop('SIGKILL'));
  const diagnostics = () => ({ controlPlane: controlPlane.stderr().slice(-3000), proxy: proxy.stderr().slice(-3000) });

  const registered: RegisterProcess[] = [];
  t.teardown(() => Promise.all(registered.map((r) => r.stop('SIGKILL'))));
  const register = async (name: string, version: string) => {
    const args = ['--registry', etcd.registry, '--service', 'echo', '--address', '127.0.0.1', '--port', String(ports[name]), '--version', version, '--zone', 'z1', '--ttl', `${TTL_S}s`];
    const process = await startRegister(args);
    registered.push(process);
    return process;
  };
  const instances = { a: await register('a', 'v1') };
  const appeared = await untilProxy(proxy, ports.a!, true, instances.a.registeredAt, 3000);
  t.comment(`registration → endpoint in the proxy: ${appeared} ms`);
  t.ok(appeared < 3000, `a registered endpoint is in the proxy within 3 s (${appeared} ms)`);
  const first = await request(`http://127.0.0.1:${gatewayPort}/`);
  t.equal(first.headers['x-served-by'], 'a', 'and serves traffic');
  await first.body.text();

  const [b, c] = await Promise.all([register('b', 'v1'), register('c', 'v2')]);
  await Promise.all([untilProxy(proxy, ports.b!, true, b.registeredAt, 3000), untilProxy(proxy, ports.c!, true, c.registeredAt, 3000)]);

  const load = steadyLoad(`http://127.0.0.1:${gatewayPort}/`);
  t.teardown(() => load.stop());
  await sleep(300);

  // b dies: its register process and its server together, as a lost machine would.
  const killedAt = performance.now();
  await b.stop('SIGKILL');
  await new Promise<void>((resolve) => servers.b!.close(() => resolve()));
  const expired = await untilProxy(proxy, ports.b!, false, killedAt, (TTL_S + 3) * 1000);
  t.comment(`kill -9 → endpoint gone from the proxy: ${expired} ms (TTL ${TTL_S} s)`);
  t.ok(expired < (TTL_S + 3) * 1000, `the killed instance is removed within TTL + 3 s (${expired} ms)`);

  // c drains: deregistered on SIGTERM, and its server stops only once no proxy routes to it.
  const termAt = performance.now();
  t.equal(await c.stop('SIGTERM'), 0, 'register exits 0 after deregistering');
  t.match(c.stderr(), /"msg":"deregistered"/);
  const drained = await untilProxy(proxy, ports.c!, false, termAt, 3000);
  t.comment(`SIGTERM → endpoint gone from the proxy: ${drained} ms`);
  t.ok(drained < 2000, `a drained instance is removed within 2 s (${drained} ms)`);
  await new Promise<void>((resolve) => servers.c!.close(() => resolve()));
  await sleep(300);

  t.ok(load.running, 'the load ran until the end (not cut by its time bound)');
  const { servedBy, failures } = await load.stop();
  const done = Object.values(servedBy).reduce((sum, n) => sum + n, 0);
  t.comment(`steady load: ${done} requests, served by ${JSON.stringify(servedBy)}`);
  t.ok(done > 100, `the load ran (${done} requests)`);
  t.ok(servedBy.b! > 0 && servedBy.c! > 0, 'b and c took traffic before they left');
  t.same(failures, [], `no request failed (of ${done})`, failures.length > 0 ? diagnostics() : {});

  await instances.a.stop('SIGTERM');
  t.same(
    controlPlane.logs().filter((l) => l.level >= 40),
    [],
    'the control plane logged no warning or error',
  );
});
