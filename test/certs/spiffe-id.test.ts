import t from 'tap';
import { parseSpiffeId, workloadSpiffeId } from '../../certs/spiffe-id';

t.test('valid IDs split into trust domain and path', async (t) => {
  const cases: [uri: string, trustDomain: string, path: string][] = [
    ['spiffe://cluster.local/ns/default/sa/web', 'cluster.local', '/ns/default/sa/web'],
    ['spiffe://example.org', 'example.org', ''],
    ['spiffe://a_b-c.9/x', 'a_b-c.9', '/x'],
    ['spiffe://td/Mixed.Case-path_1/...x/a..b', 'td', '/Mixed.Case-path_1/...x/a..b'],
  ];
  for (const [uri, trustDomain, path] of cases) t.same(parseSpiffeId(uri), { trustDomain, path }, uri);
});

t.test('invalid IDs say why', async (t) => {
  const cases: [uri: string, error: RegExp][] = [
    ['', /must start with "spiffe:\/\/"/],
    ['https://cluster.local/ns/a', /must start with "spiffe:\/\/"/],
    ['SPIFFE://cluster.local/ns/a', /must start with "spiffe:\/\/"/],
    ['spiffe://', /trust domain is empty/],
    ['spiffe:///ns/a', /trust domain is empty/],
    ['spiffe://Cluster.local/ns/a', /trust domain must be lowercase/],
    ['spiffe://cluster.local:8443/ns/a', /must not have a port/],
    ['spiffe://user@cluster.local/ns/a', /must not have userinfo/],
    ['spiffe://clus ter/ns/a', /trust domain has " "/],
    ['spiffe://cluster.local/ns/a?x=1', /must not have a query/],
    ['spiffe://cluster.local/ns/a#frag', /must not have a fragment/],
    ['spiffe://cluster.local/', /empty segment/],
    ['spiffe://cluster.local/ns//a', /empty segment/],
    ['spiffe://cluster.local/ns/a/', /empty segment/],
    ['spiffe://cluster.local/ns/./a', /must not be "\." or "\.\."/],
    ['spiffe://cluster.local/ns/..', /must not be "\." or "\.\."/],
    ['spiffe://cluster.local/ns/a%20b', /path has "%"/],
    ['spiffe://cluster.local/ns/caf\u00e9', /path has "\u00e9"/],
    [`spiffe://${'a'.repeat(256)}/x`, /longer than 255/],
    [`spiffe://td/${'a'.repeat(2040)}`, /longer than 2048 bytes/],
  ];
  for (const [uri, error] of cases) {
    const parsed = parseSpiffeId(uri);
    t.ok('error' in parsed && error.test(parsed.error), `${JSON.stringify(uri.slice(0, 60))}: ${JSON.stringify(parsed)}`);
  }
});

t.test('workloadSpiffeId builds the Istio form and refuses parts that make it invalid', async (t) => {
  t.equal(workloadSpiffeId('cluster.local', 'default', 'web'), 'spiffe://cluster.local/ns/default/sa/web');
  t.throws(() => workloadSpiffeId('cluster.local', 'default', 'a/b/'), /empty segment/);
  t.throws(() => workloadSpiffeId('Cluster.local', 'default', 'web'), /lowercase/);
});
