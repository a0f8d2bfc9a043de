import t from 'tap';
import { performance } from 'node:perf_hooks';
import { decodeAny } from '../../../xds/proto-json';
import { AdsTestStream, TYPE } from './fixtures/ads-test-client';
import { metricValue, startHarness } from './fixtures/control-plane-harness';

function mesh(edit: (m: any) => void = () => {}): unknown {
  const m = {
    services: {
      web: {
        endpoints: [
          { address: '127.0.0.1', port: 8081, version: 'v1' },
          { address: '127.0.0.1', port: 8082, version: 'v2' },
        ],
      },
      api: { endpoints: [{ address: '127.0.0.1', port: 9091 }], sidecar: { app_port: 9000, inbound_port: 15106 } },
    },
    gateways: { edge: { port: 18080, routes: [{ match: { prefix: '/' }, to: { service: 'web' } }] } },
  };
  edit(m);
  return m;
}

const decoded = (response: any) => response.resources.map((any: any) => decodeAny(any));
const ports = (assignment: any) => assignment.endpoints.flatMap((g: any) => g.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.port_value));
const sotwRequest = (typeUrl: string, extra: object = {}) => ({ type_url: typeUrl, resource_names: [], version_info: '', response_nonce: '', ...extra });
const ack = (response: any, extra: object = {}) => sotwRequest(response.type_url, { version_info: response.version_info, response_nonce: response.nonce, ...extra });

t.test('ADS against a running control plane', async (t) => {
  const h = await startHarness(mesh());
  const streams: AdsTestStream[] = [];
  const open = (method: 'StreamAggregatedResources' | 'DeltaAggregatedResources') => {
    const s = new AdsTestStream(h.address, method);
    streams.push(s);
    return s;
  };
  t.teardown(async () => {
    for (const s of streams) s.close();
    await h.stop();
  });

  const web = open('StreamAggregatedResources');
  const api = open('StreamAggregatedResources');
  let webEds: any;

  await t.test('SotW: wildcard CDS, ACK; named EDS, ACK', async (t) => {
    web.send(sotwRequest(TYPE.CDS, { node: { id: 'web-1', cluster: 'web' } }));
    const cds = await web.next();
    t.equal(cds.type_url, TYPE.CDS);
    t.ok(cds.nonce && cds.version_info);
    t.same(decoded(cds).map((c: any) => [c.name, c.type]), [['web', 'EDS'], ['web/v1', 'EDS'], ['web/v2', 'EDS'], ['api', 'EDS']]);
    web.send(ack(cds));
    t.equal(await web.maybeNext(300), undefined, 'an ACK gets no response');

    web.send(sotwRequest(TYPE.EDS, { resource_names: ['web'] }));
    webEds = await web.next();
    t.equal(webEds.type_url, TYPE.EDS);
    t.same(decoded(webEds).map((a: any) => [a.cluster_name, ports(a)]), [['web', [8081, 8082]]]);
    web.send(ack(webEds, { resource_names: ['web'] }));

    // Another node: the api sidecar, watching only its own endpoints.
    api.send(sotwRequest(TYPE.CDS, { node: { id: 'api-1', cluster: 'api' } }));
    const apiCds = await api.next();
    t.ok(decoded(apiCds).some((c: any) => c.name === 'inbound|api'), 'the api sidecar also gets its inbound cluster');
    api.send(ack(apiCds));
    api.send(sotwRequest(TYPE.EDS, { resource_names: ['api'] }));
    const apiEds = await api.next();
    api.send(ack(apiEds, { resource_names: ['api'] }));
    t.equal(await api.maybeNext(200), undefined);
  });

  await t.test('a file change pushes the new version within 1 s, only to the nodes it concerns', async (t) => {
    const start = performance.now();
    h.writeMesh(mesh((m) => (m.services.web.endpoints[1].port = 8083)));
    const push = await web.next(1000);
    const elapsed = performance.now() - start;
    t.ok(elapsed < 1000, `pushed after ${Math.round(elapsed)} ms`);
    t.equal(push.type_url, TYPE.EDS);
    t.not(push.version_info, webEds.version_info);
    t.same(decoded(push).map(ports), [[8081, 8083]]);
    web.send(ack(push, { resource_names: ['web'] }));
    webEds = push;
    t.equal(await web.maybeNext(300), undefined, 'clusters did not change: no CDS push');
    t.equal(await api.maybeNext(100), undefined, 'the api sidecar holds nothing that changed');
  });

  await t.test('NACK: logged and counted, the rejected version is not sent again, the next change is', async (t) => {
    h.writeMesh(mesh((m) => {
      m.services.web.endpoints[1].port = 8083;
      m.services.web.endpoints[1].weight = 5;
    }));
    const bad = await web.next(1000);
    web.send(ack(webEds, { response_nonce: bad.nonce, resource_names: ['web'], error_detail: { code: 3, message: 'ClusterLoadAssignment "web": rejected by the test' } }));
    t.equal(await web.maybeNext(400), undefined, 'no resend after the NACK');

    // A rebuild that leaves web's endpoints as they are does not resend the rejected version either.
    h.writeMesh(mesh((m) => {
      m.services.web.endpoints[1].port = 8083;
      m.services.web.endpoints[1].weight = 5;
      m.services.api.endpoints[0].weight = 2;
    }));
    t.equal(await web.maybeNext(600), undefined, 'not resent on an unrelated change');
    const apiPush = await api.next(1000);
    t.equal(apiPush.type_url, TYPE.EDS, 'while the api sidecar gets its change');
    api.send(ack(apiPush, { resource_names: ['api'] }));

    const nack = h.logs.find((l) => l.msg?.startsWith('NACK'));
    t.match(nack, { node_id: 'web-1', node_cluster: 'web', role: 'sidecar:web', type: 'EDS', rejected_version: bad.version_info, kept_version: webEds.version_info, error_detail: /rejected by the test/ });
    const metrics = await (await fetch(`${h.adminUrl}/stats/prometheus`)).text();
    t.equal(metricValue(metrics, 'meshlet_control_plane_nacks_total{type="EDS"}'), 1);

    h.writeMesh(mesh((m) => (m.services.web.endpoints[1].port = 8084)));
    const fixed = await web.next(1000);
    t.not(fixed.version_info, bad.version_info);
    t.same(decoded(fixed).map(ports), [[8081, 8084]]);
    web.send(ack(fixed, { resource_names: ['web'] }));
    webEds = fixed;
  });

  await t.test('Delta: resources with versions; a change sends only what changed; a removal is removed_resources', async (t) => {
    const delta = open('DeltaAggregatedResources');
    delta.send({ node: { id: 'web-2', cluster: 'web' }, type_url: TYPE.CDS, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '' });
    const first = await delta.next();
    t.same(first.resources.map((r: any) => r.name), ['web', 'web/v1', 'web/v2', 'api']);
    t.ok(first.resources.every((r: any) => r.version && decodeAny(r.resource).name === r.name));
    delta.send({ type_url: TYPE.CDS, response_nonce: first.nonce });
    t.equal(await delta.maybeNext(200), undefined);
    const versions = Object.fromEntries(first.resources.map((r: any) => [r.name, r.version]));

    h.writeMesh(mesh((m) => {
      m.services.web.endpoints[1].port = 8084;
      m.services.api.lb_policy = 'LEAST_REQUEST';
    }));
    const changed = await delta.next(1000);
    t.same(changed.resources.map((r: any) => r.name), ['api'], 'only the changed cluster');
    t.not(changed.resources[0].version, versions.api);
    t.equal(decodeAny(changed.resources[0].resource).lb_policy, 'LEAST_REQUEST');
    t.same(changed.removed_resources, []);
    delta.send({ type_url: TYPE.CDS, response_nonce: changed.nonce });
    // The SotW web sidecar holds every cluster: it gets all of them again (state of the world).
    const sotwCds = await web.next(1000);
    t.equal(sotwCds.type_url, TYPE.CDS);
    t.equal(decoded(sotwCds).length, 4);
    web.send(ack(sotwCds));

    h.writeMesh(mesh((m) => {
      m.services.web.endpoints.pop();
      m.services.api.lb_policy = 'LEAST_REQUEST';
    }));
    const removed = await delta.next(1000);
    t.same(removed.resources, []);
    t.same(removed.removed_resources, ['web/v2']);
    delta.send({ type_url: TYPE.CDS, response_nonce: removed.nonce });
    // The SotW stream of the web sidecar: clusters first (make before break), then endpoints.
    const cdsPush = await web.next(1000);
    t.equal(cdsPush.type_url, TYPE.CDS);
    t.same(decoded(cdsPush).map((c: any) => c.name), ['web', 'web/v1', 'api']);
    web.send(ack(cdsPush));
    const edsPush = await web.next(1000);
    t.same(decoded(edsPush).map(ports), [[8081]]);
    web.send(ack(edsPush, { resource_names: ['web'] }));
    webEds = edsPush;
  });

  await t.test('a bad edit is logged with file, path and reason, and the last good mesh keeps being served', async (t) => {
    const before = (await (await fetch(`${h.adminUrl}/config_dump`)).json()) as any;
    h.writeMesh(mesh((m) => (m.services.api.lb_policy = 'MAGLEV')));
    const deadline = Date.now() + 2000;
    while (!h.logs.some((l) => l.path === 'services.api.lb_policy') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.match(h.logs.find((l) => l.path === 'services.api.lb_policy'), { level: 50, file: h.file, reason: /one of ROUND_ROBIN/, msg: /rejected; still serving the last good mesh/ });
    t.equal(await web.maybeNext(300), undefined, 'nothing is pushed');
    const after = (await (await fetch(`${h.adminUrl}/config_dump`)).json()) as any;
    t.equal(after.mesh_digest, before.mesh_digest);
    const metrics = await (await fetch(`${h.adminUrl}/stats/prometheus`)).text();
    t.equal(metricValue(metrics, 'meshlet_control_plane_mesh_reloads_total{result="rejected"}'), 1);
  });

  await t.test('admin: /ready, metrics, /config_dump', async (t) => {
    const ready = await fetch(`${h.adminUrl}/ready`);
    t.equal(ready.status, 200);
    t.equal(await ready.text(), 'LIVE\n');

    const metrics = await (await fetch(`${h.adminUrl}/stats/prometheus`)).text();
    t.equal(metricValue(metrics, 'meshlet_control_plane_connected_proxies{protocol="sotw"}'), 2);
    t.equal(metricValue(metrics, 'meshlet_control_plane_connected_proxies{protocol="delta"}'), 1);
    t.ok(metricValue(metrics, 'meshlet_control_plane_pushes_total{type="CDS"}')! >= 5);
    t.ok(metricValue(metrics, 'meshlet_control_plane_pushes_total{type="EDS"}')! >= 6);
    t.ok(metricValue(metrics, 'meshlet_control_plane_push_latency_seconds_count{type="EDS"}')! >= 3);
    t.ok(metricValue(metrics, 'meshlet_control_plane_mesh_reloads_total{result="applied"}')! >= 5);

    const dump = (await (await fetch(`${h.adminUrl}/config_dump`)).json()) as any;
    t.same(Object.keys(dump.snapshots), ['sidecar:web', 'sidecar:api', 'gateway:edge', 'client']);
    const outbound = dump.snapshots['sidecar:web'].LDS.find((l: any) => l.name === 'outbound');
    t.match(outbound.resource, { '@type': TYPE.LDS, name: 'outbound', address: { socket_address: { port_value: 15001 } } });
    t.match(dump.snapshots.client.LDS, [{ name: 'web', on_demand: true }, { name: 'api', on_demand: true }]);
    const node = dump.nodes.find((n: any) => n.node_id === 'web-1');
    t.match(node, { node_cluster: 'web', role: 'sidecar:web', protocol: 'sotw', types: { CDS: { subscription: ['*'] }, EDS: { subscription: ['web'], acked_version: webEds.version_info } } });

    t.equal((await fetch(`${h.adminUrl}/nope`)).status, 404);
  });

  await t.test('a closed stream is no longer counted', async (t) => {
    api.close();
    const deadline = Date.now() + 2000;
    let value: number | undefined;
    while (Date.now() < deadline) {
      value = metricValue(await (await fetch(`${h.adminUrl}/stats/prometheus`)).text(), 'meshlet_control_plane_connected_proxies{protocol="sotw"}');
      if (value === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    t.equal(value, 1);
  });
});

t.test('SotW: a stream holding every assignment is sent only the one an edit changed, under the version of them all', async (t) => {
  const h = await startHarness(mesh());
  const s = new AdsTestStream(h.address, 'StreamAggregatedResources');
  t.teardown(async () => {
    s.close();
    await h.stop();
  });
  const names = ['web', 'web/v1', 'web/v2', 'api'];
  s.send(sotwRequest(TYPE.EDS, { node: { id: 'edge-1', cluster: 'edge' }, resource_names: names }));
  const first = await s.next();
  t.same(decoded(first).map((a: any) => a.cluster_name), names, 'the first response holds every named assignment');
  s.send(ack(first, { resource_names: names }));
  h.writeMesh(mesh((m) => (m.services.api.endpoints[0].port = 9092)));
  const push = await s.next(2000);
  t.same(decoded(push).map((a: any) => [a.cluster_name, ports(a)]), [['api', [9092]]], 'only the changed assignment');
  t.not(push.version_info, first.version_info);
  s.send(ack(push, { resource_names: names }));
  t.equal(await s.maybeNext(300), undefined, 'nothing more');
});
