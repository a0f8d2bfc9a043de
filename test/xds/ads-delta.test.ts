import t from 'tap';
import {
  CDS,
  EDS,
  LDS,
  RDS,
  assignment,
  configDump,
  edsCluster,
  httpGet as get,
  listener,
  metricValue as metric,
  routeConfiguration,
  routeTo,
  startAdsProxy,
  tally,
  type AdsProxy,
  type AdsStream,
  type DeltaRequest,
} from '../helpers/ads-test-server';
import { freePort } from '../helpers/proxy-process';

async function setup(t: tap.Test): Promise<AdsProxy> {
  const s = await startAdsProxy({ apiType: 'DELTA_GRPC' });
  t.teardown(() => s.stop());
  return s;
}

/** Sends a Delta response and returns the ACK or NACK that answers it. */
async function push(
  stream: AdsStream<DeltaRequest>,
  typeUrl: string,
  resources: Record<string, [string, object]>,
  removed: string[] = [],
): Promise<DeltaRequest & { nonce: string }> {
  const nonce = stream.respondDelta(typeUrl, resources, removed);
  return { ...(await stream.next(typeUrl)), nonce };
}

async function firstLoad(t: tap.Test, s: AdsProxy): Promise<AdsStream<DeltaRequest>> {
  const stream = await s.ads.nextStream<DeltaRequest>();
  const cds = await stream.next(CDS);
  t.match(cds, { resource_names_subscribe: [], initial_resource_versions: {}, node: { id: 'sidecar-1' } }, 'CDS: the wildcard');
  t.notOk(stream.has(LDS), 'LDS waits for the clusters');
  const cdsAck = await push(stream, CDS, { backend: ['1', edsCluster('backend')] });
  t.match(cdsAck, { response_nonce: cdsAck.nonce, error_detail: null, resource_names_subscribe: [] }, 'ACK: the nonce');
  t.same((await stream.next(EDS)).resource_names_subscribe, ['backend']);
  t.same((await push(stream, EDS, { backend: ['1', assignment('backend', [{ port: s.upstreams.a! }, { port: s.upstreams.b! }])] })).error_detail, null);
  t.same((await stream.next(LDS)).resource_names_subscribe, []);
  t.equal((await get(`${s.adminUrl}/ready`)).status, 503);
  t.same((await push(stream, LDS, { main: ['1', listener('main', s.listenerPort, { rds: 'main-routes' })] })).error_detail, null);
  t.same((await stream.next(RDS)).resource_names_subscribe, ['main-routes']);
  t.same((await push(stream, RDS, { 'main-routes': ['1', routeConfiguration('main-routes', [routeTo('backend')])] })).error_detail, null);
  await s.proxy;
  t.equal((await get(`${s.adminUrl}/ready`)).status, 200);
  return stream;
}

t.test('Delta first load, per-resource versions, and updates of only what changed', async (t) => {
  const s = await setup(t);
  const stream = await firstLoad(t, s);
  t.same(await tally(`${s.base}/`, 10), { a: 5, b: 5 });

  t.same((await push(stream, CDS, { second: ['1', edsCluster('second')] })).error_detail, null, 'a cluster added alone');
  t.match(await stream.next(EDS), { resource_names_subscribe: ['second'], resource_names_unsubscribe: [] }, 'subscribes only the new assignment');
  t.same((await push(stream, EDS, { second: ['1', assignment('second', [{ port: s.upstreams.b! }])] })).error_detail, null);
  t.same((await push(stream, EDS, { backend: ['2', assignment('backend', [{ port: s.upstreams.a!, weight: 3 }, { port: s.upstreams.b! }])] })).error_detail, null);
  t.same(await tally(`${s.base}/`, 8), { a: 6, b: 2 }, 'the weight change applies');

  const dump = await configDump(s.adminUrl);
  t.same(
    dump.ClustersConfigDump.dynamic_active_clusters.map((c: any) => [c.cluster.name, c.version_info]),
    [['backend', '1'], ['second', '1']],
  );
  t.same(
    dump.EndpointsConfigDump.dynamic_endpoint_configs.map((e: any) => [e.endpoint_config.cluster_name, e.version_info]),
    [['backend', '2'], ['second', '1']],
    'each resource shows its own version',
  );
});

t.test('Delta removal: removed_resources drop a listener and a cluster, and the cluster unsubscribes its assignment', async (t) => {
  const s = await setup(t);
  const stream = await firstLoad(t, s);
  const extraPort = await freePort();
  await push(stream, CDS, { second: ['1', edsCluster('second')] });
  await stream.next(EDS);
  await push(stream, EDS, { second: ['1', assignment('second', [{ port: s.upstreams.b! }])] });
  const extra = listener('extra', extraPort, { routeConfig: routeConfiguration('extra', [routeTo('second')]) });
  t.same((await push(stream, LDS, { extra: ['1', extra] })).error_detail, null);
  t.equal((await get(`http://127.0.0.1:${extraPort}/`)).servedBy, 'b');

  t.same((await push(stream, LDS, {}, ['extra'])).error_detail, null);
  t.same((await push(stream, CDS, {}, ['second'])).error_detail, null);
  t.match(await stream.next(EDS), { resource_names_subscribe: [], resource_names_unsubscribe: ['second'] });
  const dump = await configDump(s.adminUrl);
  t.same(dump.ListenersConfigDump.dynamic_listeners.map((l: any) => l.name), ['main']);
  t.same(dump.ClustersConfigDump.dynamic_active_clusters.map((c: any) => c.cluster.name), ['backend']);
  t.same(await tally(`${s.base}/`, 4), { a: 2, b: 2 }, 'the rest keeps serving');
});

t.test('Delta NACK: error_detail names the resource and field; nothing of the response applies', async (t) => {
  const s = await setup(t);
  const stream = await firstLoad(t, s);
  const nack = await push(stream, CDS, {
    fine: ['1', edsCluster('fine')],
    other: ['1', edsCluster('other', { lb_policy: 'MAGLEV' })],
  });
  t.match(nack, { response_nonce: nack.nonce, error_detail: { code: 3, message: /^Cluster "other": lb_policy: MAGLEV is not supported/ } });
  t.notOk(stream.has(EDS), '"fine" was not applied either');
  t.equal(await metric(s.adminUrl, /^envoy_cluster_manager_cds_update_rejected /), 1);

  const badRoutes = await push(stream, RDS, {
    'main-routes': ['2', routeConfiguration('main-routes', [{ match: { safe_regex: { regex: '[' } }, route: { cluster: 'backend' } }])],
  });
  t.match(badRoutes.error_detail?.message, /^RouteConfiguration "main-routes": virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: /);
  t.same(await tally(`${s.base}/`, 4), { a: 2, b: 2 }, 'traffic flows on the previous version');
  t.equal((await configDump(s.adminUrl)).RoutesConfigDump.dynamic_route_configs[0].version_info, '1');
});

t.test('Delta reconnect: the first requests of the new stream carry initial_resource_versions', async (t) => {
  const s = await setup(t);
  const first = await firstLoad(t, s);
  await push(first, EDS, { backend: ['2', assignment('backend', [{ port: s.upstreams.a! }])] });
  s.ads.stop();
  await new Promise((r) => setTimeout(r, 500));
  t.same(await tally(`${s.base}/`, 3), { a: 3 }, 'serving while disconnected');
  await s.ads.restart();
  const stream = await s.ads.nextStream<DeltaRequest>(10_000);
  const requests = [await stream.next(CDS), await stream.next(EDS), await stream.next(LDS), await stream.next(RDS)];
  t.same(
    requests.map((r) => [r.resource_names_subscribe, r.initial_resource_versions]),
    [
      [[], { backend: '1' }],
      [['backend'], { backend: '2' }],
      [[], { main: '1' }],
      [['main-routes'], { 'main-routes': '1' }],
    ],
  );
  t.same((await push(stream, EDS, { backend: ['3', assignment('backend', [{ port: s.upstreams.b! }])] })).error_detail, null);
  t.same(await tally(`${s.base}/`, 3), { b: 3 }, 'updates apply on the new stream');
});
