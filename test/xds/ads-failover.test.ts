/**
 * End to end, real processes: two `meshlet control-plane` replicas serving the same mesh file,
 * and a `meshlet proxy` (a gateway node) whose bootstrap lists both in its ADS cluster. The
 * replica the proxy is on is SIGKILLed under a steady load: the proxy moves to the other one
 * without failing a request, and follows a mesh edit from there. With both down it keeps
 * serving its last config, stays LIVE, and reconnects when one comes back. Once in SotW, once
 * in Delta.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Agent, request } from 'undici';
import { startEchoServer } from '../../cli/echo-server';
import { MESHLET_BIN, freePort, startProxy, writeTempFile, type ProxyProcess } from '../helpers/proxy-process';

/** Every wait for the proxy to notice something is bounded by this. */
const WAIT_MS = 10_000;
/** Reconnecting after an outage waits for the stream's backoff, which grew meanwhile: at most 30 s. */
const RECONNECT_WAIT_MS = 30_000;
const LOAD_MAX_MS = 5000;

function meshYaml(gatewayPort: number, echo: { v1: number; v2: number }, to: 'v1' | 'v2'): string {
  return `# written by ads-failover.test
services:
  echo:
    connect_timeout: 250ms
    endpoints:
      - {address: 127.0.0.1, port: ${echo.v1}, version: v1}
      - {address: 127.0.0.1, port: ${echo.v2}, version: v2}
gateways:
  ingress:
    port: ${gatewayPort}
    routes:
      - name: all
        match: {prefix: /}
        to: {service: echo, version: ${to}}
`;
}

/** A gateway node's bootstrap whose ADS cluster lists the replicas, in this order. */
function bootstrap(adminPort: number, xdsPorts: number[], apiType: 'GRPC' | 'DELTA_GRPC'): string {
  const endpoints = xdsPorts.map((port) => `{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${port}}}}}`).join(', ');
  return `
node: {id: ingress-1, cluster: ingress}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${adminPort}}}}
dynamic_resources:
  ads_config:
    api_type: ${apiType}
    transport_api_version: V3
    grpc_services: [{envoy_grpc: {cluster_name: xds_cluster}}]
  lds_config: {ads: {}, resource_api_version: V3}
  cds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds_cluster
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment:
      cluster_name: xds_cluster
      endpoints: [{lb_endpoints: [${endpoints}]}]
`;
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Replica {
  readonly address: string;
  stderr(): string;
  /** SIGTERM by default; SIGKILL as a crash. Resolves once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

async function startReplica(meshFile: string, port: number, adminPort: number): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [MESHLET_BIN, 'control-plane', '--config', meshFile, '--port', String(port), '--admin-port', String(adminPort), '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited.finally(() => clearTimeout(timer));
  };
  const deadline = Date.now() + 15_000;
  while ((await status(`http://127.0.0.1:${adminPort}/ready`)) !== 200) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop('SIGKILL');
      throw new Error(`control plane on ${port} not ready within 15 s: ${err}`);
    }
    await sleep(50);
  }
  return { address: `127.0.0.1:${port}`, stderr: () => err, stop };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * One request on a connection of its own: the test's checks come seconds apart (a replica
 * starting, an outage), and a kept-alive connection the server closes just as it is reused
 * would fail the check, not the proxy.
 */
function get(url: string) {
  return request(url, { reset: true });
}

function status(url: string): Promise<number> {
  return get(url)
    .then(async (res) => (await res.body.text(), res.statusCode))
    .catch(() => 0);
}

/** Polls `check` every 50 ms until it returns a value, for at most `timeoutMs`; undefined if it never does. */
async function until<T>(check: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined || Date.now() > deadline) return value;
    await sleep(50);
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------------
// What the proxy says

async function metrics(adminUrl: string): Promise<string[]> {
  return (await get(`${adminUrl}/stats/prometheus`).then((r) => r.body.text())).split('\n');
}

/** The replicas meshlet_xds_control_plane_info names (the one the stream is on, or none). */
async function connectedTo(adminUrl: string): Promise<string[]> {
  return (await metrics(adminUrl)).flatMap((l) => /^meshlet_xds_control_plane_info\{address="([^"]+)"\} 1$/.exec(l)?.[1] ?? []);
}

/** Resolves with the replica once the proxy reports being on it (undefined after `timeoutMs`). */
function connectedAt(adminUrl: string, address: string, timeoutMs = WAIT_MS): Promise<string | undefined> {
  return until(async () => ((await connectedTo(adminUrl)).join() === address ? address : undefined), timeoutMs);
}

function proxyLog(proxy: ProxyProcess): string[] {
  return proxy
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
}

/** Who serves requests to `url` now: the x-served-by of one request. */
async function servedBy(url: string): Promise<string> {
  const res = await get(url);
  await res.body.text();
  return String(res.headers['x-served-by'] ?? res.statusCode);
}

// ---------------------------------------------------------------------------------------------
// The steady load

/** 4 clients sending back to back over keep-alive connections until stopped, for at most LOAD_MAX_MS. */
function steadyLoad(url: string) {
  const agent = new Agent({ connections: 4 });
  const failures: string[] = [];
  let done = 0;
  let stopped = false;
  const deadline = Date.now() + LOAD_MAX_MS;
  const clients = Promise.all(
    Array.from({ length: 4 }, async () => {
      while (!stopped && Date.now() < deadline) {
        try {
          const res = await request(url, { dispatcher: agent, headersTimeout: 2000, bodyTimeout: 2000 });
          const text = await res.body.text();
          if (res.statusCode !== 200) failures.push(`${new Date().toISOString()} ${res.statusCode} ${text.slice(0, 200)}`);
        } catch (err) {
          failures.push(`${new Date().toISOString()} ${(err as Error).message}`);
          await sleep(5); // a refused connection fails at once: do not spin
        }
        done++;
      }
    }),
  );
  return {
    async stop(): Promise<{ done: number; failures: string[]; cutShort: boolean }> {
      const cutShort = Date.now() >= deadline;
      stopped = true;
      await clients;
      await agent.close();
      return { done, failures, cutShort };
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Two replicas on one mesh file, echo upstreams v1 and v2, and a proxy on both replicas. */
async function setUp(t: tap.Test, apiType: 'GRPC' | 'DELTA_GRPC') {
  const echo = { v1: await freePort(), v2: await freePort() };
  const servers = [await startEchoServer('v1', echo.v1), await startEchoServer('v2', echo.v2)];
  t.teardown(async () => {
    for (const s of servers) await closeServer(s);
  });
  const [gatewayPort, proxyAdminPort] = [await freePort(), await freePort()];
  const ports = { a: await freePort(), aAdmin: await freePort(), b: await freePort(), bAdmin: await freePort() };
  const meshFile = writeTempFile('mesh.yaml', meshYaml(gatewayPort, echo, 'v1'));
  const replicas: Replica[] = [];
  t.teardown(async () => {
    for (const r of replicas) await r.stop('SIGKILL');
  });
  const start = async (port: number, adminPort: number) => {
    const replica = await startReplica(meshFile, port, adminPort);
    replicas.push(replica);
    return replica;
  };
  const a = await start(ports.a, ports.aAdmin);
  const b = await start(ports.b, ports.bAdmin);

  let proxy: ProxyProcess | undefined;
  t.teardown(async () => {
    await proxy?.stop('SIGKILL');
  });
  proxy = await startProxy(bootstrap(proxyAdminPort, [ports.a, ports.b], apiType), proxyAdminPort, ['--log-level', 'info']);
  const url = `http://127.0.0.1:${gatewayPort}/`;
  return {
    a,
    b,
    /** A again, on its ports (after it was stopped). */
    startA: () => start(ports.a, ports.aAdmin),
    proxy,
    url,
    /** The edit made afterwards: the gateway's route goes to v2. */
    routeToV2: () => writeFileSync(meshFile, meshYaml(gatewayPort, echo, 'v2')),
    diagnostics: () => ({ proxyStderr: proxy!.stderr().slice(-4000), a: a.stderr().slice(-2000), b: b.stderr().slice(-2000) }),
  };
}

for (const apiType of ['GRPC', 'DELTA_GRPC'] as const) {
  t.test(`${apiType}: the replica the proxy is on is killed: it moves to the other without failing a request, and follows it`, async (t) => {
    const { a, b, proxy, url, routeToV2, diagnostics } = await setUp(t, apiType);
    t.equal(await connectedAt(proxy.adminUrl, a.address), a.address, 'the first stream goes to the first endpoint', diagnostics());
    t.equal(await servedBy(url), 'v1');

    const load = steadyLoad(url);
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
    t.equal(await until(async () => ((await servedBy(url)) === 'v2' ? 'v2' : undefined)), 'v2', 'an edit made afterwards reaches the proxy from B', diagnostics());
    t.comment(`${apiType}: moved to B ${movedMs} ms after the kill; the edit served ${Date.now() - editedAt} ms after the write`);
    const rejected = (await metrics(proxy.adminUrl)).filter((l) => /^envoy_\w+_update_rejected(\{| )/.test(l) && !l.endsWith(' 0'));
    t.same(rejected, [], 'the proxy NACKed nothing');
  });

  t.test(`${apiType}: with both replicas down the proxy serves its last config and stays LIVE; it reconnects when one is back`, async (t) => {
    const { a, b, startA, proxy, url, routeToV2, diagnostics } = await setUp(t, apiType);
    t.equal(await connectedAt(proxy.adminUrl, a.address), a.address, diagnostics());

    const load = steadyLoad(url);
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
    t.equal(await until(async () => ((await servedBy(url)) === 'v2' ? 'v2' : undefined)), 'v2', 'and took the edit from it', diagnostics());
  });
}
