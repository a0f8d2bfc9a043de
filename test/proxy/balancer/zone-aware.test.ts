import t from 'tap';
import type { BalancerHost } from '../../../proxy/balancer/host';
import { createLoadBalancer, type LoadBalancerOptions } from '../../../proxy/balancer/load-balancer';
import { chooseLocality, computeZoneRouting, isLocalLocality } from '../../../proxy/balancer/zone-aware';
import { host, scripted, seeded, tally } from './fixtures/hosts';

const local = (healthy: number) => ({ local: true, healthy });
const other = (healthy: number) => ({ local: false, healthy });

t.test('all traffic stays local while the local zone has its share (1/N) of the healthy hosts', async (t) => {
  t.same(computeZoneRouting([local(2), other(2), other(2)], 6), { kind: 'direct', local: 0 });
  t.same(computeZoneRouting([other(2), local(4), other(2)], 6), { kind: 'direct', local: 1 }, 'more than its share');
});

t.test('below its share the local zone keeps a proportional part; the rest goes by residual capacity', async (t) => {
  // Healthy 1/2/2: upstream 2000/4000/4000 bp against an even 3333 each.
  t.same(computeZoneRouting([local(1), other(2), other(2)], 5), {
    kind: 'residual',
    local: 0,
    localPercentToRoute: 6000, // 2000 × 10000 / 3333
    residualCapacity: [0, 667, 1334],
  });
  // Uneven others: only the zone above its share takes the spill.
  t.same(computeZoneRouting([local(1), other(1), other(4)], 6), {
    kind: 'residual',
    local: 0,
    localPercentToRoute: 4998, // 1666 × 10000 / 3333, in Envoy's integer arithmetic
    residualCapacity: [0, 0, 3333],
  });
  // No healthy local host: everything spills over.
  t.same(computeZoneRouting([local(0), other(3), other(3)], 6), {
    kind: 'residual',
    local: 0,
    localPercentToRoute: 0,
    residualCapacity: [0, 1667, 3334],
  });
});

t.test('no zone routing: one locality, no local one, or fewer healthy hosts than min_cluster_size', async (t) => {
  t.same(computeZoneRouting([local(6)], 6), { kind: 'none' });
  t.same(computeZoneRouting([other(3), other(3)], 6), { kind: 'none' });
  t.same(computeZoneRouting([local(2), other(2), other(1)], 6), { kind: 'none' }, '5 healthy < min_cluster_size 6');
  t.same(computeZoneRouting([local(1), other(1)], 2), { kind: 'direct', local: 0 }, 'a smaller min_cluster_size');
});

t.test('chooseLocality samples the local part, then the residual buckets', async (t) => {
  const residual = { kind: 'residual' as const, local: 0, localPercentToRoute: 6000, residualCapacity: [0, 667, 1334] };
  const healthy = [true, true, true];
  t.equal(chooseLocality(residual, scripted(0.5), healthy), 0, '5000 < 6000: local');
  t.equal(chooseLocality(residual, scripted(0.7, 0.1), healthy), 1, 'cross zone: 66 < 667');
  t.equal(chooseLocality(residual, scripted(0.7, 0.9), healthy), 2, 'cross zone: 1200 ≥ 667');
  t.equal(chooseLocality({ kind: 'direct', local: 2 }, scripted(0.99), healthy), 2);
  const noCapacity = { kind: 'residual' as const, local: 0, localPercentToRoute: 0, residualCapacity: [0, 0, 0] };
  t.equal(chooseLocality(noCapacity, scripted(0.1, 0.99), [false, false, true]), 2, 'rounding left no capacity: a locality with a healthy host');
});

t.test('the local locality: every field the node sets must match', async (t) => {
  t.ok(isLocalLocality('us/z1/', { zone: 'z1' }));
  t.ok(isLocalLocality('us/z1/a', { region: 'us', zone: 'z1' }));
  t.notOk(isLocalLocality('eu/z1/', { region: 'us', zone: 'z1' }));
  t.notOk(isLocalLocality('us/z2/', { zone: 'z1' }));
  t.notOk(isLocalLocality('', {}), 'no node locality: nothing is local');
});

/** 2 hosts in each of zones z1 (local), z2, z3; `down` of them unhealthy. */
function mesh(down: string[] = [], priority = 0): BalancerHost[] {
  const out: BalancerHost[] = [];
  for (const zone of ['z1', 'z2', 'z3']) {
    for (const i of [0, 1]) {
      const key = `${zone}-${i}`;
      out.push(host(key, { locality: `r/${zone}/`, healthy: !down.includes(key), priority }));
    }
  }
  return out;
}

function zoneOf(picks: (BalancerHost | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of picks) {
    const zone = p === undefined ? 'none' : p.locality.split('/')[1]!;
    counts[zone] = (counts[zone] ?? 0) + 1;
  }
  return counts;
}

const zoneAware = (over: Partial<NonNullable<LoadBalancerOptions['zoneAware']>> = {}): LoadBalancerOptions['zoneAware'] => ({
  routingEnabledPercent: 100,
  minClusterSize: 6,
  localLocality: { zone: 'z1' },
  ...over,
});

function picks(hosts: BalancerHost[], options: LoadBalancerOptions, n: number, policy = 'ROUND_ROBIN'): (BalancerHost | undefined)[] {
  const lb = createLoadBalancer(policy, hosts, options);
  return Array.from({ length: n }, () => lb.pick());
}

t.test('through the load balancer: local zone only, round robin inside it', async (t) => {
  const got = picks(mesh(), { zoneAware: zoneAware() }, 600);
  t.same(zoneOf(got), { z1: 600 });
  t.same([...tally(got).values()], [300, 300], 'both local hosts, evenly');
  t.same(zoneOf(picks(mesh(), { zoneAware: zoneAware(), random: seeded(1) }, 600, 'LEAST_REQUEST')), { z1: 600 }, 'least request too');
});

t.test('through the load balancer: a local host down spills 40 % over to the other zones', async (t) => {
  // 5 healthy hosts: min_cluster_size must allow that.
  const got = zoneOf(picks(mesh(['z1-0']), { zoneAware: zoneAware({ minClusterSize: 5 }), random: seeded(7) }, 20_000));
  t.ok(Math.abs(got.z1! - 12_000) < 400, `local ≈ 60 %: ${got.z1}`);
  t.ok(Math.abs(got.z2! - got.z3!) < 400, `the rest evenly over z2/z3: ${got.z2}/${got.z3}`);
});

t.test('through the load balancer: the local zone unhealthy, everything goes to the others', async (t) => {
  const got = zoneOf(picks(mesh(['z1-0', 'z1-1']), { zoneAware: zoneAware({ minClusterSize: 4 }), random: seeded(3) }, 1000));
  t.equal(got.z1, undefined);
  t.equal(got.z2! + got.z3!, 1000);
});

t.test('routing_enabled samples which requests are zone-routed', async (t) => {
  const got = zoneOf(picks(mesh(), { zoneAware: zoneAware({ routingEnabledPercent: 40 }), random: seeded(11) }, 30_000));
  // 40 % all local + 60 % round robin over the 6 hosts (1/3 local) = 60 % local.
  t.ok(Math.abs(got.z1! - 18_000) < 600, `local ≈ 60 %: ${got.z1}`);
});

t.test('no zone routing below min_cluster_size, in panic, at other priorities, with locality weighting or ring hash', async (t) => {
  t.same(zoneOf(picks(mesh(['z2-0']), { zoneAware: zoneAware() }, 500)), { z1: 200, z2: 100, z3: 200 }, '5 healthy < 6: plain round robin');
  t.same(zoneOf(picks(mesh(['z1-0', 'z1-1', 'z2-0', 'z2-1']), { zoneAware: zoneAware({ minClusterSize: 1 }) }, 600)), { z1: 200, z2: 200, z3: 200 }, 'panic: all hosts');
  t.same(
    picks(mesh(['z1-0', 'z1-1', 'z2-0', 'z2-1']), { zoneAware: zoneAware({ minClusterSize: 1 }), failTrafficOnPanic: true }, 3),
    [undefined, undefined, undefined],
    'fail_traffic_on_panic: no host',
  );
  const p1 = [...mesh(['z1-0', 'z1-1', 'z2-0', 'z2-1', 'z3-0', 'z3-1']), ...mesh([], 1).map((h) => ({ ...h, key: `p1-${h.key}` }))];
  t.same(zoneOf(picks(p1, { zoneAware: zoneAware(), panicThresholdPercent: 0 }, 600)), { z1: 200, z2: 200, z3: 200 }, 'only P0 is zone-routed');
  const weighted = mesh().map((h) => ({ ...h, localityWeight: 1 }));
  t.same(zoneOf(picks(weighted, { zoneAware: zoneAware(), localityWeighted: true }, 600)), { z1: 200, z2: 200, z3: 200 }, 'locality weighting wins');
  const ring = zoneOf(picks(mesh(), { zoneAware: zoneAware(), random: seeded(5) }, 600, 'RING_HASH'));
  t.ok(ring.z2! > 0 && ring.z3! > 0, 'ring hash does not route by zone (as in Envoy)');
});
