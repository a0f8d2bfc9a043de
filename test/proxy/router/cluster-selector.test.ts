import t from 'tap';
import { compileClusterSelector } from '../../../proxy/router/cluster-selector';
import type { RouteAction } from '../../../proxy/router/route-configuration';
import { collect } from './fixtures/helpers';

function selector(action: RouteAction) {
  const { result, issues } = collect((issues) => compileClusterSelector(action, 'r', issues));
  if (result === undefined || issues.length > 0) throw new Error(JSON.stringify(issues));
  return result;
}

t.test('a single cluster is always chosen, with no header mutations', async (t) => {
  const s = selector({ cluster: 'backend' });
  for (const r of [0, 0.5, 0.999999]) {
    const choice = s.select(r);
    t.equal(choice.name, 'backend');
    t.equal(choice.requestHeaders, undefined);
    t.equal(choice.responseHeaders, undefined);
  }
  t.equal(s.select(0), s.select(0.7), 'the same immutable choice each time');
});

t.test('weighted clusters split [0, 1) by weight, boundaries included in the next cluster', async (t) => {
  const s = selector({
    weighted_clusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'zero', weight: 0 }, { name: 'b', weight: 3 }] },
  });
  const cases: [random: number, expected: string][] = [
    [0, 'a'],
    [0.2499, 'a'],
    [0.25, 'b'],
    [0.5, 'b'],
    [0.9999999, 'b'],
  ];
  for (const [random, expected] of cases) t.equal(s.select(random).name, expected, `random ${random}`);
});

t.test('a weighted cluster carries its own header mutations', async (t) => {
  const s = selector({
    weighted_clusters: {
      clusters: [
        { name: 'a', weight: 50, request_headers_to_add: [{ header: { key: 'x-v', value: 'a' } }] },
        { name: 'b', weight: 50, response_headers_to_remove: ['x-b'] },
      ],
    },
  });
  t.not(s.select(0).requestHeaders, undefined);
  t.equal(s.select(0).responseHeaders, undefined);
  t.equal(s.select(0.5).requestHeaders, undefined);
  t.not(s.select(0.5).responseHeaders, undefined);
});

t.test('invalid cluster specifiers are issues', async (t) => {
  const issues = (action: object) => collect((issues) => compileClusterSelector(action as RouteAction, 'r', issues)).issues;
  t.same(issues({ cluster: '' }), [{ path: 'r.cluster', message: 'must not be empty' }]);
  t.same(issues({ weighted_clusters: { clusters: [] } }), [
    { path: 'r.weighted_clusters.clusters', message: 'must list at least one cluster' },
  ]);
  t.same(issues({ weighted_clusters: { clusters: [{ name: 'a' }, { name: 'b', weight: 0 }] } }), [
    { path: 'r.weighted_clusters.clusters', message: 'the sum of the weights must be greater than 0' },
  ]);
  t.same(issues({ weighted_clusters: { clusters: [{ name: 'a', weight: 1 }], total_weight: 100 } }), [
    {
      path: 'r.weighted_clusters.total_weight',
      message: 'is 100 but the weights add up to 1 (total_weight is deprecated; omit it)',
    },
  ]);
  t.same(issues({ weighted_clusters: { clusters: [{ name: 'a', weight: 2 }], total_weight: 2 } }), [], 'a consistent total_weight is fine');
  t.same(
    issues({
      weighted_clusters: {
        clusters: [{ weight: 1, cluster_header: 'x', host_rewrite_literal: 'h' }],
        runtime_key_prefix: 'rt',
      },
    }),
    [
      { path: 'r.weighted_clusters.runtime_key_prefix', message: 'not supported by meshlet' },
      { path: 'r.weighted_clusters.clusters[0].cluster_header', message: 'not supported by meshlet' },
      { path: 'r.weighted_clusters.clusters[0].host_rewrite_literal', message: 'not supported by meshlet' },
      { path: 'r.weighted_clusters.clusters[0].name', message: 'is required' },
    ],
  );
});
