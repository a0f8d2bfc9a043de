/**
 * End to end, real processes: one etcd, two `meshlet control-plane --registry etcd://` replicas
 * on it, and a `meshlet proxy` (gateway node) whose bootstrap's ADS cluster lists both. Under a
 * steady load through the gateway, the replica the proxy is connected to is killed with SIGKILL:
 * the proxy moves to the other one; then changes go through etcd — `meshlet register` of a new
 * instance, which then takes traffic, and `meshlet mesh apply -f` of an edited document that
 * routes to another version — and reach the proxy from the survivor. No request fails from
 * before the kill until after the edit is served. Once in SotW, once in Delta.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { startEchoServer } from '../../../cli/echo-server';
import {
  WAIT_MS,
  closeServer,
  connectedAt,
  connectedTo,
  gatewayMesh,
  get,
  proxyLog,
  rejectedUpdates,
  servedBy,
  sleep,
  startReplica,
  steadyLoad,
  until,
  untilServedBy,
  type Replica,
} from '../../helpers/ads-failover';
import { adsBootstrap } from '../../helpers/ads-test-server';
import { startEtcd, type EtcdCluster } from '../../helpers/etcd';
import { MESHLET_BIN, freePort, startProxy, writeTempFile, type ProxyProcess } from '../../helpers/proxy-process';
import { untilProxyHost } from '../../helpers/proxy-clusters';
import { startRegister, type RegisterProcess } from '../../helpers/register-process';

/** The load runs from before the kill until after the edit is served (about 3 s); this bounds it. */
const LOAD_MAX_MS = 20_000;

/** A `meshlet` command run to its end (at most 30 s). */
function meshlet(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000 }, (_err, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

/** What a replica's admin /config_dump says: the mesh it serves (digest) and the nodes connected to it. */
async function replicaDump(replica: Replica): Promise<{ digest: string; nodes: string[] }> {
  const dump = JSON.parse(await get(`${replica.adminUrl}/config_dump`).then((r) => r.body.text())) as { mesh_digest: string; nodes: { node_id?: string }[] };
  return { digest: dump.mesh_digest, nodes: dump.nodes.map((n) => String(n.node_id)) };
}

let etcd: EtcdCluster;
t.before(async () => {
  etcd = await startEtcd();
});
t.teardown(() => etcd?.stop());

for (const apiType of ['GRPC', 'DELTA_GRPC'] as const) {
  t.test(`${apiType}: the replica the proxy is on is killed; it moves to the other and follows etcd from there, failing no request`, async (t) => {
    // Each protocol's mesh under a prefix of its own, in the one etcd.
    const registry = ['--registry', etcd.registry, '--prefix', `/replicas-${apiType.toLowerCase()}`];

    const echo = { v1: await freePort(), v2: await freePort() };
    const v1b = await freePort();
    const servers: Server[] = [await startEchoServer('v1', echo.v1), await startEchoServer('v2', echo.v2), await startEchoServer('v1b', v1b)];
    t.teardown(async () => {
      for (const s of servers) await closeServer(s);
    });
    const [gatewayPort, proxyAdminPort] = [await freePort(), await freePort()];
    const applied = await meshlet('mesh', 'apply', '-f', writeTempFile('mesh.yaml', gatewayMesh(gatewayPort, echo, 'v1')), ...registry);
    t.equal(applied.code, 0, `mesh apply: ${applied.stdout.trim()}${applied.stderr}`);

    const replicas: Replica[] = [];
    t.teardown(async () => {
      for (const r of replicas) await r.stop('SIGKILL');
    });
    replicas.push(await startReplica(registry), await startReplica(registry));
    const [a, b] = replicas as [Replica, Replica];
    const digests = [(await replicaDump(a)).digest, (await replicaDump(b)).digest];
    t.equal(digests[0], digests[1], 'both replicas serve the same mesh from etcd');

    let proxy: ProxyProcess | undefined;
    t.teardown(async () => {
      await proxy?.stop('SIGKILL');
    });
    const bootstrap = adsBootstrap({ adminPort: proxyAdminPort, xdsPort: [a.port, b.port], apiType, nodeId: 'ingress-1', nodeCluster: 'ingress' });
    proxy = await startProxy(bootstrap, proxyAdminPort, ['--log-level', 'info']);
    const url = `http://127.0.0.1:${gatewayPort}/`;
    let registered: RegisterProcess | undefined;
    t.teardown(async () => {
      await registered?.stop('SIGKILL');
    });
    const diagnostics = () => ({
      proxy: proxy!.stderr().slice(-4000),
      a: a.stderr().slice(-2000),
      b: b.stderr().slice(-2000),
      register: registered?.stderr().slice(-1000),
    });

    // Which replica the proxy is on, by its own account, checked against both replicas' accounts.
    const on = await until(async () => {
      const names = await connectedTo(proxy!.adminUrl);
      return names.length === 1 ? names[0] : undefined;
    });
    const victim = replicas.find((r) => r.address === on);
    t.ok(victim, `the proxy names one replica it is on (${on})`, diagnostics());
    if (victim === undefined) return;
    const survivor = victim === a ? b : a;
    t.same((await replicaDump(victim)).nodes, ['ingress-1'], 'that replica has the proxy as a connected node');
    t.same((await replicaDump(survivor)).nodes, [], 'the other one has none');
    t.equal(await servedBy(url), 'v1', 'the gateway routes to v1');

    const load = steadyLoad(url, { maxMs: LOAD_MAX_MS });
    t.teardown(() => void load.stop());
    await sleep(300);

    // kill -9 of the replica the proxy is on.
    const killedAt = performance.now();
    await victim.stop('SIGKILL');
    const moved = await connectedAt(proxy.adminUrl, survivor.address);
    const movedMs = Math.round(performance.now() - killedAt);
    t.equal(moved, survivor.address, `the proxy is on the other replica ${movedMs} ms after the kill`, diagnostics());
    t.ok(proxyLog(proxy).includes(`connected to control plane ${survivor.address} (was ${victim.address})`), 'the switch is logged', diagnostics());
    t.same(await until(async () => ((await replicaDump(survivor)).nodes.includes('ingress-1') ? ['ingress-1'] : undefined)), ['ingress-1'], 'the survivor has the proxy as a connected node');

    // Afterwards, through etcd: a new v1 instance registers, and takes traffic.
    registered = await startRegister([...registry, '--service', 'echo', '--address', '127.0.0.1', '--port', String(v1b), '--version', 'v1', '--ttl', '10s']);
    const joinedMs = await untilProxyHost(proxy.adminUrl, 'echo/v1', `127.0.0.1:${v1b}`, true, registered.registeredAt, WAIT_MS);
    t.equal(await untilServedBy(url, 'v1b'), 'v1b', `the registered instance is in the proxy ${joinedMs} ms after its registration, and serves`, diagnostics());

    // ... and an edited document is applied: the gateway routes to v2.
    const editedAt = performance.now();
    const edit = await meshlet('mesh', 'apply', '-f', writeTempFile('mesh.yaml', gatewayMesh(gatewayPort, echo, 'v2')), ...registry);
    t.equal(edit.code, 0, `mesh apply of the edit: ${edit.stdout.trim()}${edit.stderr}`);
    t.equal(await untilServedBy(url, 'v2'), 'v2', 'the edit reaches the proxy from the survivor', diagnostics());
    const editMs = Math.round(performance.now() - editedAt);
    await sleep(300);
    const { done, failures, servedBy: by, cutShort } = await load.stop();

    t.notOk(cutShort, `the load ran until stopped, not cut by its bound (${LOAD_MAX_MS} ms)`);
    t.ok(done > 100, `steady load: ${done} requests, served by ${JSON.stringify(by)}`);
    t.same(failures, [], `no request failed (of ${done}) from before the kill until after the edit`, failures.length > 0 ? diagnostics() : {});
    t.ok(by.v1! > 0 && by.v1b! > 0 && by.v2! > 0, 'under load, v1, the registered v1b and (after the edit) v2 each served');
    const after: string[] = [];
    for (let i = 0; i < 10; i++) after.push(await servedBy(url));
    t.same(new Set(after), new Set(['v2']), 'once the edit is served, everything goes to v2');

    t.not((await replicaDump(survivor)).digest, digests[0], 'the survivor serves the edited mesh');
    t.same(await connectedTo(proxy.adminUrl), [survivor.address], 'the proxy is still on the survivor');
    t.same(await rejectedUpdates(proxy.adminUrl), [], 'the proxy NACKed nothing');
    t.same(
      survivor.logs().filter((l) => l.level >= 40),
      [],
      'the survivor logged no warning or error',
    );
    t.comment(`${apiType}: on the survivor ${movedMs} ms after the kill; registration served ${joinedMs} ms after; the edit served ${editMs} ms after the apply began`);
    t.equal(await registered.stop('SIGTERM'), 0, 'the registered instance deregisters');
  });
}
