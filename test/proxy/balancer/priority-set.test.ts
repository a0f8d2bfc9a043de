import t from 'tap';
import type { BalancerHost } from '../../../proxy/balancer/host';
import type { LoadBalancer } from '../../../proxy/balancer/load-balancer';
import {
  buildPrioritySet,
  computePriorityLoad,
  effectiveLocalityWeight,
  type LoadBalancingPolicy,
} from '../../../proxy/balancer/priority-set';
import { createRoundRobin } from '../../../proxy/balancer/weighted-round-robin';
import { host, hosts, sweep, tally } from './fixtures/hosts';

const roundRobin: LoadBalancingPolicy = { factory: createRoundRobin, consistentHashing: false };

/** A policy that remembers the host sets it was built for and picks the first host of each. */
function recordingPolicy(consistentHashing = false) {
  const built: { hosts: readonly BalancerHost[]; picker: LoadBalancer }[] = [];
  const policy: LoadBalancingPolicy = {
    consistentHashing,
    factory: (set) => {
      const picker = { pick: () => set[0] };
      built.push({ hosts: set, picker });
      return picker;
    },
  };
  return { policy, built };
}

function level(count: number, healthyCount: number) {
  return { hosts: count, healthy: healthyCount };
}

t.test('priority load matches the table in Envoy\'s "Priority levels" docs', async (t) => {
  // P1 is 100% healthy; P0's healthy percentage varies.
  const table: [number, number[]][] = [
    [100, [100, 0]],
    [72, [100, 0]],
    [71, [99, 1]],
    [50, [70, 30]],
    [25, [35, 65]],
    [0, [0, 100]],
  ];
  for (const [healthy, load] of table) {
    const result = computePriorityLoad([level(100, healthy), level(100, 100)]);
    t.same(result.load, load, `P0 ${healthy}% healthy`);
    t.same(result.panic, [false, false]);
  }
});

t.test('panic threshold (Envoy\'s LoadBalancerBase::recalculatePerPriorityPanic)', async (t) => {
  t.same(
    computePriorityLoad([level(100, 30), level(100, 100)]),
    { load: [42, 58], panic: [false, false] },
    'total health of 100%: no panic even for a level below the threshold',
  );
  t.same(
    computePriorityLoad([level(100, 5), level(100, 65)]),
    { load: [8, 92], panic: [true, false] },
    'total health short of 100%: the level below 50% healthy panics, the other does not',
  );
  t.same(
    computePriorityLoad([level(10, 2), level(30, 3)]),
    { load: [25, 75], panic: [true, true] },
    'every level in panic: load follows host counts',
  );
  t.same(
    computePriorityLoad([level(10, 0), level(10, 0)]),
    { load: [50, 50], panic: [true, true] },
    'nothing healthy: total panic',
  );
  t.same(
    computePriorityLoad([level(10, 0), level(10, 0)], 140, 0),
    { load: [100, 0], panic: [false, false] },
    'panic disabled and nothing healthy: P0 gets the load and no host',
  );
  t.same(computePriorityLoad([level(10, 4)], 140, 30).panic, [false], 'threshold is configurable');
  t.same(computePriorityLoad([level(100, 50), level(100, 100)], 200).load, [100, 0], 'so is overprovisioning');
});

t.test('P0 of 10 hosts with 2 / 5 / 10 unhealthy sends 0% / 30% / 100% to P1', async (t) => {
  for (const [unhealthy, toP1] of [
    [2, 0],
    [5, 300],
    [10, 1000],
  ]) {
    const set = [...hosts('p0-', 10, { priority: 0 }, unhealthy), ...hosts('p1-', 10, { priority: 1 })];
    const lb = buildPrioritySet(set, roundRobin, { random: sweep() });
    const picks = Array.from({ length: 1000 }, () => lb.pick()!);
    t.equal(picks.filter((h) => h.priority === 1).length, toP1, `${unhealthy} unhealthy`);
    t.ok(picks.every((h) => h.healthy), 'only healthy hosts');
  }
});

t.test('panic: below 50% healthy, a lone priority balances over all its hosts', async (t) => {
  const panicking = buildPrioritySet(hosts('h', 10, {}, 6), roundRobin);
  t.equal(tally(Array.from({ length: 100 }, () => panicking.pick())).size, 10, '40% healthy: all 10 hosts');
  const healthy = buildPrioritySet(hosts('h', 10, {}, 5), roundRobin);
  const picked = tally(Array.from({ length: 100 }, () => healthy.pick()));
  t.equal(picked.size, 5, '50% healthy: the 5 healthy hosts only');
  t.notOk(picked.has('h0'));
});

t.test('all hosts unhealthy: panic routes anyway, unless panic is disabled', async (t) => {
  t.ok(buildPrioritySet(hosts('h', 3, {}, 3), roundRobin).pick(), 'Envoy panics and uses them');
  t.equal(buildPrioritySet(hosts('h', 3, {}, 3), roundRobin, { panicThresholdPercent: 0 }).pick(), undefined);
});

t.test('no hosts: no pick', async (t) => {
  t.equal(buildPrioritySet([], roundRobin).pick(), undefined);
});

t.test('when one priority takes all the load, its policy picker is returned as is', async (t) => {
  const single = recordingPolicy();
  const set = hosts('h', 4, {}, 1);
  t.equal(buildPrioritySet(set, single.policy), single.built[0].picker, 'single priority');
  t.same(single.built[0].hosts, set.slice(1), 'the policy got the healthy hosts');

  const spare = recordingPolicy();
  const withSpare = [...hosts('p0-', 4), ...hosts('p1-', 4, { priority: 1 })];
  t.equal(buildPrioritySet(withSpare, spare.policy), spare.built[0].picker, 'P1 idle');
  t.equal(spare.built.length, 1, 'no picker is built for a priority without load');
});

t.test('priorities may skip levels', async (t) => {
  const set = [...hosts('p0-', 2, {}, 2), ...hosts('p2-', 2, { priority: 2 })];
  const lb = buildPrioritySet(set, roundRobin, { random: sweep() });
  t.ok(Array.from({ length: 100 }, () => lb.pick()!).every((h) => h.priority === 2));
  t.throws(() => buildPrioritySet([host('bad', { priority: -1 })], roundRobin), RangeError);
});

t.test('consistent hashing: the request hash chooses the priority', async (t) => {
  const { policy } = recordingPolicy(true);
  // P0 half healthy: 70% of the load.
  const set = [...hosts('p0-', 10, {}, 5), ...hosts('p1-', 10, { priority: 1 })];
  const lb = buildPrioritySet(set, policy, { random: () => 0 });
  t.equal(lb.pick({ hash: 69 })?.priority, 0);
  t.equal(lb.pick({ hash: 70 })?.priority, 1);
  t.equal(lb.pick({ hash: 1069 })?.priority, 0);
  t.equal(lb.pick({ hash: 1099 })?.priority, 1);
  t.equal(lb.pick()?.priority, 0, 'no hash: random');

  const { policy: plain } = recordingPolicy(false);
  const ignoring = buildPrioritySet(set, plain, { random: () => 0 });
  t.equal(ignoring.pick({ hash: 99 })?.priority, 0, 'other policies choose priorities at random');
});

t.test('locality weighting: locality weights 1:3 split traffic 25/75', async (t) => {
  const set = [
    ...hosts('x', 2, { locality: 'us/x', localityWeight: 1 }),
    ...hosts('y', 2, { locality: 'us/y', localityWeight: 3 }),
  ];
  const lb = buildPrioritySet(set, roundRobin, { localityWeighted: true });
  const picks = Array.from({ length: 400 }, () => lb.pick()!);
  t.equal(picks.filter((h) => h.locality === 'us/x').length, 100);
  t.equal(picks.filter((h) => h.locality === 'us/y').length, 300);
  t.equal(tally(picks).size, 4, 'each locality balances its own hosts');

  const flat = buildPrioritySet(set, roundRobin);
  const flatPicks = Array.from({ length: 400 }, () => flat.pick()!);
  t.equal(flatPicks.filter((h) => h.locality === 'us/x').length, 200, 'without the option, weights are ignored');
});

t.test('locality weighting follows locality health (Envoy docs: X weight 1, Y weight 2)', async (t) => {
  t.ok(Math.abs(effectiveLocalityWeight(1, 10, 7) - 0.98) < 1e-12, '70% healthy: 0.98');
  t.equal(effectiveLocalityWeight(2, 10, 8), 2, '80% healthy counts as fully healthy');
  t.equal(effectiveLocalityWeight(3, 0, 0), 0);
  // X at 50% healthy: effective weight 0.7 against 2, X takes 0.7 / 2.7 ≈ 26%.
  const set = [
    ...hosts('x', 4, { locality: 'x', localityWeight: 1 }, 2),
    ...hosts('y', 4, { locality: 'y', localityWeight: 2 }),
  ];
  const lb = buildPrioritySet(set, roundRobin, { localityWeighted: true });
  const picks = Array.from({ length: 2700 }, () => lb.pick()!);
  const toX = picks.filter((h) => h.locality === 'x').length;
  t.ok(Math.abs(toX - 700) <= 1, `x: ${toX} of 2700`);
  t.ok(picks.every((h) => h.healthy), 'unhealthy hosts of X are not picked');
});

t.test('locality weighting steps aside in panic and without weights', async (t) => {
  const weighted = { locality: 'x', localityWeight: 1 };
  const panicking = [...hosts('x', 2, weighted, 2), ...hosts('y', 8, { locality: 'y', localityWeight: 99 }, 6)];
  const lb = buildPrioritySet(panicking, roundRobin, { localityWeighted: true });
  const counts = tally(Array.from({ length: 100 }, () => lb.pick()));
  t.equal(counts.size, 10, 'panic: every host of the priority, as one set');

  const unweighted = hosts('h', 4, { locality: 'z' });
  const fallback = buildPrioritySet(unweighted, roundRobin, { localityWeighted: true });
  t.ok(fallback.pick(), 'no weighted locality: the healthy hosts as one set');

  const partly = [...hosts('x', 2, weighted), ...hosts('n', 2, { locality: 'none' })];
  const skipping = buildPrioritySet(partly, roundRobin, { localityWeighted: true });
  t.ok(
    Array.from({ length: 20 }, () => skipping.pick()!).every((h) => h.locality === 'x'),
    'a weightless locality gets nothing',
  );
});
