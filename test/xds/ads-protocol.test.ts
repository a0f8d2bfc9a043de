import t from 'tap';
import { SOTW_PROTOCOL, type SotwState } from '../../xds/ads-sotw-protocol';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from '../../xds/ads-service';
import { Backoff } from '../../xds/xds-backoff';
import { DELTA_PROTOCOL } from '../../xds/delta-protocol';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT } from '../../xds/xds-resource-types';
import { CDS, EDS, assignment, edsCluster, encodeResource } from '../helpers/ads-test-server';

const sotw = SOTW_PROTOCOL;
const delta = DELTA_PROTOCOL;

function sotwResponse(typeUrl: string, version: string, nonce: string, resources: object[]): DiscoveryResponse {
  return { version_info: version, type_url: typeUrl, nonce, resources: resources.map((r) => encodeResource(typeUrl, r)) };
}

/** receive + ack or nack, as the client does with a handler that accepts everything. */
function sotwStep(state: SotwState, response: DiscoveryResponse) {
  const received = sotw.receive(state, response);
  if (!('update' in received)) return { received, ...pair(sotw.nack(received.state, response, received.error)) };
  return { received, ...pair(sotw.ack(received.state, response, received.update)) };
}
const pair = <S, R>([state, request]: [S, R]) => ({ state, request });

t.test('SotW wildcard: the empty name list; a resource missing from the next response is removed', async (t) => {
  let [state, first] = sotw.subscriptionRequest(sotw.initial(CLUSTER, undefined));
  t.match(first, { version_info: '', resource_names: [], type_url: CDS, response_nonce: '' });
  t.equal(sotw.subscriptionRequest(state)[1], undefined, 'nothing more to say until something changes');

  const one = sotwStep(state, sotwResponse(CDS, 'v1', 'n1', [edsCluster('a'), edsCluster('b')]));
  t.match(one.received, { update: { version: 'v1', removed: [] } });
  t.match(one.request, { version_info: 'v1', response_nonce: 'n1', error_detail: undefined }, 'ACK');
  const two = sotwStep(one.state, sotwResponse(CDS, 'v2', 'n2', [edsCluster('b')]));
  t.match(two.received, { update: { version: 'v2', removed: ['a'] } }, 'absent from a full response: removed');
  state = two.state;

  const bad = sotwStep(state, sotwResponse(CDS, 'v3', 'n3', [edsCluster('b', { lb_policy: 'MAGLEV' }), { name: 'c', type: 'EDS', connect_timeout: { seconds: -1 } }]));
  t.match(bad.request, { version_info: 'v2', response_nonce: 'n3', error_detail: { code: 3 } }, 'NACK: previous version, this nonce');
  t.match((bad.request as any).error_detail.message, /^Cluster "c": connect_timeout: /);
  t.equal(bad.state.version, 'v2');

  const reconnected = sotw.subscriptionRequest(sotw.newStream(bad.state));
  t.match(reconnected[1], { version_info: 'v2', response_nonce: '', resource_names: [] }, 'a new stream says which version it has');
});

t.test('SotW named: requests follow the names; resources not asked for are ignored; absence removes nothing', async (t) => {
  const initial = sotw.initial(CLUSTER_LOAD_ASSIGNMENT, new Set());
  t.equal(sotw.subscriptionRequest(initial)[1], undefined, 'no names, nothing asked yet: no request');
  let [state, request] = sotw.subscriptionRequest(sotw.withNames(initial, new Set(['b', 'a'])));
  t.same(request!.resource_names, ['a', 'b']);

  const step = sotwStep(state, sotwResponse(EDS, 'e1', 'n1', [assignment('a', [{ port: 1 }]), assignment('zzz', [{ port: 2 }])]));
  t.same((step.received as any).update.resources.map((r: any) => r.name), ['a'], '"zzz" was not asked for');
  t.same((step.received as any).update.removed, [], '"b" missing is not a removal');
  state = step.state;

  [state, request] = sotw.subscriptionRequest(sotw.withNames(state, new Set(['a'])));
  t.match(request, { version_info: 'e1', response_nonce: 'n1', resource_names: ['a'] }, 'an unsubscription carries the last nonce');
  [, request] = sotw.subscriptionRequest(sotw.withNames(state, new Set()));
  t.same(request!.resource_names, [], 'unsubscribing from everything is the empty list, once something was asked');
});

t.test('SotW: a resource twice in a response, or of another type, is rejected', async (t) => {
  const [state] = sotw.subscriptionRequest(sotw.initial(CLUSTER, undefined));
  const twice = sotw.receive(state, sotwResponse(CDS, 'v1', 'n1', [edsCluster('a'), edsCluster('a')]));
  t.match(twice, { error: 'resource "a" appears twice in the response' });
  const other = sotw.receive(state, { ...sotwResponse(CDS, 'v1', 'n1', []), resources: [encodeResource(EDS, assignment('a', []))] });
  t.match(other, { error: /type_url is .*ClusterLoadAssignment, expected .*Cluster$/ });
});

t.test('Delta: subscribe/unsubscribe diffs, per-resource versions, removals, initial_resource_versions on a new stream', async (t) => {
  let [state, request] = delta.subscriptionRequest(delta.initial(CLUSTER_LOAD_ASSIGNMENT, new Set(['a', 'b'])));
  t.match(request, { resource_names_subscribe: ['a', 'b'], resource_names_unsubscribe: [], initial_resource_versions: {} });

  const response: DeltaDiscoveryResponse = {
    system_version_info: 's1',
    type_url: EDS,
    nonce: 'd1',
    removed_resources: [],
    resources: [
      { name: 'a', version: '3', resource: encodeResource(EDS, assignment('a', [{ port: 1 }])) },
      { name: 'x', version: '1', resource: encodeResource(EDS, assignment('x', [{ port: 1 }])) },
    ],
  };
  const received = delta.receive(state, response);
  t.same((received as any).update.resources.map((r: any) => [r.name, r.version]), [['a', '3']], 'only what is subscribed');
  [state, request] = delta.ack(state, response, (received as any).update);
  t.same(request, { type_url: EDS, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: 'd1' }, 'ACK: the nonce');
  t.same([...state.versions], [['a', '3']]);

  [state, request] = delta.subscriptionRequest(delta.withNames(state, new Set(['b', 'c'])));
  t.match(request, { resource_names_subscribe: ['c'], resource_names_unsubscribe: ['a'] });
  t.same([...state.versions], [], 'an unsubscribed resource is forgotten');

  const nack = delta.nack(state, { ...response, nonce: 'd2' }, 'bad')[1];
  t.match(nack, { response_nonce: 'd2', error_detail: { code: 3, message: 'bad' } });

  let wildcard = delta.subscriptionRequest(delta.initial(CLUSTER, undefined))[0];
  const cds: DeltaDiscoveryResponse = {
    system_version_info: '',
    type_url: CDS,
    nonce: 'd3',
    removed_resources: ['gone'],
    resources: [{ name: 'a', version: '7', resource: encodeResource(CDS, edsCluster('a')) }],
  };
  const update = (delta.receive(wildcard, cds) as any).update;
  t.same(update.removed, ['gone']);
  wildcard = delta.ack(wildcard, cds, update)[0];
  t.match(delta.subscriptionRequest(delta.newStream(wildcard))[1], { resource_names_subscribe: [], initial_resource_versions: { a: '7' } }, 'a new stream: the wildcard again, with what is held');
});

t.test('Delta: a resource whose name differs from its message, or without a body, is rejected', async (t) => {
  const [state] = delta.subscriptionRequest(delta.initial(CLUSTER, undefined));
  const base = { system_version_info: '', type_url: CDS, nonce: 'n', removed_resources: [] };
  t.match(delta.receive(state, { ...base, resources: [{ name: 'a', version: '1', resource: encodeResource(CDS, edsCluster('b')) }] }), {
    error: 'Cluster "a": name is "b", not the resource name',
  });
  t.match(delta.receive(state, { ...base, resources: [{ name: 'a', version: '1', resource: null }] }), { error: /^Cluster "a": no resource/ });
});

t.test('backoff: 500 ms, growing ×1.6 with ±20% jitter, at most 30 s, counted from the last attempt; reset starts over', async (t) => {
  const low = new Backoff(undefined, () => 0);
  t.same([low.wait(0), low.wait(0), low.wait(0)].map(Math.round), [500, 640, 819]);
  const high = new Backoff(undefined, () => 1);
  t.same([high.wait(0), high.wait(0), high.wait(100)].map(Math.round), [500, 960, 1743]);
  for (let i = 0; i < 20; i++) high.wait(0);
  t.equal(high.wait(0), 30_000, 'capped');
  t.equal(high.wait(45_000), 0, 'an attempt that lasted longer than the delay is retried at once');
  high.reset();
  t.equal(high.wait(200), 300);
});
