import t from 'tap';
import { SOTW_INITIAL, sotwOnRequest, sotwOnSnapshot, type SotwRequest, type SotwState } from '../../../xds/control-plane/sotw-protocol';
import { resources } from './fixtures/resources';

const request = (r: Partial<SotwRequest>): SotwRequest => ({ versionInfo: '', resourceNames: [], responseNonce: '', ...r });
const names = (step: { response?: { resources: readonly { name: string }[] } }) => step.response?.resources.map((r) => r.name);

t.test('wildcard (no names): every resource but on-demand ones; the ACK gets nothing more', async (t) => {
  const set = resources({ a: '1', b: '1', 'api!': '1' });
  const first = sotwOnRequest(SOTW_INITIAL, request({}), set, 'n1');
  t.same(names(first), ['a', 'b']);
  t.equal(first.response!.nonce, 'n1');
  const ack = sotwOnRequest(first.state, request({ versionInfo: first.response!.versionInfo, responseNonce: 'n1' }), set, 'n2');
  t.equal(ack.response, undefined);
  t.equal(ack.state.acked, first.response!.versionInfo);
});

t.test('named: only the named resources that exist; a new name is answered even if nothing changed', async (t) => {
  const set = resources({ a: '1', b: '1', 'api!': '1' });
  const first = sotwOnRequest(SOTW_INITIAL, request({ resourceNames: ['api', 'missing'] }), set, 'n1');
  t.same(names(first), ['api'], 'on-demand resources are sent when named');
  const more = sotwOnRequest(first.state, request({ resourceNames: ['api', 'a'], responseNonce: 'n1', versionInfo: first.response!.versionInfo }), set, 'n2');
  t.same(names(more), ['a', 'api']);
  t.not(more.response!.versionInfo, first.response!.versionInfo);
});

t.test('once something was named, an empty list means nothing (not the legacy wildcard); "*" is the wildcard', async (t) => {
  const set = resources({ a: '1', b: '1' });
  let step = sotwOnRequest(SOTW_INITIAL, request({ resourceNames: ['a'] }), set, 'n1');
  step = sotwOnRequest(step.state, request({ resourceNames: [], responseNonce: 'n1' }), set, 'n2');
  t.same(names(step), []);
  step = sotwOnRequest(step.state, request({ resourceNames: ['*'], responseNonce: 'n2' }), set, 'n3');
  t.same(names(step), ['a', 'b']);
});

t.test('a request with a stale nonce is ignored', async (t) => {
  const set = resources({ a: '1' });
  const first = sotwOnRequest(SOTW_INITIAL, request({ resourceNames: ['a'] }), set, 'n1');
  const stale = sotwOnRequest(first.state, request({ resourceNames: ['a', 'b'], responseNonce: 'old' }), set, 'n2');
  t.equal(stale.stale, true);
  t.equal(stale.response, undefined);
  t.equal(stale.state, first.state);
});

t.test('one response at a time: a change waits for the ACK of the previous response', async (t) => {
  const first = sotwOnRequest(SOTW_INITIAL, request({}), resources({ a: '1' }), 'n1');
  const meanwhile = sotwOnSnapshot(first.state, resources({ a: '2' }), 'n2');
  t.equal(meanwhile.response, undefined, 'nothing while n1 is unanswered');
  const ack = sotwOnRequest(meanwhile.state, request({ responseNonce: 'n1', versionInfo: first.response!.versionInfo }), resources({ a: '2' }), 'n2');
  t.same(names(ack), ['a'], 'the change goes out with the ACK');
  t.not(ack.response!.versionInfo, first.response!.versionInfo);
});

t.test('a new snapshot pushes only when the subscribed resources changed', async (t) => {
  const set = resources({ a: '1', b: '1' });
  let state: SotwState = sotwOnRequest(SOTW_INITIAL, request({ resourceNames: ['a'] }), set, 'n1').state;
  state = sotwOnRequest(state, request({ resourceNames: ['a'], responseNonce: 'n1' }), set, 'n2').state;
  t.equal(sotwOnSnapshot(state, resources({ a: '1', b: '2' }), 'n2').response, undefined, 'b is not subscribed');
  t.same(names(sotwOnSnapshot(state, resources({ a: '2', b: '1' }), 'n2')), ['a']);
  t.same(names(sotwOnSnapshot(state, resources({ b: '1' }), 'n2')), [], 'removal is a change too (an empty LDS/CDS response deletes)');
});

t.test('NACK: reported with the reason; that version is not sent again, a newer one is', async (t) => {
  const first = sotwOnRequest(SOTW_INITIAL, request({}), resources({ a: '1' }), 'n1');
  const acked = sotwOnRequest(first.state, request({ responseNonce: 'n1', versionInfo: first.response!.versionInfo }), resources({ a: '1' }), 'n2');
  const bad = sotwOnSnapshot(acked.state, resources({ a: 'bad' }), 'n2');
  const badVersion = bad.response!.versionInfo;
  const nack = sotwOnRequest(bad.state, request({ responseNonce: 'n2', versionInfo: first.response!.versionInfo, errorDetail: 'a: broken' }), resources({ a: 'bad' }), 'n3');
  t.same(nack.nack, { version: badVersion, kept: first.response!.versionInfo, message: 'a: broken' });
  t.equal(nack.response, undefined, 'not resent after the NACK');
  t.equal(sotwOnSnapshot(nack.state, resources({ a: 'bad' }), 'n3').response, undefined, 'nor on an unrelated rebuild');
  t.same(names(sotwOnSnapshot(nack.state, resources({ a: 'fixed' }), 'n3')), ['a'], 'a fix goes out');
  t.same(names(sotwOnSnapshot(nack.state, resources({ a: '1' }), 'n3')), undefined, 'reverting to what the client runs sends nothing new');
});

t.test('a new stream (empty nonce) is answered even at the version the client says it has', async (t) => {
  const set = resources({ a: '1' });
  const first = sotwOnRequest(SOTW_INITIAL, request({}), set, 'n1');
  const reconnect = sotwOnRequest(SOTW_INITIAL, request({ versionInfo: first.response!.versionInfo }), set, 'n1');
  t.same(names(reconnect), ['a']);
});

t.test('types other than LDS and CDS: a response holds only what the client does not have yet', async (t) => {
  const partial = false;
  const ackOf = (step: { response?: { versionInfo: string; nonce: string } }, names: string[]) =>
    request({ resourceNames: names, responseNonce: step.response!.nonce, versionInfo: step.response!.versionInfo });
  const first = sotwOnRequest(SOTW_INITIAL, request({ resourceNames: ['a', 'b'] }), resources({ a: '1', b: '1' }), 'n1', partial);
  t.same(names(first), ['a', 'b'], 'the first response holds everything named');
  let state = sotwOnRequest(first.state, ackOf(first, ['a', 'b']), resources({ a: '1', b: '1' }), 'n2', partial).state;

  const change = sotwOnSnapshot(state, resources({ a: '1', b: '2' }), 'n2', partial);
  t.same(names(change), ['b'], 'one changed resource, one resource sent');
  t.not(change.response!.versionInfo, first.response!.versionInfo, 'under the version of everything subscribed');
  state = sotwOnRequest(change.state, ackOf(change, ['a', 'b']), resources({ a: '1', b: '2' }), 'n3', partial).state;

  const more = sotwOnRequest(state, request({ resourceNames: ['a', 'b', 'c'], responseNonce: 'n2', versionInfo: change.response!.versionInfo }), resources({ a: '1', b: '2', c: '1' }), 'n3', partial);
  t.same(names(more), ['c'], 'a newly named resource');

  const bad = sotwOnSnapshot(state, resources({ a: '1', b: 'bad' }), 'n3', partial);
  const nack = sotwOnRequest(bad.state, { ...ackOf(bad, ['a', 'b']), versionInfo: change.response!.versionInfo, errorDetail: 'b: broken' }, resources({ a: '1', b: 'bad' }), 'n4', partial);
  t.equal(nack.response, undefined);
  t.same(names(sotwOnSnapshot(nack.state, resources({ a: '2', b: 'bad' }), 'n4', partial)), ['a', 'b'], 'after a NACK the client still has the old b: the next change sends it again');

  const dropped = sotwOnRequest(state, request({ resourceNames: ['a'], responseNonce: 'n2', versionInfo: change.response!.versionInfo }), resources({ a: '1', b: '2' }), 'n3', partial);
  const again = sotwOnRequest(dropped.state, request({ resourceNames: ['a', 'b'], responseNonce: 'n3', versionInfo: dropped.response!.versionInfo }), resources({ a: '1', b: '2' }), 'n4', partial);
  t.same(names(again), ['b'], 'named again after being dropped: sent again');
});

t.test('the same set again decides nothing: a push to a stream whose resources did not change is free', async (t) => {
  const set = resources({ a: '1' });
  const first = sotwOnRequest(SOTW_INITIAL, request({}), set, 'n1');
  const acked = sotwOnRequest(first.state, request({ responseNonce: 'n1', versionInfo: first.response!.versionInfo }), set, 'n2');
  const same = sotwOnSnapshot(acked.state, set, 'n2');
  t.equal(same.state, acked.state, 'the state object itself is returned');
  t.same(names(sotwOnSnapshot(acked.state, resources({ a: '2' }), 'n2')), ['a'], 'a different set is looked at');
});
