import t from 'tap';
import { hash32 } from '../../../proxy/balancer/hash';
import type { BalancerHost } from '../../../proxy/balancer/host';
import { buildRing, createRingHash } from '../../../proxy/balancer/ring-hash';
import { host, hosts, scripted, tally } from './fixtures/hosts';

const keys = Array.from({ length: 1000 }, (_, i) => hash32(`session-${i}`));

function entriesPerHost(owners: readonly BalancerHost[]): Map<string, number> {
  return tally(owners);
}

t.test('the ring is sorted, sized as Envoy sizes it, and made of hash32(`${key}_${i}`)', async (t) => {
  const set = hosts('10.0.0.', 3);
  const ring = buildRing(set);
  // Least-weighted share 1/3: ⌈1024 / 3⌉ = 342 entries per host.
  t.same([...entriesPerHost(ring.owners).values()], [342, 342, 342]);
  t.ok(ring.hashes.every((h, i) => i === 0 || ring.hashes[i - 1] <= h), 'sorted');
  for (let i = 0; i < 342; i++) {
    const at = ring.hashes.indexOf(hash32(`10.0.0.1_${i}`));
    if (at < 0 || ring.owners[at] !== set[1]) t.fail(`entry 10.0.0.1_${i} missing`);
  }
  t.equal(ring.hashes.indexOf(hash32('10.0.0.1_342')), -1, 'no entry beyond the host count');
});

t.test('entries follow weights; the maximum ring size caps the scale', async (t) => {
  const set = [host('a', { weight: 1 }), host('b', { weight: 3 })];
  t.same(Object.fromEntries(entriesPerHost(buildRing(set).owners)), { a: 256, b: 768 });
  // Share 1/2001 would need a ring of 2001 for the light host to get one whole entry.
  const skewed = [host('a', { weight: 1 }), host('b', { weight: 2000 })];
  t.same(Object.fromEntries(entriesPerHost(buildRing(skewed).owners)), { a: 1, b: 2000 });
  const capped = buildRing(skewed, { minimumRingSize: 1024, maximumRingSize: 1500 });
  t.equal(capped.hashes.length, 1500);
  t.same(Object.fromEntries(entriesPerHost(capped.owners)), { a: 1, b: 1499 }, 'running totals round the light host up');
});

t.test('ring sizes are validated and capped at 8M', async (t) => {
  t.throws(() => buildRing(hosts('h', 2), { minimumRingSize: 4096, maximumRingSize: 1024 }), RangeError);
  t.throws(
    () => buildRing(hosts('h', 2), { minimumRingSize: 9_000_000, maximumRingSize: 10_000_000 }),
    RangeError,
    'a maximum above 8M is cut to 8M, below this minimum',
  );
});

t.test('a hash goes to the first entry at or after it, wrapping to the start', async (t) => {
  const set = hosts('h', 4);
  const ring = buildRing(set);
  const lb = createRingHash(set, {});
  t.equal(lb.pick({ hash: ring.hashes[5] }), ring.owners[5]);
  t.equal(lb.pick({ hash: ring.hashes[5] + 1 }), ring.owners[6]);
  t.equal(lb.pick({ hash: 0 }), ring.owners[0]);
  t.ok(ring.hashes[ring.hashes.length - 1] < 0xffffffff);
  t.equal(lb.pick({ hash: 0xffffffff }), ring.owners[0], 'past the last entry wraps');
});

t.test('the same hash maps to the same host across builds and host orders', async (t) => {
  const set = hosts('10.1.0.', 10);
  const first = createRingHash(set, {});
  const second = createRingHash([...set].reverse(), {});
  const mismatches = keys.filter((hash) => first.pick({ hash }) !== second.pick({ hash }));
  t.equal(mismatches.length, 0);
});

t.test('removing one of 10 hosts remaps about a tenth of the keys', async (t) => {
  const set = hosts('10.2.0.', 10);
  const before = createRingHash(set, {});
  const after = createRingHash(set.slice(1), {});
  const moved = keys.filter((hash) => before.pick({ hash }) !== after.pick({ hash }));
  t.ok(moved.length < 250, `${moved.length} of 1000 moved`);
  const fromRemoved = keys.filter((hash) => before.pick({ hash }) === set[0]).length;
  t.ok(moved.length >= fromRemoved, 'every key of the removed host moved');
  t.ok(fromRemoved > 50, `the removed host had its share: ${fromRemoved}`);
});

t.test('three equal hosts share keys within ±15%', async (t) => {
  const lb = createRingHash(hosts('10.3.0.', 3), {});
  const counts = tally(Array.from({ length: 3000 }, (_, i) => lb.pick({ hash: hash32(`user-${i}`) })));
  t.equal(counts.size, 3);
  for (const [key, count] of counts) t.ok(Math.abs(count - 1000) <= 150, `${key}: ${count}`);
});

t.test('without a hash, picks at random like Envoy', async (t) => {
  const set = hosts('h', 4);
  const ring = buildRing(set);
  t.equal(createRingHash(set, { random: scripted(0) }).pick(), ring.owners[0]);
  const lb = createRingHash(set, { random: scripted(0.999999999) });
  t.equal(lb.pick({}), ring.owners[0], 'the top of the range wraps');
});

t.test('locality weighting folds locality weights into host shares', async (t) => {
  const set = [
    host('x0', { locality: 'x', localityWeight: 1 }),
    host('y0', { locality: 'y', localityWeight: 3 }),
    host('y1', { locality: 'y', localityWeight: 3 }),
  ];
  // Shares 1/4, 3/8, 3/8: the smallest gets ⌈1024/4⌉ = 256 entries.
  t.same(Object.fromEntries(entriesPerHost(buildRing(set, {}, true).owners)), { x0: 256, y0: 384, y1: 384 });
  t.same(Object.fromEntries(entriesPerHost(buildRing(set, {}, false).owners)), { x0: 342, y0: 342, y1: 342 });
  const unweighted = set.map((h) => ({ ...h, localityWeight: 0 }));
  t.same(
    Object.fromEntries(entriesPerHost(buildRing(unweighted, {}, true).owners)),
    { x0: 342, y0: 342, y1: 342 },
    'no locality weights at all: hashed as if locality weighting were off',
  );
  const zeroLocality = [...set, host('z0', { locality: 'z', localityWeight: 0 })];
  t.notOk(buildRing(zeroLocality, {}, true).owners.some((h) => h.key === 'z0'), 'a weightless locality gets no entries');
});

t.test('no hosts: no pick', async (t) => {
  t.equal(createRingHash([], {}).pick({ hash: 1 }), undefined);
});
