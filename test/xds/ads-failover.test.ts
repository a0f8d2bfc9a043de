/**
 * End to end, real processes: two `meshlet control-plane` replicas serving the same mesh file,
 * and a `meshlet proxy` (a gateway node) whose bootstrap lists both in its ADS cluster. The
 * replica the proxy is on is SIGKILLed under a steady load: the proxy moves to the other one
 * without failing a request, and follows a mesh edit from there. With both down it keeps
 * serving its last config, stays LIVE, and reconnects when one comes back. Once in SotW, once
 * in Delta.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { startEchoServer } from '../../cli/echo-server';
import {
  closeServer,
  connectedAt,
  connectedTo,
  gatewayMesh,
  get,
  metrics,
  proxyLog,
  rejectedUpdates,
  servedBy,
  sleep,
  startReplica,
  steadyLoad,
  untilServedBy,
  type Replica,
} from '../helpers/ads-failover';
import { adsBootstrap } from '../helpers/ads-test-server';
import { freePort, startProxy, writeTempFile, type ProxyProcess } from '../helpers/proxy-process';

/** Reconnecting after an outage waits for the stream's backoff, which grew meanwhile: at most 30 s. */
const RECONNECT_WAIT_MS = 30_000;
const LOAD_MAX_MS = 5000;

// ---------------------------------------------------------------------------------------------

/** Two replicas on one mesh file, echo upstreams v1 and v2, and a proxy on both replicas. */
async function setUp(t: tap.Test, apiType: 'GRPC' | 'DELTA_GRPC', keepalive?: string) {
  const echo = { v1: await freePort(), v2: await freePort() };
  const servers = [await startEchoServer('v1', echo.v1), await startEchoServer('v2', echo.v2)];
  t.teardown(async () => {
    for (const s of servers) await closeServer(s);
  });
  const [gatewayPort, proxyAdminPort] = [await freePort(), await freePort()];
  const meshFile = writeTempFile('mesh.yaml', gatewayMesh(gatewayPort, echo, 'v1'));
  const replicas: Replica[] = [];
  t.teardown(async () => {
    for (const r of replicas) await r.stop('SIGKILL');
  });
  const start = async (ports?: { port: number; adminPort: number }) => {
    const replica = await startReplica(['--config', meshFile], ports);
    replicas.push(replica);
    return replica;
  };
  const a = await start();
  const b = await start();

  let proxy: ProxyProcess | undefined;
  t.teardown(async () => {
    await proxy?.stop('SIGKILL');
  });
  const bootstrap = adsBootstrap({ adminPort: proxyAdminPort, xdsPort: [a.port, b.port], apiType, nodeId: 'ingress-1', nodeCluster: 'ingress', keepalive });
  proxy = await startProxy(bootstrap, proxyAdminPort, ['--log-level', 'info']);
  const url = `http://127.0.0.1:${gatewayPort}/`;
  return {
    a,
    b,
    /** A again, on its ports (after it was stopped). */
    startA: () => start(a),
    proxy,
    url,
    /** The edit made afterwards: the gateway's route goes to v2. */
    routeToV2: () => writeFileSync(meshFile, gatewayMesh(gatewayPort, echo, 'v2')),
    diagnostics: () => ({ proxyStderr: proxy!.stderr().slice(-4000), a: a.stderr().slice(-2000), b: b.stderr().slice(-2000) }),
  };
}

for (const apiType of ['GRPC', 'DELTA_GRPC'] as const) {
  t.test(`${apiType}: the replica the proxy is on is killed: it moves to the other without failing a request, and follows it`, async (t) => {
    const { a, b, proxy, url, routeToV2, diagnostics } = await setUp(t, apiType);
    t.equal(await connectedAt(proxy.adminUrl, a.address), a.address, 'the first stream goes to the first endpoint', diagnostics());
    t.equal(await servedBy(url), 'v1');

    const load = steadyLoad(url, { maxMs: LOAD_MAX_MS });
    await sleep(300);
    const killedAt = Date.now();
    await a.stop('SIGKILL');
    const onB = await connectedAt(proxy.adminUrl, b.address);
    const movedMs = Date.now() - killedAt;
    await sleep(300);
    const { done, failures, cutShort } = await load.stop();
    t.equal(onB, b.address, `on the other replica ${movedMs} ms after the kill`, diagnostics());
    t.notOk(cutShort, `the load ran until stopped (${LOAD_MAX_MS} ms at most)`);
    t.ok(done > 100, `steady load: ${done} requests`);
    t.same(failures, [], `no request failed (of ${done})`, failures.length > 0 ? diagnostics() : {});
    t.ok(proxyLog(proxy).includes(`connected to control plane ${b.address} (was ${a.address})`), 'the switch is logged', diagnostics());

    routeToV2();
    const editedAt = Date.now();
    t.equal(await untilServedBy(url, 'v2'), 'v2', 'an edit made afterwards reaches the proxy from B', diagnostics());
    t.comment(`${apiType}: moved to B ${movedMs} ms after the kill; the edit served ${Date.now() - editedAt} ms after the write`);
    t.same(await rejectedUpdates(proxy.adminUrl), [], 'the proxy NACKed nothing');
  });

  t.test(`${apiType}: with both replicas down the proxy serves its last config and stays LIVE; it reconnects when one is back`, async (t) => {
    const { a, b, startA, proxy, url, routeToV2, diagnostics } = await setUp(t, apiType);
    t.equal(await connectedAt(proxy.adminUrl, a.address), a.address, diagnostics());

    const load = steadyLoad(url, { maxMs: LOAD_MAX_MS });
    await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]);
    const readiness: string[] = [];
    const outageEnds = Date.now() + 3000;
    while (Date.now() < outageEnds) {
      const res = await get(`${proxy.adminUrl}/ready`);
      const text = await res.body.text();
      readiness.push(`${res.statusCode} ${text.trim()}`);
      await sleep(200);
    }
    const { done, failures } = await load.stop();
    t.same(failures, [], `no request failed with both replicas down (of ${done})`, failures.length > 0 ? diagnostics() : {});
    t.ok(readiness.length > 5 && readiness.every((r) => r === '200 LIVE'), `/ready said 200 LIVE throughout: ${[...new Set(readiness)].join(', ')} (${readiness.length} checks)`);
    const down = await metrics(proxy.adminUrl);
    t.ok(down.includes('envoy_control_plane_connected_state 0'), 'disconnected');
    t.same(await connectedTo(proxy.adminUrl), [], 'no replica named while disconnected');
    t.equal(await servedBy(url), 'v1', 'the last config serves');

    // Edited while nobody serves it: the replica that comes back reads it at start.
    routeToV2();
    const backAt = Date.now();
    const back = await startA();
    t.equal(await connectedAt(proxy.adminUrl, back.address, RECONNECT_WAIT_MS), back.address, `reconnected ${Date.now() - backAt} ms after the replica came back`, diagnostics());
    t.equal(await untilServedBy(url, 'v2'), 'v2', 'and took the edit from it', diagnostics());
  });
}

t.test('a replica that freezes keeps its connection open: unanswered PINGs (connection_keepalive) move the proxy to the other', async (t) => {
  const { a, b, proxy, url, routeToV2, diagnostics } = await setUp(t, 'GRPC', '{interval: 0.5s, timeout: 0.5s}');
  t.equal(await connectedAt(proxy.adminUrl, a.address), a.address, diagnostics());
  const load = steadyLoad(url, { maxMs: LOAD_MAX_MS });
  await sleep(300);
  const frozenAt = Date.now();
  process.kill(a.pid, 'SIGSTOP');
  t.teardown(() => void a.stop('SIGKILL'));
  const onB = await connectedAt(proxy.adminUrl, b.address);
  const movedMs = Date.now() - frozenAt;
  const { done, failures } = await load.stop();
  t.equal(onB, b.address, `on the other replica ${movedMs} ms after the freeze`, diagnostics());
  t.same(failures, [], `no request failed (of ${done})`, failures.length > 0 ? diagnostics() : {});
  routeToV2();
  t.equal(await untilServedBy(url, 'v2'), 'v2', 'an edit made afterwards reaches the proxy from B', diagnostics());
});
