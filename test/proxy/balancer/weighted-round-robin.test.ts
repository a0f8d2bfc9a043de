import t from 'tap';
import { createRoundRobin } from '../../../proxy/balancer/weighted-round-robin';
import { host, hosts, longestRun, tally } from './fixtures/hosts';

t.test('weights 1/2/7 over 1000 picks give 100/200/700, interleaved', async (t) => {
  const set = [host('w1', { weight: 1 }), host('w2', { weight: 2 }), host('w7', { weight: 7 })];
  const lb = createRoundRobin(set, {});
  const picks = Array.from({ length: 1000 }, () => lb.pick());
  const counts = tally(picks);
  t.ok(Math.abs(counts.get('w1')! - 100) <= 1, `w1: ${counts.get('w1')}`);
  t.ok(Math.abs(counts.get('w2')! - 200) <= 1, `w2: ${counts.get('w2')}`);
  t.ok(Math.abs(counts.get('w7')! - 700) <= 1, `w7: ${counts.get('w7')}`);
  // Repeating each host `weight` times would give runs of 7.
  t.ok(longestRun(picks) <= 4, `longest run ${longestRun(picks)}`);
  for (let start = 0; start + 10 <= 1000; start += 10) {
    const window = tally(picks.slice(start, start + 10));
    if (window.get('w1') !== 1 || window.get('w2') !== 2 || window.get('w7') !== 7) {
      t.fail(`window at ${start} is ${JSON.stringify([...window])}`);
      break;
    }
  }
});

t.test('equal weights rotate in host order', async (t) => {
  const set = hosts('h', 3, { weight: 5 });
  const lb = createRoundRobin(set, {});
  t.same(
    Array.from({ length: 7 }, () => lb.pick()?.key),
    ['h0', 'h1', 'h2', 'h0', 'h1', 'h2', 'h0'],
  );
});

t.test('deterministic: two pickers over the same hosts agree pick for pick', async (t) => {
  const set = [host('a', { weight: 3 }), host('b', { weight: 1 }), host('c', { weight: 2 })];
  const first = createRoundRobin(set, {});
  const second = createRoundRobin(set, {});
  t.same(
    Array.from({ length: 120 }, () => first.pick()?.key),
    Array.from({ length: 120 }, () => second.pick()?.key),
  );
});

t.test('no hosts: no pick', async (t) => {
  t.equal(createRoundRobin([], {}).pick(), undefined);
});
