import fc from 'fast-check';
import t from 'tap';
import {
  normalizePath,
  type EscapedSlashesAction,
  type PathNormalizationConfig,
} from '../../../proxy/router/path-normalization';
import { compile, request, withRoutes } from './fixtures/helpers';

// Routes as an edge proxy would guard them: the first match wins, so "/admin" must never be
// reached through a path that only looks like "/public" (or the reverse).
const table = compile(
  withRoutes([
    { name: 'admin', match: { prefix: '/admin' }, route: { cluster: 'admin' } },
    { name: 'users', match: { path: '/api/users' }, route: { cluster: 'api' } },
    { name: 'versioned', match: { safe_regex: { regex: '/api/v[0-9]+/.*' } }, route: { cluster: 'api' } },
    { name: 'public', match: { prefix: '/public/' }, route: { cluster: 'public' } },
  ]),
);

/** The routes above as plain predicates, in the same order: what "matches" means, independently of RouteTable. */
const EXPECTED: readonly [name: string, accepts: (path: string) => boolean][] = [
  ['admin', (p) => p.startsWith('/admin')],
  ['users', (p) => p === '/api/users'],
  ['versioned', (p) => /^\/api\/v[0-9]+\/.*$/.test(p)],
  ['public', (p) => p.startsWith('/public/')],
];
const firstAccepting = (path: string) => EXPECTED.find(([, accepts]) => accepts(path))?.[0];
const routeName = (path: string) => table.route(request({ path }))?.name;

const ACTIONS: readonly EscapedSlashesAction[] = ['KEEP_UNCHANGED', 'REJECT_REQUEST', 'UNESCAPE_AND_REDIRECT', 'UNESCAPE_AND_FORWARD'];
const configArb: fc.Arbitrary<PathNormalizationConfig> = fc.record({
  normalizePath: fc.boolean(),
  mergeSlashes: fc.boolean(),
  escapedSlashesAction: fc.constantFrom(...ACTIONS),
});
// Paths that begin like one route and use separators, dot segments and escapes (valid, decodable,
// refused) to end up at another, or nowhere.
const STARTS = ['/admin', '/public/', '/api/users', '/api/v1/', '/api/', '/', '//'];
const PIECES = [
  '/', '//', '\\', '/.', '/..', '/../', '/./', '/%2e%2e/', '/..;x/', '\\..\\', '%2F..%2F', '%5c..%5c', '/%2E/',
  'admin', '%61dmin', 'adm%69n', 'Admin', 'public/', 'api/users', 'api/v2/x', 'api/vx/', 'users', 'x', '%20', '%00', '%', ';p',
];
const pathArb = fc
  .tuple(fc.constantFrom(...STARTS), fc.array(fc.constantFrom(...PIECES), { maxLength: 6 }))
  .map(([start, pieces]) => start + pieces.join(''));
const RUNS = 5000;

t.test('property: routing uses exactly what the normalized path matches', async (t) => {
  fc.assert(
    fc.property(pathArb, configArb, (path, cfg) => {
      const normalized = normalizePath(path, cfg);
      if (normalized.kind === 'reject') return;
      const routed = routeName(normalized.path);
      const expected = firstAccepting(normalized.path);
      if (routed !== expected) {
        throw new Error(`${JSON.stringify(path)} → ${JSON.stringify(normalized.path)} routed to ${routed}, but the first route it matches is ${expected}`);
      }
      // Stable: normalizing again picks the same route.
      const again = normalizePath(normalized.path, cfg);
      if (again.kind === 'reject' || routeName(again.path) !== routed) {
        throw new Error(`${JSON.stringify(path)}: routed to ${routed}, then to ${again.kind === 'reject' ? 'a rejection' : routeName(again.path)}`);
      }
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} cases`);
});

t.test('the requests the issue is about', async (t) => {
  const normalize: PathNormalizationConfig = { normalizePath: true, mergeSlashes: true, escapedSlashesAction: 'UNESCAPE_AND_FORWARD' };
  const via = (path: string, cfg: PathNormalizationConfig = normalize) => {
    const result = normalizePath(path, cfg);
    return result.kind === 'reject' ? 'rejected' : routeName(result.path);
  };
  const cases: [path: string, route: string | undefined, cfg?: PathNormalizationConfig][] = [
    ['/public/../admin/users', 'admin'],
    ['/public/%2e%2e/admin', 'admin'],
    ['/public/..;x/admin', 'admin'],
    ['/public\\..\\admin', 'admin'],
    ['/public/..%2Fadmin', 'admin'],
    ['/%61dmin', 'admin'],
    ['//admin', 'admin'],
    ['/admin/../public/x', 'public'],
    ['/api/./users', 'users'],
    ['/api/v1/../../admin', 'admin'],
    // With escaped slashes kept, "..%2Fadmin" is one opaque segment under /public/, and the
    // upstream receives it still escaped.
    ['/public/..%2Fadmin', 'public', { ...normalize, escapedSlashesAction: 'KEEP_UNCHANGED' }],
    ['/public/..%2Fadmin', 'rejected', { ...normalize, escapedSlashesAction: 'REJECT_REQUEST' }],
    // Without merge_slashes, "//admin" is not under the "/admin" prefix.
    ['//admin', undefined, { ...normalize, mergeSlashes: false }],
  ];
  for (const [path, route, cfg] of cases) t.equal(via(path, cfg), route, `${path} with ${JSON.stringify(cfg ?? normalize)}`);
});
