import t from 'tap';
import { latencyPercentiles, median, percentileOfSorted, ratio } from '../../bench/percentiles';

t.test('nearest-rank percentiles of a known list', async (t) => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(percentileOfSorted(oneToHundred, 50), 50);
  t.equal(percentileOfSorted(oneToHundred, 90), 90);
  t.equal(percentileOfSorted(oneToHundred, 99), 99);
  t.equal(percentileOfSorted(oneToHundred, 99.9), 100, 'rank ceil(99.9) = 100');
  t.equal(percentileOfSorted(oneToHundred, 100), 100);
  t.equal(percentileOfSorted(oneToHundred, 0), 1);
  t.equal(percentileOfSorted([7], 99.9), 7, 'one sample is every percentile');
  t.ok(Number.isNaN(percentileOfSorted([], 50)), 'no samples, no percentile');
  // p99.9 of 2000 samples is the 1998th: the third-slowest, not a blend of the two slowest.
  const twoThousand = Array.from({ length: 2000 }, (_, i) => i + 1);
  t.equal(percentileOfSorted(twoThousand, 99.9), 1998);
});

t.test('latencyPercentiles sorts a copy of unsorted samples', async (t) => {
  const samples = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
  const p = latencyPercentiles(samples);
  t.same(p, { p50: 5, p90: 9, p99: 10, p999: 10 });
  t.same(samples, [5, 1, 4, 2, 3, 10, 9, 8, 7, 6], 'input untouched');
  t.same(latencyPercentiles(new Float64Array([3, 2, 1])), { p50: 2, p90: 3, p99: 3, p999: 3 }, 'typed arrays sort numerically');
});

t.test('median of rounds', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5, 'even count: mean of the middle two');
  t.equal(median([10, 9, 100]), 10, 'numeric, not lexicographic, order');
  t.equal(median([Number.NaN, 5, 7]), 6, 'missing values are ignored');
  t.ok(Number.isNaN(median([])));
});

t.test('ratio', async (t) => {
  t.equal(ratio(30, 40), 0.75);
  t.ok(Number.isNaN(ratio(1, 0)), 'no division by zero');
  t.ok(Number.isNaN(ratio(undefined, 2)));
  t.ok(Number.isNaN(ratio(2, Number.NaN)));
});
