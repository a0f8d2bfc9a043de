import fc from 'fast-check';
import t, { type Test } from 'tap';
import {
  normalizePath,
  pathNormalizationConfig,
  type EscapedSlashesAction,
  type NormalizedPath,
  type PathNormalizationConfig,
} from '../../../proxy/router/path-normalization';

const OFF: PathNormalizationConfig = { normalizePath: false, mergeSlashes: false, escapedSlashesAction: 'KEEP_UNCHANGED' };
const config = (overrides: Partial<PathNormalizationConfig>): PathNormalizationConfig => ({ ...OFF, ...overrides });
const NORMALIZE = config({ normalizePath: true });
const MERGE = config({ mergeSlashes: true });
const ACTIONS: readonly EscapedSlashesAction[] = ['KEEP_UNCHANGED', 'REJECT_REQUEST', 'UNESCAPE_AND_REDIRECT', 'UNESCAPE_AND_FORWARD'];
const REJECTED: NormalizedPath = { kind: 'reject', reason: 'path_normalization_failed' };
const ok = (path: string): NormalizedPath => ({ kind: 'ok', path });

function table(t: Test, cfg: PathNormalizationConfig, cases: readonly [input: string, expected: string | NormalizedPath][]) {
  for (const [input, expected] of cases) {
    t.same(normalizePath(input, cfg), typeof expected === 'string' ? ok(expected) : expected, JSON.stringify(input));
  }
}

t.test('pathNormalizationConfig reads the HCM fields with Envoy defaults', async (t) => {
  t.same(pathNormalizationConfig({}), OFF, 'all off when unset');
  t.same(pathNormalizationConfig({ normalize_path: true, merge_slashes: true }), config({ normalizePath: true, mergeSlashes: true }));
  t.same(pathNormalizationConfig({ normalize_path: false, merge_slashes: false }), OFF);
  t.equal(
    pathNormalizationConfig({ path_with_escaped_slashes_action: 'IMPLEMENTATION_SPECIFIC_DEFAULT' }).escapedSlashesAction,
    'KEEP_UNCHANGED',
    "Envoy's implementation-specific default keeps escaped slashes",
  );
  for (const action of ACTIONS) {
    t.equal(pathNormalizationConfig({ path_with_escaped_slashes_action: action }).escapedSlashesAction, action);
  }
});

t.test('an unchanged path comes back as the same string', async (t) => {
  const everything = { normalizePath: true, mergeSlashes: true };
  const configs = [OFF, NORMALIZE, MERGE, ...ACTIONS.map((escapedSlashesAction) => config({ ...everything, escapedSlashesAction }))];
  // Paths with a '%', a '.' or a '/' that none of the steps changes.
  const paths = ['/', '/api/v1/users', '/a.b/c.d', '/.well-known/x', '/a/...', '/a/..b', '/a/.b/', '/a%20b', '/%2b%3F%c0', '/%zz', '/a%', '/a;b=c'];
  for (const cfg of configs) {
    for (const path of paths) {
      const result = normalizePath(path, cfg);
      t.ok(result.kind === 'ok' && result.path === path, `${JSON.stringify(path)} with ${JSON.stringify(cfg)}`);
    }
  }
  t.same(normalizePath('/a//../b/%2F', OFF), ok('/a//../b/%2F'), 'everything off returns the path untouched');
});

t.test("normalize_path: Envoy's path_utility_test.cc cases", async (t) => {
  table(t, NORMALIZE, [
    ['/xyz', '/xyz'],
    ['/x/y/z', '/x/y/z'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/./c', '/a/b/c'],
    ['a/b/../c', '/a/c'],
    ['/a/b/../../../../c', '/c'],
    ['/a/..\\c', '/c'],
    ['/%c0%af', '/%c0%af'],
    ['/%5c%25', '/%5c%25'],
    ['/a/b/%2E%2E/c', '/a/c'],
    ['/a/b/%2E./c', '/a/c'],
    ['/a/b/%2E/c', '/a/b/c'],
    ['..', '/'],
    ['/../a/b', '/a/b'],
    ['/./a/b', '/a/b'],
    // NormalizeCasePath
    ['/A/B/C', '/A/B/C'],
    ['/a/b/%2e%2e/c', '/a/c'],
    ['/a/%2F%2f/c', '/a/%2F%2f/c'],
    // Dot segments with path parameters (strip_dotdot_segments_with_parameters)
    ['/xyz/..;foo=bar/abc', '/abc'],
    ['/..;foo=bar/abc', '/abc'],
    ['/xyz/..;foo=bar', '/'],
    ['/xyz/.;foo=bar/abc', '/xyz/abc'],
    ['/.;foo=bar/abc', '/abc'],
    ['/xyz/.;foo=bar', '/xyz/'],
    ['/xyz/..;foo=bar/.;v1=2,v2=3/abc', '/abc'],
    ['/..;foo=bar/abc/.;mmm', '/abc/'],
    ['/.;aaa/..;foo=bar/abc/.;mmm', '/abc/'],
    ['/xyz/..;foo=bar/.;fff=zzz', '/'],
    ['/xyz/..;foo=bar/.;fff=zzz/remain;blah-bluh', '/remain;blah-bluh'],
    ['/a/..;foo/b/..;bar/c', '/c'],
    ['/a/..;param1;param2/b', '/b'],
    ['/xyz/..foo', '/xyz/..foo'],
    ['/xyz/...;foo', '/xyz/...;foo'],
    ['/xyz/.foo', '/xyz/.foo'],
    // InvalidPaths: NUL, raw or escaped, fails canonicalization.
    ['/xyz/.%00../abc', REJECTED],
    ['/xyz/%00.%00./abc', REJECTED],
    ['/xyz/AAAAA%%0000/abc', REJECTED],
  ]);
});

t.test("normalize_path: Chromium's canonicalization of characters and escapes", async (t) => {
  table(t, NORMALIZE, [
    ['', '/'],
    ['/%41%62%7e%2D%5f%30', '/Ab~-_0'],
    ['/%2b%2B%3f%23%25', '/%2b%2B%3f%23%25'],
    ['/a%zz/%', '/a%zz/%'],
    ['/a b"<>^`{|}', '/a%20b%22%3C%3E%5E%60%7B%7C%7D'],
    ['/\t\x7f\xe9\xff', '/%09%7F%E9%FF'],
    ["/!$&'()*+,;=:@[]", "/!$&'()*+,;=:@[]"],
    ['/a\\b\\', '/a/b/'],
    ['\\..\\x', '/x'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/a/./', '/a/'],
    ['/a//../b', '/a/b'],
    ['/a/.//b', '/a//b'],
    ['/a.', '/a.'],
    ['/a/.%2e', '/'],
    ['/a/%2e.', '/'],
    ['/%2e%2e/a', '/a'],
    ['/a/%2efoo', '/a/.foo'],
    ['/a\x00', REJECTED],
    ['/a\u0100', REJECTED],
  ]);
});

t.test('normalize_path: escapes nested in an invalid escape cannot decode on a second pass', async (t) => {
  table(t, NORMALIZE, [
    ['/%%30%30', '/%2500'],
    ['/%%30', '/%0'],
    ['/%%414', '/%25A4'],
    ['/%%32f', '/%252f'],
    ['/%2%46', '/%252F'],
    ['/%%3%30', '/%%2530'],
    // As in Chromium, a ".." that backs up over the remembered '%' does not forget it.
    ['/a%/../%41%42%43d', '/AB25Cd'],
  ]);
});

t.test('normalize_path: dot segments with parameters are resolved whatever separates or spells them', async (t) => {
  // Envoy strips parameters only from literal "..;" and ".;" segments after a '/', leaving these
  // for a second pass (or a backend) to resolve differently.
  table(t, NORMALIZE, [
    ['/a/%2e%2e;x/b', '/b'],
    ['/a/.%2e;x', '/'],
    ['/a\\..;x', '/'],
    ['/a/b\\.;x/c', '/a/b/c'],
  ]);
});

t.test("merge_slashes: Envoy's path_utility_test.cc cases", async (t) => {
  table(t, MERGE, [
    ['', ''],
    ['a//b/c', 'a/b/c'],
    ['/a//b/c/', '/a/b/c/'],
    ['a//b/c/', 'a/b/c/'],
    ['/a', '/a'],
    ['//a/b/c', '/a/b/c'],
    ['/a//b/c', '/a/b/c'],
    ['/a/b/c//', '/a/b/c/'],
    ['/a///b/c', '/a/b/c'],
    ['/a////b/c', '/a/b/c'],
    ['//a/', '/a/'],
    // Envoy joins the non-empty segments between a leading and a trailing slash.
    ['//', '//'],
    ['////', '//'],
  ]);
});

t.test("path_with_escaped_slashes_action: Envoy's unescapeSlashes cases", async (t) => {
  table(t, config({ escapedSlashesAction: 'UNESCAPE_AND_FORWARD' }), [
    ['%2f%2F', '//'],
    ['/a%2Fb%2fc/', '/a/b/c/'],
    ['%2b', '%2b'],
    ['/a/b/c', '/a/b/c'],
    ['%2', '%2'],
    ['%', '%'],
    ['/abc%2', '/abc%2'],
    ['/a%2F', '/a/'],
    ['%2fa/', '/a/'],
    ['%%2fa/', '%/a/'],
    ['%2%2fa/', '%2/a/'],
    ['%5c%5C', '\\\\'],
    ['/a%5Cb%5cc/', '/a\\b\\c/'],
    ['/x/%2E%2e/z%2f%2Fabc%5C../def', '/x/%2E%2e/z//abc\\../def'],
    ['%2fa%5Cb%2fc%5c', '/a\\b/c\\'],
    ['/%252F', '/%252F'],
  ]);
});

t.test('each escaped-slash action', async (t) => {
  const expected: Record<EscapedSlashesAction, NormalizedPath> = {
    KEEP_UNCHANGED: ok('/a%2Fb%5c'),
    REJECT_REQUEST: REJECTED,
    UNESCAPE_AND_REDIRECT: { kind: 'redirect', path: '/a/b\\' },
    UNESCAPE_AND_FORWARD: ok('/a/b\\'),
  };
  for (const action of ACTIONS) {
    t.same(normalizePath('/a%2Fb%5c', config({ escapedSlashesAction: action })), expected[action], action);
    t.same(normalizePath('/a/b%2B', config({ escapedSlashesAction: action })), ok('/a/b%2B'), `${action} without escaped slashes`);
  }
});

t.test("the steps run in Envoy's order: escaped slashes, then normalize_path, then merge_slashes", async (t) => {
  const all = (escapedSlashesAction: EscapedSlashesAction) => ({ normalizePath: true, mergeSlashes: true, escapedSlashesAction });
  // conn_manager_impl_test.cc and header_integration_test.cc
  t.same(normalizePath('/abc%5c../', config({ escapedSlashesAction: 'REJECT_REQUEST' })), REJECTED);
  t.same(normalizePath('/abc%2f../', config({ escapedSlashesAction: 'UNESCAPE_AND_REDIRECT' })), { kind: 'redirect', path: '/abc/../' });
  t.same(normalizePath('/abc%2f../%5cdef//', all('UNESCAPE_AND_REDIRECT')), { kind: 'redirect', path: '/def/' });
  t.same(normalizePath('/x/%2E%2e/z%2f%2Fabc%5C../def', all('UNESCAPE_AND_FORWARD')), ok('/z/def'));
  t.same(normalizePath('/private/..%2Fpublic%5c%2e%2Fabc', config({ normalizePath: true, escapedSlashesAction: 'UNESCAPE_AND_FORWARD' })), ok('/public/abc'));
  // Rejection by the escaped-slash action comes before anything else, and a failed
  // normalization rejects even a request that would be redirected.
  t.same(normalizePath('/a%2F%00', all('REJECT_REQUEST')), REJECTED);
  t.same(normalizePath('/a%2F%00', all('UNESCAPE_AND_REDIRECT')), REJECTED);
  // Slashes are merged after dot segments are resolved: "/a/b/..//c" keeps its empty segment
  // through canonicalization.
  t.same(normalizePath('/a/b/..//c', config({ normalizePath: true, mergeSlashes: true })), ok('/a/c'));
  t.same(normalizePath('/a%2F/b', config({ mergeSlashes: true, escapedSlashesAction: 'UNESCAPE_AND_FORWARD' })), ok('/a/b'));
});

t.test('the paths from the issue', async (t) => {
  t.same(normalizePath('/admin/../secret', NORMALIZE), ok('/secret'));
  t.same(normalizePath('//secret', MERGE), ok('/secret'));
  t.same(normalizePath('/admin%2F..%2Fsecret', config({ normalizePath: true, escapedSlashesAction: 'UNESCAPE_AND_FORWARD' })), ok('/secret'));
  t.same(normalizePath('/admin%2F..%2Fsecret', config({ normalizePath: true, escapedSlashesAction: 'REJECT_REQUEST' })), REJECTED);
  t.same(normalizePath('/admin%2F..%2Fsecret', NORMALIZE), ok('/admin%2F..%2Fsecret'), 'kept, one segment, when escaped slashes are kept');
  t.same(normalizePath('/%61dmin', NORMALIZE), ok('/admin'));
  t.same(normalizePath('/public/..;/admin', NORMALIZE), ok('/admin'));
  t.same(normalizePath('/public\\..\\admin', NORMALIZE), ok('/admin'));
});

// Paths from pieces that exercise every branch: separators, dot segments in all spellings,
// escapes valid, invalid, nested and refused, parameters, and arbitrary bytes.
const PIECES = [
  '/', '//', '\\', '.', '..', '...', '%2e', '%2E', ';', ';x=1', 'a', 'B', '~', '%41', '%7e', '%2f', '%2F', '%5c', '%5C',
  '%2b', '%25', '%', '%%', '%3', '%30', '%32', '%34', '1', 'e', '%zz', '%00', ' ', '"', '?', '#', '\xe9',
];
const pathArb = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c))), { maxLength: 24 })
  .map((pieces) => `/${pieces.join('')}`);
const configArb: fc.Arbitrary<PathNormalizationConfig> = fc.record({
  normalizePath: fc.boolean(),
  mergeSlashes: fc.boolean(),
  escapedSlashesAction: fc.constantFrom(...ACTIONS),
});
const RUNS = 5000;

t.test('property: normalization is idempotent, and a redirect goes where the request is then accepted', async (t) => {
  fc.assert(
    fc.property(pathArb, configArb, (path, cfg) => {
      const first = normalizePath(path, cfg);
      if (first.kind === 'reject') return;
      const again = normalizePath(first.path, cfg);
      if (again.kind !== 'ok' || again.path !== first.path) {
        throw new Error(`${JSON.stringify(path)} → ${JSON.stringify(first)} → ${JSON.stringify(again)}`);
      }
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} cases`);
});

t.test('property: what each option guarantees of the result', async (t) => {
  // "." and ".." in any spelling, parameters or not.
  const dotSegment = /^(\.|%2e){1,2}(;.*)?$/i;
  fc.assert(
    fc.property(pathArb, configArb, (path, cfg) => {
      const result = normalizePath(path, cfg);
      if (result.kind === 'reject') return;
      const out = result.path;
      const fail = (why: string) => {
        throw new Error(`${JSON.stringify(path)} → ${JSON.stringify(out)} with ${JSON.stringify(cfg)}: ${why}`);
      };
      if (!out.startsWith('/')) fail('does not start with /');
      // Normalization never creates a query or a fragment, so re-attaching the query is exact.
      if (out.includes('?') && !path.includes('?')) fail('created a ?');
      if (out.includes('#') && !path.includes('#')) fail('created a #');
      if (cfg.mergeSlashes && out.includes('//') && out !== '//') fail('has //');
      if (cfg.normalizePath) {
        if (out.includes('\\')) fail('has a backslash');
        if (/%2e/i.test(out)) fail('has an escaped dot');
        if (out.split('/').some((segment) => dotSegment.test(segment))) fail('has a dot segment');
        if (/[^\x21-\x7e]/.test(out)) fail('has a byte that should have been escaped');
      }
      if (cfg.escapedSlashesAction !== 'KEEP_UNCHANGED' && /%2f|%5c/i.test(out)) fail('has an escaped slash');
      if (result.kind === 'redirect' && cfg.escapedSlashesAction !== 'UNESCAPE_AND_REDIRECT') fail('redirected');
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} cases`);
});

t.test('property: the result does not depend on whether the fast path was taken', async (t) => {
  // Appending a segment that forces the full pipeline ("/x/.." resolves back) must not change
  // what the rest of the path becomes.
  fc.assert(
    fc.property(pathArb, configArb, (path, cfg) => {
      const cfgNormalizing = { ...cfg, normalizePath: true };
      const plain = normalizePath(path, cfgNormalizing);
      const forced = normalizePath(`/x/..${path}`, cfgNormalizing);
      if (plain.kind !== 'reject' && JSON.stringify(plain) !== JSON.stringify(forced)) {
        throw new Error(`${JSON.stringify(path)}: ${JSON.stringify(plain)} vs ${JSON.stringify(forced)}`);
      }
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} cases`);
});
