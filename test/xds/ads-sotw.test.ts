import t from 'tap';
import { Client } from 'undici';
import { startEchoServer } from '../../cli/echo-server';
import {
  AdsTestServer,
  CDS,
  EDS,
  LDS,
  RDS,
  adsBootstrap,
  assignment,
  configDump,
  edsCluster,
  httpGet as get,
  listener,
  metricValue as metric,
  routeConfiguration,
  routeTo,
  startAdsProxy,
  steadyLoad,
  tally,
  type AdsProxy,
  type AdsStream,
  type SotwRequest,
} from '../helpers/ads-test-server';
import { freePort, startProxy } from '../helpers/proxy-process';

async function setup(t: tap.Test, upstreams?: string[], args?: string[]): Promise<AdsProxy> {
  const s = await startAdsProxy({ upstreams, args });
  t.teardown(() => s.stop());
  return s;
}

/** Counts within `slack` of the expected shares. */
function near(t: tap.Test, counts: Record<string, number>, expected: Record<string, number>, slack: number, message: string): void {
  const off = Object.keys({ ...counts, ...expected }).filter((k) => Math.abs((counts[k] ?? 0) - (expected[k] ?? 0)) > slack);
  t.same(off, [], `${message}: ${JSON.stringify(counts)}`);
}

/** Sends a SotW response and returns the ACK or NACK that answers it. */
async function push(stream: AdsStream<SotwRequest>, typeUrl: string, version: string, resources: object[]): Promise<SotwRequest & { nonce: string }> {
  const nonce = stream.respond(typeUrl, version, resources);
  const reply = await stream.next(typeUrl);
  return { ...reply, nonce };
}

/** CDS → EDS → LDS → RDS, as Envoy asks for them; `backend` (EDS) behind listener `main` (RDS `main-routes`). */
async function firstLoad(t: tap.Test, s: AdsProxy): Promise<AdsStream<SotwRequest>> {
  const stream = await serveFirstLoad(t, s, await s.ads.nextStream<SotwRequest>());
  await s.proxy;
  return stream;
}

async function serveFirstLoad(t: tap.Test, s: AdsProxy, stream: AdsStream<SotwRequest>): Promise<AdsStream<SotwRequest>> {
  const endpoints = [{ port: s.upstreams.a! }, { port: s.upstreams.b! }];
  await stream.next(CDS);
  t.same((await push(stream, CDS, 'c1', [edsCluster('backend')])).error_detail, null, 'CDS ACKed');
  t.same((await stream.next(EDS)).resource_names, ['backend'], 'the EDS cluster subscribes its assignment');
  t.same((await push(stream, EDS, 'e1', [assignment('backend', endpoints)])).error_detail, null, 'EDS ACKed');
  await stream.next(LDS);
  t.same((await push(stream, LDS, 'l1', [listener('main', s.listenerPort, { rds: 'main-routes' })])).error_detail, null, 'LDS ACKed');
  t.same((await stream.next(RDS)).resource_names, ['main-routes'], 'the listener subscribes its routes');
  t.same((await push(stream, RDS, 'r1', [routeConfiguration('main-routes', [routeTo('backend')])])).error_detail, null, 'RDS ACKed');
  return stream;
}

t.test('first load: CDS, EDS, LDS, RDS in order; ACKs carry version and nonce; /ready is 503 until all are applied', async (t) => {
  const s = await setup(t);
  const stream = await s.ads.nextStream<SotwRequest>();
  const ready = async () => (await get(`${s.adminUrl}/ready`)).status;

  const cds = await stream.next(CDS);
  t.equal(cds.version_info, '', 'first request: no version');
  t.same(cds.resource_names, [], 'CDS is a wildcard subscription');
  t.equal(cds.response_nonce, '');
  t.match(cds.node, { id: 'sidecar-1', cluster: 'test', locality: { zone: 'z1' }, user_agent_name: 'meshlet' }, 'the node identifies the proxy');
  t.notOk(stream.has(LDS), 'no LDS request before the clusters are loaded');
  t.equal(await ready(), 503);

  const cdsAck = await push(stream, CDS, 'c1', [edsCluster('backend')]);
  t.match(cdsAck, { version_info: 'c1', response_nonce: cdsAck.nonce, error_detail: null, resource_names: [] }, 'ACK: the version and nonce of the response');
  const eds = await stream.next(EDS);
  t.same(eds.resource_names, ['backend']);
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(stream.has(LDS), 'the EDS cluster is warming: listeners wait');
  t.equal(await ready(), 503);

  const edsAck = await push(stream, EDS, 'e1', [assignment('backend', [{ port: s.upstreams.a! }, { port: s.upstreams.b! }])]);
  t.match(edsAck, { version_info: 'e1', response_nonce: edsAck.nonce, resource_names: ['backend'], error_detail: null });
  const lds = await stream.next(LDS);
  t.same(lds.resource_names, [], 'LDS is a wildcard subscription');
  t.equal(await ready(), 503);

  const ldsAck = await push(stream, LDS, 'l1', [listener('main', s.listenerPort, { rds: 'main-routes' })]);
  t.match(ldsAck, { version_info: 'l1', response_nonce: ldsAck.nonce });
  t.same((await stream.next(RDS)).resource_names, ['main-routes']);
  t.equal(await ready(), 503, 'the listener is warming until its routes arrive');

  const rdsAck = await push(stream, RDS, 'r1', [routeConfiguration('main-routes', [routeTo('backend')])]);
  t.match(rdsAck, { version_info: 'r1', response_nonce: rdsAck.nonce, resource_names: ['main-routes'] });
  await s.proxy;
  t.equal(await ready(), 200, 'LIVE once all four are applied');

  t.same(await tally(`${s.base}/`, 10), { a: 5, b: 5 }, 'requests go through the EDS cluster');

  const byType = await configDump(s.adminUrl);
  t.match(byType.ClustersConfigDump, { version_info: 'c1', dynamic_active_clusters: [{ version_info: 'c1', cluster: { name: 'backend', type: 'EDS' } }] });
  t.match(byType.ClustersConfigDump.dynamic_active_clusters[0].last_updated, /^\d{4}-\d\d-\d\dT/);
  t.match(byType.EndpointsConfigDump, { dynamic_endpoint_configs: [{ version_info: 'e1', endpoint_config: { cluster_name: 'backend' } }] });
  t.match(byType.ListenersConfigDump, { version_info: 'l1', dynamic_listeners: [{ name: 'main', active_state: { version_info: 'l1', listener: { name: 'main' } } }] });
  t.match(byType.RoutesConfigDump, { dynamic_route_configs: [{ version_info: 'r1', route_config: { name: 'main-routes' } }] });

  t.equal(await metric(s.adminUrl, /^envoy_control_plane_connected_state /), 1);
  t.equal(await metric(s.adminUrl, /^envoy_cluster_manager_cds_update_success /), 1);
  t.equal(await metric(s.adminUrl, /^envoy_listener_manager_lds_update_success /), 1);
  t.equal(await metric(s.adminUrl, /^envoy_http_rds_update_success\{envoy_rds_route_config="main-routes"\}/), 1);
  t.equal(await metric(s.adminUrl, /^envoy_cluster_update_success\{envoy_cluster_name="backend"\}/), 1);
  t.equal(await metric(s.adminUrl, /^meshlet_xds_last_ack_version\{type_url="type.googleapis.com\/envoy.config.cluster.v3.Cluster",version="c1"\}/), 1);
  t.ok((await metric(s.adminUrl, /^meshlet_xds_config_age_seconds\{type_url="type.googleapis.com\/envoy.config.listener.v3.Listener"\}/))! >= 0);
});

t.test('endpoint and weight updates apply under steady load without failing a request', async (t) => {
  const s = await setup(t, ['a', 'b', 'c']);
  const stream = await firstLoad(t, s);
  const { a, b, c } = s.upstreams as { a: number; b: number; c: number };

  const load = steadyLoad(`${s.base}/delay/5`);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await sleep(300);
  t.same((await push(stream, EDS, 'e2', [assignment('backend', [{ port: a, weight: 1 }, { port: b, weight: 9 }])])).error_detail, null);
  await sleep(300);
  near(t, await load.paused(() => tally(`${s.base}/`, 100)), { a: 10, b: 90 }, 1, 'weights 1/9');

  t.same((await push(stream, EDS, 'e3', [assignment('backend', [{ port: a }, { port: b }, { port: c, weight: 8 }])])).error_detail, null);
  await sleep(300);
  near(t, await load.paused(() => tally(`${s.base}/`, 100)), { a: 10, b: 10, c: 80 }, 1, 'a new endpoint takes its share');

  t.same((await push(stream, EDS, 'e4', [assignment('backend', [{ port: c }])])).error_detail, null);
  await sleep(300);
  t.same(await tally(`${s.base}/`, 20), { c: 20 }, 'removed endpoints get nothing');

  const { done, failures } = await load.stop();
  t.ok(done > 200, `the load ran through the updates (${done} requests)`);
  t.same(failures, [], 'no request of the steady load failed');
});

t.test('bad resources are NACKed with the resource and field path; the last good version keeps serving', async (t) => {
  const s = await setup(t);
  const stream = await firstLoad(t, s);

  const badRegex = await push(stream, RDS, 'r2', [
    routeConfiguration('main-routes', [{ match: { safe_regex: { regex: '(unclosed' } }, route: { cluster: 'backend' } }]),
  ]);
  t.equal(badRegex.version_info, 'r1', 'NACK: the previous version');
  t.equal(badRegex.response_nonce, badRegex.nonce, 'NACK: the nonce of the rejected response');
  t.equal(badRegex.error_detail?.code, 3, 'INVALID_ARGUMENT');
  t.match(badRegex.error_detail?.message, /^RouteConfiguration "main-routes": virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: /);
  t.same(await tally(`${s.base}/`, 4), { a: 2, b: 2 }, 'traffic flows on the previous routes');

  const unsupported = await push(stream, CDS, 'c2', [edsCluster('backend'), edsCluster('other', { circuit_breakers: { thresholds: [{ max_connection_pools: { value: 1 } }] } })]);
  t.equal(unsupported.version_info, 'c1');
  t.equal(unsupported.error_detail?.message, 'Cluster "other": circuit_breakers.thresholds[0].max_connection_pools: not supported by meshlet');
  t.notOk(stream.has(EDS), 'nothing of a rejected response is applied: no subscription for "other"');

  const unknownCluster = await push(stream, RDS, 'r3', [{ ...routeConfiguration('main-routes', [routeTo('nope')]), validate_clusters: { value: true } }]);
  t.match(unknownCluster, { version_info: 'r1', error_detail: { message: 'RouteConfiguration "main-routes": virtual_hosts[0].routes[0].route.cluster: unknown cluster "nope"' } });

  t.equal(await metric(s.adminUrl, /^envoy_cluster_manager_cds_update_rejected /), 1);
  t.equal(await metric(s.adminUrl, /^envoy_http_rds_update_rejected\{envoy_rds_route_config="main-routes"\}/), 2);
  const dump = await configDump(s.adminUrl);
  t.equal(dump.ClustersConfigDump.version_info, 'c1', 'config_dump shows the version serving');
  t.same(dump.ClustersConfigDump.dynamic_active_clusters.map((c: any) => c.cluster.name), ['backend']);

  const fixed = await push(stream, RDS, 'r4', [routeConfiguration('main-routes', [{ match: { prefix: '/' }, direct_response: { status: 204 } }])]);
  t.match(fixed, { version_info: 'r4', error_detail: null }, 'a good version after a NACK is ACKed');
  t.equal((await get(`${s.base}/`)).status, 204, 'and applies');
});

t.test('removal: resources missing from a full LDS/CDS response are removed, with their subscriptions', async (t) => {
  const s = await setup(t);
  const stream = await firstLoad(t, s);
  const extraPort = await freePort();

  t.same((await push(stream, CDS, 'c2', [edsCluster('backend'), edsCluster('second')])).error_detail, null);
  t.same((await stream.next(EDS)).resource_names, ['backend', 'second']);
  t.same((await push(stream, EDS, 'e2', [assignment('second', [{ port: s.upstreams.b! }])])).error_detail, null);
  const inline = listener('extra', extraPort, { routeConfig: routeConfiguration('extra-routes', [routeTo('second')]) });
  t.same((await push(stream, LDS, 'l2', [listener('main', s.listenerPort, { rds: 'main-routes' }), inline])).error_detail, null);
  t.equal((await get(`http://127.0.0.1:${extraPort}/`)).servedBy, 'b', 'the added listener routes to the added cluster');

  t.same((await push(stream, LDS, 'l3', [listener('main', s.listenerPort, { rds: 'main-routes' })])).error_detail, null);
  t.same((await push(stream, CDS, 'c3', [edsCluster('backend')])).error_detail, null);
  t.same((await stream.next(EDS)).resource_names, ['backend'], 'the removed cluster unsubscribes its assignment');
  const deadline = Date.now() + 5000;
  let refused = false;
  while (!refused && Date.now() < deadline) {
    refused = await get(`http://127.0.0.1:${extraPort}/`).then(
      () => false,
      () => true,
    );
    if (!refused) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(refused, 'the removed listener is closed');
  t.same(await tally(`${s.base}/`, 4), { a: 2, b: 2 }, 'the rest keeps serving');
  const byType = await configDump(s.adminUrl);
  t.same(byType.ListenersConfigDump.dynamic_listeners.map((l: any) => l.name), ['main']);
  t.same(byType.ClustersConfigDump.dynamic_active_clusters.map((c: any) => c.cluster.name), ['backend']);
  t.same(byType.EndpointsConfigDump.dynamic_endpoint_configs.map((e: any) => e.endpoint_config.cluster_name), ['backend']);
});

t.test('control plane killed: the proxy keeps serving, reconnects with backoff when it returns, and resubscribes with its versions', async (t) => {
  const s = await setup(t);
  await firstLoad(t, s);
  s.ads.stop();
  const waitFor = async (what: () => Promise<boolean>, ms: number) => {
    const deadline = Date.now() + ms;
    while (!(await what()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return what();
  };
  t.ok(await waitFor(async () => (await metric(s.adminUrl, /^envoy_control_plane_connected_state /)) === 0, 3000), 'connected_state drops to 0');
  t.same(await tally(`${s.base}/`, 10), { a: 5, b: 5 }, 'the last config keeps serving');
  t.equal((await get(`${s.adminUrl}/ready`)).status, 200, 'and the proxy stays ready');

  await new Promise((r) => setTimeout(r, 1500));
  await s.ads.restart();
  const stream = await s.ads.nextStream<SotwRequest>(10_000);
  const requests = [await stream.next(CDS), await stream.next(EDS), await stream.next(LDS), await stream.next(RDS)];
  t.same(stream.received.slice(0, 4).map((r) => r.type_url), [CDS, EDS, LDS, RDS], 'resubscribed in the order of the first load');
  t.same(
    requests.map((r) => [r.version_info, r.response_nonce, r.resource_names]),
    [['c1', '', []], ['e1', '', ['backend']], ['l1', '', []], ['r1', '', ['main-routes']]],
    'each with the version it holds',
  );
  t.ok(await waitFor(async () => (await metric(s.adminUrl, /^envoy_control_plane_connected_state /)) === 1, 3000), 'connected again');

  // The server resends the same state: nothing is rebuilt; a change afterwards applies.
  t.same((await push(stream, CDS, 'c1', [edsCluster('backend')])).error_detail, null);
  t.same((await push(stream, EDS, 'e2', [assignment('backend', [{ port: s.upstreams.b! }])])).error_detail, null);
  t.same(await tally(`${s.base}/`, 4), { b: 4 }, 'updates apply on the new stream');
  t.match((await s.proxy).stderr(), /ADS stream ended; reconnecting/);
});

t.test('static listeners and clusters can take their routes (RDS) and endpoints (EDS) over ADS', async (t) => {
  const ads = await AdsTestServer.start();
  const [adminPort, listenerPort, upstream] = [await freePort(), await freePort(), await freePort()];
  const echo = await startEchoServer('a', upstream);
  const bootstrap = adsBootstrap({ adminPort, xdsPort: ads.port })
    .replace(/  lds_config: .*\n  cds_config: .*\n/, '')
    .concat(`  - name: backend
    type: EDS
    connect_timeout: 1s
    eds_cluster_config: {service_name: backend-v1, eds_config: {ads: {}}}
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: ${listenerPort}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: main
          rds: {route_config_name: static-routes, config_source: {ads: {}}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
`);
  const proxy = startProxy(bootstrap, adminPort);
  t.teardown(async () => {
    await (await proxy.catch(() => undefined))?.stop('SIGKILL');
    ads.stop();
    echo.close();
  });
  const stream = await ads.nextStream<SotwRequest>();
  t.same((await stream.next(EDS)).resource_names, ['backend-v1'], 'the static EDS cluster subscribes its service name');
  t.notOk(stream.has(RDS), 'routes wait for the clusters');
  t.same((await push(stream, EDS, 'e1', [assignment('backend-v1', [{ port: upstream }])])).error_detail, null);
  t.same((await stream.next(RDS)).resource_names, ['static-routes']);
  t.same((await push(stream, RDS, 'r1', [routeConfiguration('static-routes', [routeTo('backend')])])).error_detail, null);
  await proxy;
  t.equal((await get(`http://127.0.0.1:${listenerPort}/`)).servedBy, 'a');
  t.notOk(stream.received.some((r) => r.type_url === CDS || r.type_url === LDS), 'no LDS or CDS without lds_config/cds_config');
});

t.test('--workers: each worker runs its own ADS stream; the primary is LIVE once every worker has its config', async (t) => {
  const s = await setup(t, ['a', 'b'], ['--workers', '2']);
  const streams = [await s.ads.nextStream<SotwRequest>(10_000), await s.ads.nextStream<SotwRequest>(10_000)];
  await serveFirstLoad(t, s, streams[0]!);
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await get(`${s.adminUrl}/ready`)).status, 503, 'one worker configured is not enough');
  await serveFirstLoad(t, s, streams[1]!);
  await s.proxy;
  const counts = await tally(`${s.base}/`, 20);
  t.equal((counts.a ?? 0) + (counts.b ?? 0), 20, 'every request is served');
  t.equal(await metric(s.adminUrl, /^envoy_control_plane_connected_state /), 2, 'summed over workers: both connected');
  t.equal(await metric(s.adminUrl, /^envoy_cluster_manager_cds_update_success /), 2);
});

t.test('listener updates keep in-flight requests and open connections; a moved listener drains the old address', async (t) => {
  const s = await setup(t);
  const stream = await firstLoad(t, s);
  const clients: Client[] = [];
  const client = () => {
    const c = new Client(s.base);
    clients.push(c);
    return c;
  };
  t.teardown(() => Promise.all(clients.map((c) => c.destroy())));
  const send = async (c: Client, path: string) => {
    const res = await c.request({ method: 'GET', path });
    return { status: res.statusCode, text: await res.body.text() };
  };
  const inline = (text: string) =>
    routeConfiguration('inline', [routeTo('backend', '/delay'), { match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: text } } }]);
  const cxTotal = () => metric(s.adminUrl, /^envoy_http_downstream_cx_total\{envoy_http_conn_manager_prefix="main"\}/);

  const connection = client();
  t.equal((await send(connection, '/')).status, 200, 'a keep-alive connection is open');
  const inFlight = send(client(), '/delay/600');
  await new Promise((r) => setTimeout(r, 100));
  const connections = await cxTotal();
  t.same((await push(stream, LDS, 'l2', [listener('main', s.listenerPort, { routeConfig: inline('v2') })])).error_detail, null, 'same address, new config');
  t.same(await send(connection, '/'), { status: 200, text: 'v2' }, 'the open connection serves the new config');
  t.match(await inFlight, { status: 200, text: /"server":"[ab]"/ }, 'the request in flight finished on the old config');
  t.equal(await cxTotal(), connections, 'no connection was dropped or re-made');

  const movedPort = await freePort();
  const draining = send(client(), '/delay/600');
  await new Promise((r) => setTimeout(r, 100));
  t.same((await push(stream, LDS, 'l3', [listener('main', movedPort, { routeConfig: inline('v3') })])).error_detail, null, 'another address');
  t.equal((await get(`http://127.0.0.1:${movedPort}/`)).text, 'v3', 'the new address serves at once');
  t.match(await draining, { status: 200, text: /"server":"[ab]"/ }, 'the old address finishes its request in flight');
  const deadline = Date.now() + 5000;
  let refused = false;
  while (!refused && Date.now() < deadline) {
    refused = await get(`${s.base}/`).then(
      () => false,
      () => true,
    );
    if (!refused) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(refused, 'then the old address is closed');
});
