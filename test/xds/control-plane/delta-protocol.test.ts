import t from 'tap';
import { DELTA_INITIAL, deltaOnRequest, deltaOnSnapshot, type DeltaRequest, type DeltaState } from '../../../xds/control-plane/delta-protocol';
import { resources } from './fixtures/resources';

const request = (r: Partial<DeltaRequest>): DeltaRequest => ({ subscribe: [], unsubscribe: [], initialVersions: {}, responseNonce: '', ...r });
const sent = (step: { response?: { resources: readonly { name: string; version: string }[] } }) =>
  Object.fromEntries((step.response?.resources ?? []).map((r) => [r.name, r.version]));

/** Subscribes and ACKs, returning the settled state. */
function subscribed(r: Partial<DeltaRequest>, set = resources({ a: '1', b: '1', 'api!': '1' })): DeltaState {
  const first = deltaOnRequest(DELTA_INITIAL, request(r), set, 'n1', true);
  return deltaOnRequest(first.state, request({ responseNonce: 'n1' }), set, 'n2', false).state;
}

t.test('legacy wildcard (nothing subscribed): every resource with its version, on-demand ones excepted', async (t) => {
  const step = deltaOnRequest(DELTA_INITIAL, request({}), resources({ a: '1', b: '2', 'api!': '1' }), 'n1', true);
  t.same(sent(step), { a: '1', b: '2' });
  t.same(step.response!.removed, []);
  t.equal(step.response!.nonce, 'n1');
});

t.test('a change sends only the changed resource; a removal is named in removed_resources', async (t) => {
  const state = subscribed({ subscribe: ['*'] });
  const changed = deltaOnSnapshot(state, resources({ a: '2', b: '1', 'api!': '1' }), 'n2');
  t.same(sent(changed), { a: '2' });
  const acked = deltaOnRequest(changed.state, request({ responseNonce: 'n2' }), resources({ a: '2', b: '1' }), 'n3', false);
  t.equal(acked.response, undefined);
  const removed = deltaOnSnapshot(acked.state, resources({ a: '2' }), 'n3');
  t.same(sent(removed), {});
  t.same(removed.response!.removed, ['b']);
});

t.test('named subscriptions: a missing resource is reported removed at once, and sent when it appears', async (t) => {
  const first = deltaOnRequest(DELTA_INITIAL, request({ subscribe: ['api', 'later'] }), resources({ a: '1', 'api!': '1' }), 'n1', true);
  t.same(sent(first), { api: '1' });
  t.same(first.response!.removed, ['later']);
  const state = deltaOnRequest(first.state, request({ responseNonce: 'n1' }), resources({ a: '1', 'api!': '1' }), 'n2', false).state;
  t.same(sent(deltaOnSnapshot(state, resources({ a: '2', 'api!': '1' }), 'n2')), {}, 'a is not subscribed');
  t.same(sent(deltaOnSnapshot(state, resources({ 'api!': '1', later: '1' }), 'n2')), { later: '1' });
});

t.test('initial_resource_versions: on reconnect only what differs is sent, and what is gone is removed', async (t) => {
  const step = deltaOnRequest(DELTA_INITIAL, request({ initialVersions: { a: '1', b: 'old', gone: '1' } }), resources({ a: '1', b: '2', c: '1' }), 'n1', true);
  t.same(sent(step), { b: '2', c: '1' });
  t.same(step.response!.removed, ['gone']);
});

t.test('subscribing again to a resource the client seems to hold still sends it', async (t) => {
  const state = subscribed({ subscribe: ['a'] });
  const again = deltaOnRequest(state, request({ subscribe: ['a'] }), resources({ a: '1' }), 'n2', false);
  t.same(sent(again), { a: '1' });
});

t.test('unsubscribing: no response normally; with a wildcard, the resource is resent (covered) or removed (not covered)', async (t) => {
  const named = subscribed({ subscribe: ['a', 'b'] });
  t.equal(deltaOnRequest(named, request({ unsubscribe: ['a'] }), resources({ a: '1', b: '1' }), 'n2', false).response, undefined);

  const both = subscribed({ subscribe: ['*', 'a', 'api'] });
  const covered = deltaOnRequest(both, request({ unsubscribe: ['a'] }), resources({ a: '1', b: '1', 'api!': '1' }), 'n2', false);
  t.same(sent(covered), { a: '1' });
  const notCovered = deltaOnRequest(both, request({ unsubscribe: ['api'] }), resources({ a: '1', b: '1', 'api!': '1' }), 'n2', false);
  t.same(notCovered.response!.removed, ['api']);
});

t.test('subscription changes count even with a stale nonce, and wait for the outstanding ACK', async (t) => {
  const set = resources({ a: '1', b: '1' });
  const first = deltaOnRequest(DELTA_INITIAL, request({ subscribe: ['a'] }), set, 'n1', true);
  const more = deltaOnRequest(first.state, request({ subscribe: ['b'], responseNonce: 'stale' }), set, 'n2', false);
  t.equal(more.response, undefined, 'n1 is still unanswered');
  t.ok(more.state.subscription.names.has('b'));
  const ack = deltaOnRequest(more.state, request({ responseNonce: 'n1' }), set, 'n2', false);
  t.same(sent(ack), { b: '1' });
});

t.test('NACK: the client keeps its versions; the rejected version is not resent, a newer one is', async (t) => {
  const state = subscribed({ subscribe: ['*'] });
  const bad = deltaOnSnapshot(state, resources({ a: 'bad', b: '1', 'api!': '1' }), 'n2');
  t.same(sent(bad), { a: 'bad' });
  const nack = deltaOnRequest(bad.state, request({ responseNonce: 'n2', errorDetail: 'a: broken' }), resources({ a: 'bad', b: '1' }), 'n3', false);
  t.same(nack.nack, { versions: new Map([['a', 'bad']]), message: 'a: broken' });
  t.equal(nack.response, undefined);
  t.equal(nack.state.known.get('a'), '1', 'the client still holds version 1');
  t.equal(deltaOnSnapshot(nack.state, resources({ a: 'bad', b: '2' }), 'n3').response?.resources.map((r) => r.name).join(), 'b', 'b changes; a is not resent');
  t.same(sent(deltaOnSnapshot(nack.state, resources({ a: 'fixed', b: '1' }), 'n3')), { a: 'fixed' });
  t.equal(deltaOnSnapshot(nack.state, resources({ a: '1', b: '1' }), 'n3').response, undefined, 'back to what the client holds: nothing to send');
});

t.test('the same set again decides nothing; a request still decides on it', async (t) => {
  const set = resources({ a: '1', b: '1' });
  const state = subscribed({ subscribe: ['*'] }, set);
  t.equal(deltaOnSnapshot(state, set, 'n3').state, state, 'the state object itself is returned');
  const dropped = deltaOnRequest(state, request({ unsubscribe: ['*'], subscribe: ['a'] }), set, 'n3', false);
  t.same(dropped.response?.removed, ['b'], 'a subscription change on the same set is answered');
});

t.test('a new set that shares resource objects with the last one: what differs is sent, what is gone removed', async (t) => {
  const before = resources({ a: '1', b: '1', c: '1' });
  const state = subscribed({ subscribe: ['*'] }, before);
  const after = new Map(before);
  after.set('b', resources({ b: '2' }).get('b')!);
  after.delete('c');
  const step = deltaOnSnapshot(state, after, 'n3');
  t.same(sent(step), { b: '2' });
  t.same(step.response!.removed, ['c']);
  const acked = deltaOnRequest(step.state, request({ responseNonce: 'n3' }), after, 'n4', false);
  t.same([...acked.state.known], [['a', '1'], ['b', '2']], 'the client holds a and the new b');
});
