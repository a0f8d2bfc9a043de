/**
 * End to end, real processes: `meshlet control-plane` serving a mesh file, `meshlet proxy` (a
 * gateway node) taking its config from it over ADS, echo servers as upstreams. With a steady load
 * running through the proxy the whole time, the mesh file is edited (a canary split 90/10 → 50/50,
 * an endpoint added, an endpoint removed) and 1 s after each write the proxy must route by the new
 * file, without a single request failing. Once in SotW (api_type GRPC), once in Delta (DELTA_GRPC).
 */
import t from 'tap';
import { adsBootstrap } from '../helpers/ads-test-server';
import { renameSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Agent, request } from 'undici';
import { startEchoServer } from '../../cli/echo-server';
import { startControlPlane } from '../helpers/control-plane-process';
import { freePort, startProxy, writeTempFile, type ProxyProcess } from '../helpers/proxy-process';

const PROPAGATION_MS = 1000;
const LOAD_CLIENTS = 4;
const LOAD_MAX_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// The mesh file

interface MeshState {
  gatewayPort: number;
  /** Endpoints of service echo: upstream name → [port, version]. */
  endpoints: Record<string, [number, string]>;
  split: { v1: number; v2: number };
}

function meshYaml(s: MeshState): string {
  const endpoints = Object.values(s.endpoints)
    .map(([port, version]) => `      - {address: 127.0.0.1, port: ${port}, version: ${version}}`)
    .join('\n');
  return `# written by proxy-follows-control-plane.test
services:
  echo:
    connect_timeout: 250ms
    endpoints:
${endpoints}
gateways:
  ingress:
    port: ${s.gatewayPort}
    routes:
      - name: canary
        match: {prefix: /}
        to:
          - {service: echo, version: v1, weight: ${s.split.v1}}
          - {service: echo, version: v2, weight: ${s.split.v2}}
`;
}

/** As editors that save through a temporary file do: write it next to the file, rename it over. */
function writeAtomically(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}

/** As editors that save in place do: truncate and write the same inode. */
function writeInPlace(file: string, text: string): void {
  writeFileSync(file, text);
}

// ---------------------------------------------------------------------------------------------
// Helpers

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------------
// The steady load

interface Sample {
  readonly startedAt: number;
  readonly endedAt: number;
  /** The upstream that answered (x-served-by), or '' for a failure. */
  readonly servedBy: string;
}

/**
 * `LOAD_CLIENTS` clients, each sending requests back to back over keep-alive connections, until
 * stopped or for at most `LOAD_MAX_MS`. Every answer is recorded; every non-200 or error is a failure.
 */
function steadyLoad(url: string) {
  const agent = new Agent({ connections: LOAD_CLIENTS });
  const samples: Sample[] = [];
  const failures: string[] = [];
  let stopped = false;
  let waiters: (() => void)[] = [];
  const deadline = Date.now() + LOAD_MAX_MS;
  const record = (sample: Sample) => {
    samples.push(sample);
    const wake = waiters;
    waiters = [];
    for (const w of wake) w();
  };
  const clients = Promise.all(
    Array.from({ length: LOAD_CLIENTS }, async (_, client) => {
      while (!stopped && Date.now() < deadline) {
        const startedAt = Date.now();
        try {
          const res = await request(url, { dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 });
          const text = await res.body.text();
          const servedBy = String(res.headers['x-served-by'] ?? '');
          if (res.statusCode !== 200 || servedBy === '') {
            failures.push(`client ${client} at ${new Date(startedAt).toISOString()}: ${res.statusCode} ${res.headers['x-meshlet-response-flags'] ?? ''} ${text.slice(0, 200)}`);
            record({ startedAt, endedAt: Date.now(), servedBy: '' });
          } else {
            record({ startedAt, endedAt: Date.now(), servedBy });
          }
        } catch (err) {
          failures.push(`client ${client} at ${new Date(startedAt).toISOString()}: ${(err as Error).message}`);
          record({ startedAt, endedAt: Date.now(), servedBy: '' });
          await sleep(5); // a refused connection fails at once: do not spin
        }
      }
    }),
  );
  return {
    samples,
    failures,
    get running() {
      return !stopped && Date.now() < deadline;
    },
    /** Who answered the next `n` requests started from now on (within `timeoutMs`). */
    async tally(n: number, timeoutMs = 10_000): Promise<Record<string, number>> {
      const from = Date.now();
      const until = from + timeoutMs;
      const counted = () => samples.filter((s) => s.startedAt >= from);
      while (counted().length < n) {
        if (Date.now() > until || stopped || Date.now() > deadline) throw new Error(`only ${counted().length} of ${n} requests within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      const counts: Record<string, number> = {};
      for (const s of counted().slice(0, n)) {
        const key = s.servedBy || 'failed';
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    },
    async stop(): Promise<{ done: number; failures: string[] }> {
      stopped = true;
      await clients;
      await agent.close();
      return { done: samples.length, failures };
    },
  };
}

/** Shares in percent of a tally. */
function shares(counts: Record<string, number>): Record<string, number> {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Math.round((1000 * v) / total) / 10]));
}

/** Each share within `slack` percentage points of the expected one (names missing on either side count as 0). */
function near(t: tap.Test, counts: Record<string, number>, expected: Record<string, number>, slack: number, message: string): void {
  const got = shares(counts);
  const off = Object.keys({ ...got, ...expected }).filter((k) => Math.abs((got[k] ?? 0) - (expected[k] ?? 0)) > slack);
  t.same(off, [], `${message}: expected ${JSON.stringify(expected)} ±${slack} points, got ${JSON.stringify(got)} of ${JSON.stringify(counts)}`);
}

// ---------------------------------------------------------------------------------------------

for (const [apiType, writes] of [
  ['GRPC', { split: writeAtomically, add: writeInPlace, remove: writeAtomically }],
  ['DELTA_GRPC', { split: writeInPlace, add: writeAtomically, remove: writeInPlace }],
] as const) {
  t.test(`${apiType}: the proxy follows mesh file edits within 1 s without failing a request`, async (t) => {
    const servers: Record<string, Server> = {};
    const ports: Record<string, number> = {};
    for (const name of ['v1-a', 'v2-a', 'v1-b']) {
      ports[name] = await freePort();
      // v1-b is started now but only joins the mesh in step 3.
      servers[name] = await startEchoServer(name, ports[name]!);
    }
    t.teardown(async () => {
      for (const s of Object.values(servers)) await closeServer(s);
    });

    const [xdsPort, cpAdminPort, proxyAdminPort, gatewayPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const state: MeshState = {
      gatewayPort,
      endpoints: { 'v1-a': [ports['v1-a']!, 'v1'], 'v2-a': [ports['v2-a']!, 'v2'] },
      split: { v1: 90, v2: 10 },
    };
    const meshFile = writeTempFile('mesh.yaml', meshYaml(state));

    const controlPlane = await startControlPlane(['--config', meshFile, '--port', String(xdsPort)], cpAdminPort);
    let proxy: ProxyProcess | undefined;
    t.teardown(async () => {
      await proxy?.stop('SIGKILL');
      await controlPlane.stop();
    });
    proxy = await startProxy(adsBootstrap({ adminPort: proxyAdminPort, xdsPort, apiType, nodeId: 'ingress-1', nodeCluster: 'ingress' }), proxyAdminPort);

    const load = steadyLoad(`http://127.0.0.1:${gatewayPort}/`);
    let loadStopped = false;
    t.teardown(async () => {
      if (!loadStopped) await load.stop();
    });
    const diagnostics = () => ({
      failures: load.failures.slice(0, 10),
      proxyStderr: proxy?.stderr().slice(-4000),
      controlPlaneStderr: controlPlane.stderr().slice(-4000),
    });

    /** Writes the mesh, waits PROPAGATION_MS, and returns when the write happened. */
    const edit = async (write: (file: string, text: string) => void): Promise<number> => {
      const at = Date.now();
      write(meshFile, meshYaml(state));
      await sleep(PROPAGATION_MS - (Date.now() - at));
      return at;
    };

    // 1. The initial canary split.
    const initial = await load.tally(300);
    near(t, initial, { 'v1-a': 90, 'v2-a': 10 }, 6, '1. initial split 90/10');

    // 2. 90/10 → 50/50.
    state.split = { v1: 50, v2: 50 };
    await edit(writes.split);
    near(t, await load.tally(300), { 'v1-a': 50, 'v2-a': 50 }, 10, `2. 1 s after the write (${writes.split.name}), the split is 50/50`);

    // 3. A new v1 endpoint: v1's half is shared by v1-a and v1-b.
    state.endpoints['v1-b'] = [ports['v1-b']!, 'v1'];
    const addedAt = await edit(writes.add);
    const afterAdd = await load.tally(300);
    t.ok((afterAdd['v1-b'] ?? 0) > 0, `3. 1 s after the write (${writes.add.name}), the new endpoint receives traffic: ${JSON.stringify(afterAdd)}`);
    near(t, afterAdd, { 'v1-a': 25, 'v1-b': 25, 'v2-a': 50 }, 10, '3. and its share of it');
    const firstToNew = load.samples.find((s) => s.servedBy === 'v1-b' && s.startedAt >= addedAt);
    t.comment(`${apiType}: first request answered by the new endpoint ${firstToNew ? firstToNew.endedAt - addedAt : '?'} ms after the write`);

    // 4. v1-a leaves: 1 s later it gets nothing, v1-b has all of v1's half.
    delete state.endpoints['v1-a'];
    const removedAt = await edit(writes.remove);
    const afterRemove = await load.tally(200);
    t.equal(afterRemove['v1-a'] ?? 0, 0, `4. 1 s after the write (${writes.remove.name}), the removed endpoint receives none: ${JSON.stringify(afterRemove)}`);
    near(t, afterRemove, { 'v1-b': 50, 'v2-a': 50 }, 10, '4. the others share its traffic');
    const lastToRemoved = load.samples.filter((s) => s.servedBy === 'v1-a' && s.startedAt >= removedAt).pop();
    t.comment(`${apiType}: last request answered by the removed endpoint ${lastToRemoved ? `${lastToRemoved.endedAt - removedAt} ms` : 'before'} after the write`);

    // The removed endpoint's server goes away, as its instance would: nothing routes there any more.
    await closeServer(servers['v1-a']!);
    delete servers['v1-a'];
    const afterShutdown = await load.tally(200);
    t.same(Object.keys(afterShutdown).sort(), ['v1-b', 'v2-a'], `4. the removed endpoint's shutdown goes unnoticed: ${JSON.stringify(afterShutdown)}`);

    // 5. Not one request failed.
    t.ok(load.running, 'the load ran until the end (not cut by its time bound)');
    loadStopped = true;
    const { done, failures } = await load.stop();
    t.ok(done > 1000, `steady load: ${done} requests`);
    t.same(failures, [], `5. no request failed (of ${done})`, failures.length > 0 ? diagnostics() : {});

    // Each save was read once, whole (an in-place write read half-way would show as a rejected or an extra reload).
    const cpLog = controlPlane.logs();
    t.equal(cpLog.filter((l) => l.msg === 'mesh reloaded').length, 3, 'the control plane reloaded the mesh once per edit', diagnostics());
    t.same(cpLog.filter((l) => l.level >= 40), [], 'the control plane logged no warning or error (no rejected edit, no NACK, no stream failure)');
    const metrics = (await request(`${proxy.adminUrl}/stats/prometheus`).then((r) => r.body.text())).split('\n');
    t.same(metrics.filter((l) => /^envoy_\w+_update_rejected(\{| )/.test(l) && !l.endsWith(' 0')), [], 'the proxy NACKed nothing');
    t.ok(metrics.includes('envoy_control_plane_connected_state 1'), 'the ADS stream stayed up');
  });
}
