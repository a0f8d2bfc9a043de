import t from 'tap';
import { hash32 } from '../../../proxy/balancer/hash';
import {
  createLoadBalancer,
  registerLoadBalancer,
  type LoadBalancer,
} from '../../../proxy/balancer/load-balancer';
import { host, hosts, seeded } from './fixtures/hosts';

t.test('the four Envoy lb_policy names are registered', async (t) => {
  const set = hosts('h', 3);
  for (const name of ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH']) {
    const lb = createLoadBalancer(name, set, { random: seeded(1) });
    const picked = lb.pick({ hash: 12345 });
    t.ok(picked && set.includes(picked), `${name} picks one of the hosts`);
    t.equal(createLoadBalancer(name, []).pick(), undefined, `${name} with no hosts`);
  }
});

t.test('an unknown policy name throws', async (t) => {
  t.throws(() => createLoadBalancer('MAGLEV', hosts('h', 1)), /unknown load balancing policy MAGLEV/);
});

t.test('a registered policy is built per priority and returned as is for one priority', async (t) => {
  const picker: LoadBalancer = { pick: () => undefined };
  registerLoadBalancer('TEST_POLICY', () => picker);
  t.equal(createLoadBalancer('TEST_POLICY', hosts('h', 2)), picker);
  t.throws(() => registerLoadBalancer('TEST_POLICY', () => picker), /already registered/);
  t.throws(() => registerLoadBalancer('ROUND_ROBIN', () => picker), /already registered/);
});

t.test('options reach the policies', async (t) => {
  const set = [host('a', { activeRequests: 9 }), host('b', { activeRequests: 0 })];
  const lb = createLoadBalancer('LEAST_REQUEST', set, { leastRequest: { choiceCount: 1 }, random: () => 0 });
  t.equal(lb.pick()?.key, 'a', 'one choice: whatever the random source samples first');
  t.throws(
    () => createLoadBalancer('RING_HASH', set, { ringHash: { minimumRingSize: 10, maximumRingSize: 5 } }),
    RangeError,
  );
});

t.test('RING_HASH keeps a hash on its host and its priority while health holds', async (t) => {
  const set = [...hosts('p0-', 10, {}, 5), ...hosts('p1-', 10, { priority: 1 })];
  const first = createLoadBalancer('RING_HASH', set);
  const second = createLoadBalancer('RING_HASH', set);
  for (let i = 0; i < 200; i++) {
    const hash = hash32(`client-${i}`);
    const picked = first.pick({ hash });
    if (picked !== second.pick({ hash }) || picked !== first.pick({ hash })) t.fail(`hash ${hash} moved`);
    if (picked?.priority !== (hash % 100 < 70 ? 0 : 1)) t.fail(`hash ${hash} in the wrong priority`);
  }
  t.pass('stable');
});
