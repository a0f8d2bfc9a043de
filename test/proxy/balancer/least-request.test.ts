import t from 'tap';
import { createLeastRequest } from '../../../proxy/balancer/least-request';
import { host, hosts, scripted, seeded, tally } from './fixtures/hosts';

t.test('equal weights: of two sampled hosts, the one with fewer active requests wins', async (t) => {
  const busy = host('busy', { activeRequests: 10 });
  const idle = host('idle', { activeRequests: 0 });
  // With two hosts, a random value below .5 samples `busy`, at or above .5 samples `idle`.
  const pick = (...randoms: number[]) =>
    createLeastRequest([busy, idle], { random: scripted(...randoms) }).pick()?.key;
  t.equal(pick(0.1, 0.9), 'idle');
  t.equal(pick(0.9, 0.1), 'idle');
  t.equal(pick(0.9, 0.9), 'idle');
  t.equal(pick(0.1, 0.1), 'busy', 'samples are drawn with replacement, as in Envoy');
});

t.test('ties keep the first sampled host', async (t) => {
  const set = hosts('h', 2, { activeRequests: 3 });
  t.equal(createLeastRequest(set, { random: scripted(0.7, 0.2) }).pick()?.key, 'h1');
  t.equal(createLeastRequest(set, { random: scripted(0.2, 0.7) }).pick()?.key, 'h0');
});

t.test('reads activeRequests live from the host objects', async (t) => {
  const [a, b] = hosts('h', 2);
  const lb = createLeastRequest([a, b], { random: scripted(0.1, 0.9) });
  a.activeRequests = 5;
  t.equal(lb.pick(), b);
  a.activeRequests = 0;
  b.activeRequests = 5;
  t.equal(lb.pick(), a, 'the same picker follows the new counts');
});

t.test('choiceCount samples that many hosts', async (t) => {
  const set = [host('a', { activeRequests: 3 }), host('b', { activeRequests: 2 }), host('c', { activeRequests: 1 })];
  const random = scripted(0.1, 0.5, 0.9); // a, b, c
  t.equal(createLeastRequest(set, { random }).pick()?.key, 'b', 'default 2 sees a and b');
  t.equal(
    createLeastRequest(set, { random: scripted(0.1, 0.5, 0.9), leastRequest: { choiceCount: 3 } }).pick()?.key,
    'c',
  );
});

t.test('P2C over 3 hosts: the busiest gets only the 1/9 of picks where both samples hit it', async (t) => {
  const set = [host('low', { activeRequests: 1 }), host('mid', { activeRequests: 2 }), host('high', { activeRequests: 3 })];
  const lb = createLeastRequest(set, { random: seeded(7) });
  const counts = tally(Array.from({ length: 9000 }, () => lb.pick()));
  // low wins unless neither sample is low: 1 - (2/3)^2 = 5/9; high only when both are high: 1/9.
  t.ok(Math.abs(counts.get('low')! - 5000) < 250, `low: ${counts.get('low')}`);
  t.ok(Math.abs(counts.get('mid')! - 3000) < 250, `mid: ${counts.get('mid')}`);
  t.ok(Math.abs(counts.get('high')! - 1000) < 150, `high: ${counts.get('high')}`);
});

t.test('weights differ: EDF on weight / (active + 1)^bias', async (t) => {
  const heavy = host('heavy', { weight: 2, activeRequests: 3 });
  const light = host('light', { weight: 1, activeRequests: 0 });
  // Effective weights 2/4 and 1/1: the light host gets two picks in three.
  const lb = createLeastRequest([heavy, light], {});
  const counts = tally(Array.from({ length: 300 }, () => lb.pick()));
  t.ok(Math.abs(counts.get('heavy')! - 100) <= 1, `heavy: ${counts.get('heavy')}`);
  t.ok(Math.abs(counts.get('light')! - 200) <= 1, `light: ${counts.get('light')}`);

  const unbiased = createLeastRequest([heavy, light], { leastRequest: { activeRequestBias: 0 } });
  const plain = tally(Array.from({ length: 300 }, () => unbiased.pick()));
  t.ok(Math.abs(plain.get('heavy')! - 200) <= 1, `bias 0 is plain weighted round robin: ${plain.get('heavy')}`);

  const squared = createLeastRequest([heavy, light], { leastRequest: { activeRequestBias: 2 } });
  const strong = tally(Array.from({ length: 900 }, () => squared.pick()));
  // 2/16 against 1: the heavy host gets 1 pick in 9.
  t.ok(Math.abs(strong.get('heavy')! - 100) <= 2, `bias 2: ${strong.get('heavy')}`);
});

t.test('weights differ: a host that keeps its requests open is picked less and less, never starved', async (t) => {
  const slow = host('slow', { weight: 2 });
  const fast = host('fast', { weight: 1 });
  const lb = createLeastRequest([slow, fast], {});
  const picks = Array.from({ length: 200 }, () => {
    const h = lb.pick()!;
    if (h === slow) slow.activeRequests++; // never finishes
    return h;
  });
  const counts = tally(picks);
  t.ok(counts.get('fast')! > 150, `fast: ${counts.get('fast')}`);
  t.ok(counts.get('slow')! >= 10, `slow still picked: ${counts.get('slow')}`);
  t.ok(tally(picks.slice(100)).get('slow')! < tally(picks.slice(0, 100)).get('slow')!, 'fewer later');
});

t.test('no hosts: no pick', async (t) => {
  t.equal(createLeastRequest([], {}).pick(), undefined);
});
