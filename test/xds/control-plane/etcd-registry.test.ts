/**
 * The etcd registry against a real etcd (one member): the mesh document and registered
 * endpoints become one MeshConfig; bad values are reported and never freeze the rest; and the
 * watch misses nothing across a lost connection (resumed from its revision) or a compaction
 * (everything read again). The control plane on top of it pushes a change written while it was
 * cut off from etcd once it reconnects.
 */
import t, { type Test } from 'tap';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import type { ConfigIssue } from '../../../xds/config-error';
import { ControlPlane } from '../../../xds/control-plane/control-plane';
import type { MeshConfig } from '../../../xds/control-plane/mesh-config';
import { EtcdRegistry } from '../../../xds/control-plane/registry/etcd-registry';
import { decodeAny } from '../../../xds/proto-json';
import { startEtcd, type EtcdCluster } from '../../helpers/etcd';
import { startTcpRelay, type TcpRelay } from '../../helpers/tcp-relay';
import { AdsTestStream, TYPE } from './fixtures/ads-test-client';

const MESH = `# the test's mesh
services:
  echo:
    endpoints: [{address: 127.0.0.1, port: 9001, version: v1}]
    routes:
      - to: [{version: v1, weight: 90}, {version: v2, weight: 10}]
`;

/** Wait bound for a change to reach the registry's callback (the debounce is 50 ms). */
const CHANGE_MS = 3000;
/** ...and after a lost connection: etcd3's per-member circuit breaker may keep it away for 5 s. */
const RECONNECT_MS = 10_000;

function capturedLog() {
  const logs: any[] = [];
  return { logs, log: pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) }) };
}

/** What a registry reported, with a bounded wait for the next report that matches. */
class Reports {
  readonly meshes: MeshConfig[] = [];
  readonly invalid: (readonly ConfigIssue[])[] = [];
  private wake: (() => void) | undefined;
  readonly onMesh = (mesh: MeshConfig) => this.push(() => this.meshes.push(mesh));
  readonly onInvalid = (issues: readonly ConfigIssue[]) => this.push(() => this.invalid.push(issues));

  private push(add: () => void): void {
    add();
    this.wake?.();
  }

  async until<T>(found: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = found();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`not within ${timeoutMs} ms: ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

const endpointsOf = (mesh: MeshConfig, service = 'echo') => mesh.services.find((s) => s.name === service)?.endpoints.map((e) => `${e.address}:${e.port}${e.version ? `/${e.version}` : ''}`);
const json = (value: object) => JSON.stringify(value);

let etcd: EtcdCluster;
t.before(async () => {
  etcd = await startEtcd();
});
t.teardown(() => etcd.stop());

async function startRegistry(t: Test, prefix: string, hosts = [etcd.members[0]!.clientUrl]) {
  const { log, logs } = capturedLog();
  const registry = new EtcdRegistry({ hosts, prefix, log });
  const reports = new Reports();
  const initial = await registry.start(reports.onMesh, reports.onInvalid);
  t.teardown(() => registry.close());
  return { registry, reports, initial, logs };
}

t.test('the document and the registered endpoints make one mesh; what cannot be used is logged once and left out', async (t) => {
  const prefix = '/t1';
  const { reports, initial, logs } = await startRegistry(t, prefix);
  t.same(initial.services, [], 'nothing stored yet: an empty mesh');
  t.match(logs, [{ level: 40, msg: /no mesh document in etcd yet/, key: '/t1/mesh' }]);

  await etcd.client.put('/t1/mesh').value(MESH);
  const applied = await reports.until(() => reports.meshes.at(-1), CHANGE_MS, 'the applied document');
  t.same(endpointsOf(applied), ['127.0.0.1:9001/v1']);

  await etcd.client.put('/t1/endpoints/echo/127.0.0.1:9003').value(json({ address: '127.0.0.1', port: 9003, version: 'v2', zone: 'b', weight: 3 }));
  await etcd.client.put('/t1/endpoints/echo/127.0.0.1:9002').value(json({ address: '127.0.0.1', port: 9002, version: 'v1' }));
  await etcd.client.put('/t1/endpoints/echo/127.0.0.1:9004').value('{nope');
  await etcd.client.put('/t1/endpoints/echo/127.0.0.1:9005').value(json({ address: '127.0.0.1', port: 9006 }));
  await etcd.client.put('/t1/endpoints/echo/127.0.0.1:9001').value(json({ address: '127.0.0.1', port: 9001, version: 'v9' }));
  await etcd.client.put('/t1/endpoints/echo/127.0.0.1:9007').value(json({ address: 'localhost', port: 9007, weight: 0 }));
  await etcd.client.put('/t1/endpoints/web/127.0.0.1:9008').value(json({ address: '127.0.0.1', port: 9008 }));
  await etcd.client.put('/t1/other').value('x');
  await etcd.client.put('/t10/endpoints/echo/127.0.0.1:9009').value(json({ address: '127.0.0.1', port: 9009 }));
  const merged = await reports.until(() => (endpointsOf(reports.meshes.at(-1)!)?.length === 3 ? reports.meshes.at(-1) : undefined), CHANGE_MS, 'the registrations');
  t.same(endpointsOf(merged), ['127.0.0.1:9001/v1', '127.0.0.1:9002/v1', '127.0.0.1:9003/v2'], "the document's endpoints, then the registered ones in key order");
  t.match(merged.services[0]!.endpoints[2], { weight: 3, zone: 'b', priority: 0 }, 'registered values are read as mesh file endpoints are, defaults included');

  const ignored = Object.fromEntries(logs.filter((l) => l.msg === 'etcd key ignored').map((l) => [l.key, l.reason]));
  t.match(ignored, {
    '/t1/endpoints/echo/127.0.0.1:9004': /^not JSON/,
    '/t1/endpoints/echo/127.0.0.1:9005': 'the key says 127.0.0.1:9005, the value 127.0.0.1:9006',
    '/t1/endpoints/echo/127.0.0.1:9001': 'the mesh document lists 127.0.0.1:9001 already (its entry is used)',
    '/t1/endpoints/echo/127.0.0.1:9007': /address: expected an IP address.*; weight: expected an integer from 1 to 1000000, got 0/,
    '/t1/endpoints/web/127.0.0.1:9008': 'the mesh document has no service "web"',
    '/t1/other': /^not a key of the mesh/,
  });
  t.equal(Object.keys(ignored).length, 6, 'keys of another prefix (/t10) are not seen at all');

  // More changes elsewhere: the same ignored keys are not logged again.
  const logged = logs.length;
  await etcd.client.delete().key('/t1/endpoints/echo/127.0.0.1:9002');
  await reports.until(() => (endpointsOf(reports.meshes.at(-1)!)?.length === 2 ? true : undefined), CHANGE_MS, 'the deletion');
  t.same(logs.slice(logged).filter((l) => l.msg === 'etcd key ignored'), []);
  t.same(reports.invalid, []);
});

t.test('an invalid document is reported with its paths and the last good one stays; registrations still apply', async (t) => {
  const prefix = '/t2';
  await etcd.client.put('/t2/mesh').value(MESH);
  const { reports, initial } = await startRegistry(t, prefix);
  t.same(endpointsOf(initial), ['127.0.0.1:9001/v1']);

  await etcd.client.put('/t2/mesh').value('services:\n  echo:\n    lb_policy: FASTEST\n    routes: [{to: {service: nope}}]\n');
  const issues = await reports.until(() => reports.invalid[0], CHANGE_MS, 'the invalid document');
  t.same(
    issues.map((i) => i.path),
    ['services.echo.lb_policy', 'services.echo.routes[0].to.service'],
  );
  t.equal(reports.meshes.length, 0, 'nothing new is served: the last good mesh stays');

  await etcd.client.put('/t2/endpoints/echo/127.0.0.1:9002').value(json({ address: '127.0.0.1', port: 9002, version: 'v2' }));
  const withRegistration = await reports.until(() => reports.meshes[0], CHANGE_MS, 'the registration');
  t.same(endpointsOf(withRegistration), ['127.0.0.1:9001/v1', '127.0.0.1:9002/v2'], 'the last good document, with the new registration');
  t.equal(reports.invalid.length, 1, 'the same invalid document is reported once');

  await etcd.client.delete().key('/t2/mesh');
  const deleted = await reports.until(() => reports.invalid[1], CHANGE_MS, 'the deletion');
  t.match(deleted, [{ path: '', message: /\/t2\/mesh was deleted/ }]);
  t.equal(reports.meshes.length, 1, 'a deleted document does not empty the mesh');
});

t.test('an invalid document stored when the registry starts is an error, as an invalid mesh file is', async (t) => {
  await etcd.client.put('/t3/mesh').value('services: {web: {port: 0}}\n');
  const { log } = capturedLog();
  const registry = new EtcdRegistry({ hosts: [etcd.members[0]!.clientUrl], prefix: '/t3', log });
  await t.rejects(registry.start(() => {}, () => {}), { name: 'ConfigError', message: /services\.web\.port: expected an integer from 1 to 65535, got 0/ });
});

async function cutOff(t: Test): Promise<TcpRelay> {
  const relay = await startTcpRelay(Number(etcd.members[0]!.clientAddress.split(':')[1]));
  t.teardown(() => relay.close());
  return relay;
}

t.test('the control plane serves a change written while it was cut off from etcd, once it is back (watch resumed from its revision)', async (t) => {
  await etcd.client.put('/t4/mesh').value(MESH);
  const relay = await cutOff(t);
  const { log, logs } = capturedLog();
  const plane = await ControlPlane.start({ registry: new EtcdRegistry({ hosts: [`http://127.0.0.1:${relay.port}`], prefix: '/t4', log }), address: '127.0.0.1', port: 0, log });
  const ads = new AdsTestStream(`127.0.0.1:${plane.port}`, 'StreamAggregatedResources');
  t.teardown(async () => {
    ads.close();
    await plane.stop();
  });
  const ports = (response: any) => response.resources.map((any: any) => decodeAny(any)).flatMap((a: any) => (a.endpoints ?? []).flatMap((g: any) => g.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.port_value)));
  ads.send({ type_url: TYPE.EDS, resource_names: ['echo'], node: { id: 'client-1', cluster: 'client' } });
  const first = await ads.next();
  t.same(ports(first), [9001]);
  ads.send({ type_url: TYPE.EDS, resource_names: ['echo'], version_info: first.version_info, response_nonce: first.nonce });

  await relay.cut();
  await waitFor(() => logs.some((l) => l.msg.startsWith('etcd watch disconnected')), 5000, 'the control plane noticing');
  await etcd.client.put('/t4/endpoints/echo/127.0.0.1:9002').value(json({ address: '127.0.0.1', port: 9002 }));
  t.equal(await ads.maybeNext(300), undefined, 'nothing reaches the control plane while it is cut off');

  const restoredAt = performance.now();
  await relay.restore();
  const push = await ads.next(RECONNECT_MS);
  const ms = Math.round(performance.now() - restoredAt);
  t.comment(`the change written while cut off was pushed ${ms} ms after the connection came back`);
  t.same(ports(push), [9001, 9002]);
  t.ok(logs.some((l) => l.msg === 'etcd watch reconnected'), 'the reconnection is logged');
  t.notOk(logs.some((l) => /reading the whole mesh again/.test(l.msg)), 'resumed, not read again');
});

t.test('history compacted while cut off: the registry reads everything again and watches from there', async (t) => {
  await etcd.client.put('/t5/mesh').value(MESH);
  const relay = await cutOff(t);
  const { reports, logs } = await startRegistry(t, '/t5', [`http://127.0.0.1:${relay.port}`]);
  await relay.cut();
  await waitFor(() => logs.some((l) => l.msg.startsWith('etcd watch disconnected')), 5000, 'the registry noticing');
  await etcd.client.put('/t5/endpoints/echo/127.0.0.1:9002').value(json({ address: '127.0.0.1', port: 9002 }));
  await etcd.client.put('/t5/endpoints/echo/127.0.0.1:9003').value(json({ address: '127.0.0.1', port: 9003 }));
  const { header } = await etcd.client.delete().key('/t5/endpoints/echo/127.0.0.1:9003').exec();
  // Compaction keeps the revision it is at: the watch's next one (the first put's) is gone.
  await etcd.client.kv.compact({ revision: header.revision, physical: true });
  await relay.restore();
  const mesh = await reports.until(() => reports.meshes.at(-1), RECONNECT_MS, 'the change after the compaction');
  t.same(endpointsOf(mesh), ['127.0.0.1:9001/v1', '127.0.0.1:9002']);
  t.ok(logs.some((l) => /etcd watch canceled: reading the whole mesh again/.test(l.msg)), 'the cancel is logged');

  // And it watches again: a later change arrives as usual.
  await etcd.client.delete().key('/t5/endpoints/echo/127.0.0.1:9002');
  await reports.until(() => (endpointsOf(reports.meshes.at(-1)!)?.length === 1 ? true : undefined), CHANGE_MS, 'a change after the resync');
});

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
