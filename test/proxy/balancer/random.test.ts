import t from 'tap';
import { createRandom } from '../../../proxy/balancer/random';
import { host, hosts, scripted, seeded, tally } from './fixtures/hosts';

t.test('maps the random value onto the host list', async (t) => {
  const set = hosts('h', 4);
  t.equal(createRandom(set, { random: scripted(0) }).pick()?.key, 'h0');
  t.equal(createRandom(set, { random: scripted(0.26) }).pick()?.key, 'h1');
  t.equal(createRandom(set, { random: scripted(0.999999) }).pick()?.key, 'h3');
});

t.test('uniform, ignoring endpoint weights as Envoy does', async (t) => {
  const set = [host('w1', { weight: 1 }), host('w2', { weight: 2 }), host('w7', { weight: 7 })];
  const lb = createRandom(set, { random: seeded(42) });
  const counts = tally(Array.from({ length: 30000 }, () => lb.pick()));
  for (const key of ['w1', 'w2', 'w7']) {
    t.ok(Math.abs(counts.get(key)! - 10000) < 500, `${key}: ${counts.get(key)}`);
  }
});

t.test('no hosts: no pick', async (t) => {
  t.equal(createRandom([], {}).pick(), undefined);
});
