import t from 'tap';
import pino from 'pino';
import { AdsClient, type AdsHandler } from '../../xds/ads-client';
import { SOTW_PROTOCOL } from '../../xds/ads-sotw-protocol';
import { DELTA_PROTOCOL } from '../../xds/delta-protocol';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, type XdsUpdate } from '../../xds/xds-resource-types';
import { AdsTestServer, CDS, EDS, edsCluster, type DeltaRequest, type SotwRequest } from '../helpers/ads-test-server';

const silent = pino({ level: 'silent' });

/** A handler that records what it is given; `apply` decides ACK or NACK. */
function recorder(apply: (update: XdsUpdate) => string | undefined = () => undefined) {
  const events: string[] = [];
  const handler: AdsHandler = {
    apply,
    accepted: (u) => events.push(`accepted ${u.type.api} ${u.version}`),
    rejected: (type, names, error) => events.push(`rejected ${type.api} ${names.join(',')}: ${error}`),
    connected: (up) => events.push(up ? 'up' : 'down'),
  };
  return { events, handler };
}

async function server(t: tap.Test): Promise<AdsTestServer> {
  const ads = await AdsTestServer.start();
  t.teardown(() => ads.stop());
  return ads;
}

t.test('the ACK goes out before the subscription changes the update caused; the node only on the first request if told so', async (t) => {
  const ads = await server(t);
  let client!: AdsClient<unknown, unknown, never>;
  const { events, handler } = recorder((update) => {
    // As CDS does: a new EDS cluster subscribes its assignment while the update is applied.
    client.subscribe(CLUSTER_LOAD_ASSIGNMENT, new Set(update.resources.map((r) => r.name)));
    return undefined;
  });
  client = new AdsClient(SOTW_PROTOCOL, { target: `127.0.0.1:${ads.port}`, node: { id: 'n1' }, nodeOnFirstMessageOnly: true }, handler, silent) as never;
  t.teardown(() => client.close());
  client.subscribe(CLUSTER);
  client.start();

  const stream = await ads.nextStream<SotwRequest>();
  const first = await stream.next(CDS);
  t.equal(first.node?.id, 'n1');
  const nonce = stream.respond(CDS, 'v1', [edsCluster('backend')]);
  const ack = await stream.next(CDS);
  const eds = await stream.next(EDS);
  t.same(stream.received.map((r) => r.type_url), [CDS, CDS, EDS], 'request, ACK, then the new subscription');
  t.match(ack, { version_info: 'v1', response_nonce: nonce, node: null });
  t.match(eds, { resource_names: ['backend'], node: null });
  t.same(events, ['up', 'accepted CDS v1']);
});

t.test('a handler that throws NACKs the update, and the stream carries on', async (t) => {
  const ads = await server(t);
  let calls = 0;
  const { events, handler } = recorder(() => {
    if (++calls === 1) throw new Error('boom');
    return undefined;
  });
  const client = new AdsClient(SOTW_PROTOCOL, { target: `127.0.0.1:${ads.port}`, node: { id: 'n1' }, nodeOnFirstMessageOnly: false }, handler, silent);
  t.teardown(() => client.close());
  client.subscribe(CLUSTER);
  client.start();
  const stream = await ads.nextStream<SotwRequest>();
  await stream.next(CDS);
  stream.respond(CDS, 'v1', [edsCluster('backend')]);
  const nack = await stream.next(CDS);
  t.match(nack, { version_info: '', error_detail: { code: 3, message: 'meshlet failed to apply the update: boom' }, node: { id: 'n1' } });
  stream.respond(CDS, 'v2', [edsCluster('backend')]);
  t.match(await stream.next(CDS), { version_info: 'v2', error_detail: null });
  t.same(events, ['up', 'rejected CDS backend: meshlet failed to apply the update: boom', 'accepted CDS v2']);
});

t.test('streams that end before any response restart with growing, jittered delays; a stream that got responses resets them', async (t) => {
  const ads = await server(t);
  const { handler } = recorder();
  const client = new AdsClient(DELTA_PROTOCOL, { target: `127.0.0.1:${ads.port}`, node: { id: 'n1' }, nodeOnFirstMessageOnly: true }, handler, silent);
  t.teardown(() => client.close());
  client.subscribe(CLUSTER);
  client.start();

  const arrivals: number[] = [];
  for (let i = 0; i < 4; i++) {
    const stream = await ads.nextStream<DeltaRequest>(5000);
    arrivals.push(Date.now());
    await stream.next(CDS);
    stream.end();
  }
  const gaps = arrivals.slice(1).map((at, i) => at - arrivals[i]!);
  // The delays themselves (500 ms, ×1.6, ±20 % jitter) are the pure backoff's, tested in
  // ads-protocol.test.ts; over real sockets only the shape is asserted, not timings.
  t.ok(gaps.every((g) => g >= 300), `every restart waits, no tight reconnect loop (${gaps.join(', ')} ms)`);
  t.ok(gaps[2]! > gaps[0]!, `the delays grow (${gaps.join(', ')} ms)`);

  const healthy = await ads.nextStream<DeltaRequest>(5000);
  await healthy.next(CDS);
  healthy.respondDelta(CDS, { backend: ['1', edsCluster('backend')] });
  await healthy.next(CDS);
  await new Promise((r) => setTimeout(r, 600));
  const ended = Date.now();
  healthy.end();
  const next = await ads.nextStream<DeltaRequest>(5000);
  t.ok(Date.now() - ended < 400, `after a healthy stream it reconnects without the 500 ms backoff (${Date.now() - ended} ms)`);
  t.same((await next.next(CDS)).initial_resource_versions, { backend: '1' }, 'and says what it holds');
});
