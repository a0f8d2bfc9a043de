import fc from 'fast-check';
import t from 'tap';
import { EdfScheduler } from '../../../proxy/balancer/edf-scheduler';

function picks(scheduler: EdfScheduler, n: number): number[] {
  return Array.from({ length: n }, () => scheduler.pick());
}

t.test('first period follows deadlines 1/w, ties to the entry scheduled first', async (t) => {
  // Deadlines: entry 0 at 1, entry 1 at .5 and 1, entry 2 at 1/3, 2/3 and 1.
  t.same(picks(new EdfScheduler([1, 2, 3]), 6), [2, 1, 2, 0, 1, 2]);
});

t.test('every full period of total weight W picks each entry exactly its weight', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 5 }),
      (weights, periods) => {
        const total = weights.reduce((a, b) => a + b, 0);
        const counts = new Array<number>(weights.length).fill(0);
        const scheduler = new EdfScheduler(weights);
        for (let i = 0; i < total * periods; i++) counts[scheduler.pick()]++;
        return counts.every((c, i) => c === weights[i] * periods);
      },
    ),
  );
  t.pass('property held');
});

t.test('EDF bounds: no entry falls a pick behind its share, nor runs ahead by more than m·w/W', async (t) => {
  // After n picks, with T the deadline of the last one: every entry has taken its deadlines
  // before T, so n >= T·W - m and count_i <= T·w_i <= (n + m)·w_i / W; and n <= T·W, so
  // count_i >= T·w_i - 1 >= n·w_i / W - 1.
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 2, maxLength: 8 }), (weights) => {
      const m = weights.length;
      const total = weights.reduce((a, b) => a + b, 0);
      const counts = new Array<number>(m).fill(0);
      const scheduler = new EdfScheduler(weights);
      for (let n = 1; n <= 3 * total; n++) {
        counts[scheduler.pick()]++;
        for (let i = 0; i < m; i++) {
          const ideal = (n * weights[i]) / total;
          if (ideal - counts[i] > 1 + 1e-9) return false;
          if (counts[i] - ideal > (m * weights[i]) / total + 1e-9) return false;
        }
      }
      return true;
    }),
  );
  t.pass('property held');
});

t.test('ties stay ties: weights 1/1/5 repeat the same 7-pick pattern', async (t) => {
  const sequence = picks(new EdfScheduler([1, 1, 5]), 70);
  for (let start = 7; start < 70; start += 7) {
    t.same(sequence.slice(start, start + 7), sequence.slice(0, 7), `period at ${start}`);
  }
  t.same(sequence.slice(0, 7), [2, 2, 2, 2, 0, 1, 2]);
});

t.test('the same weights always give the same sequence', async (t) => {
  const weights = [3, 1, 4, 1, 5, 9, 2, 6];
  t.same(picks(new EdfScheduler(weights), 500), picks(new EdfScheduler(weights), 500));
});

t.test('reschedule applies the weight given at pick time', async (t) => {
  const scheduler = new EdfScheduler([1, 1]);
  const counts = [0, 0];
  for (let i = 0; i < 400; i++) {
    const entry = scheduler.peek();
    counts[entry]++;
    // Entry 0 now weighs 3 times entry 1.
    scheduler.reschedule(entry === 0 ? 3 : 1);
  }
  t.ok(Math.abs(counts[0] - 300) <= 2, `entry 0 got ${counts[0]} of 400`);
  t.ok(Math.abs(counts[1] - 100) <= 2, `entry 1 got ${counts[1]} of 400`);
});

t.test('peek does not advance the schedule', async (t) => {
  const scheduler = new EdfScheduler([1, 2]);
  t.equal(scheduler.peek(), 1);
  t.equal(scheduler.peek(), 1);
  t.equal(scheduler.pick(), 1);
});
