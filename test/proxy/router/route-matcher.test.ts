import fc from 'fast-check';
import t from 'tap';
import type { RouteMatch } from '../../../proxy/router/route-configuration';
import { compileRouteMatch } from '../../../proxy/router/route-matcher';
import type { RouteRequest } from '../../../proxy/router/route-request';
import { collect, request } from './fixtures/helpers';

function matcher(config: RouteMatch) {
  const { result, issues } = collect((issues) => compileRouteMatch(config, 'm', issues));
  if (result === undefined) throw new Error(JSON.stringify(issues));
  return result;
}

const path = (p: string, more: Partial<RouteRequest> = {}) => request({ path: p, ...more });

t.test('path specifiers and case sensitivity', async (t) => {
  const cases: [config: RouteMatch, matching: string[], notMatching: string[]][] = [
    [{ prefix: '/api' }, ['/api', '/api/v1', '/apix'], ['/API', '/ap', '/x/api']],
    [{ prefix: '/api', case_sensitive: false }, ['/API/v1', '/Api'], ['/ap']],
    [{ prefix: '' }, ['/', '/anything'], []],
    [{ path: '/exact' }, ['/exact'], ['/exact/', '/Exact', '/exac']],
    [{ path: '/exact', case_sensitive: false }, ['/EXACT'], ['/exact/']],
    [{ safe_regex: { regex: '/v[0-9]+/users' } }, ['/v1/users', '/v22/users'], ['/v1/users/', '/x/v1/users', '/V1/users']],
    [{ safe_regex: { regex: '/v[0-9]+' }, case_sensitive: false }, ['/v1'], ['/V1']],
    [{ path_separated_prefix: '/api' }, ['/api', '/api/', '/api/v1'], ['/apix', '/ap', '/API']],
    [{ path_separated_prefix: '/api', case_sensitive: false }, ['/API/x'], ['/APIx']],
  ];
  for (const [config, matching, notMatching] of cases) {
    const m = matcher(config);
    for (const p of matching) t.ok(m.matches(path(p)), `${JSON.stringify(config)} matches ${p}`);
    for (const p of notMatching) t.notOk(m.matches(path(p)), `${JSON.stringify(config)} does not match ${p}`);
  }
});

t.test('the path is matched without its query string', async (t) => {
  t.ok(matcher({ path: '/a' }).matches(path('/a', { query: 'x=1' })));
  t.ok(matcher({ safe_regex: { regex: '/a' } }).matches(path('/a', { query: 'x=1' })));
});

t.test('headers and query parameters must all match too', async (t) => {
  const m = matcher({
    prefix: '/',
    headers: [{ name: 'x-env', exact_match: 'canary' }, { name: ':method', exact_match: 'POST' }],
    query_parameters: [{ name: 'debug', present_match: true }],
  });
  const all = { method: 'POST', headers: ['x-env', 'canary'], query: 'debug' };
  t.ok(m.matches(path('/a', all)));
  t.notOk(m.matches(path('/a', { ...all, method: 'GET' })));
  t.notOk(m.matches(path('/a', { ...all, headers: ['x-env', 'prod'] })));
  t.notOk(m.matches(path('/a', { ...all, query: '' })));
});

t.test('prefix_rewrite is told how much of the path a match consumed', async (t) => {
  t.equal(matcher({ prefix: '/api' }).matchedPrefixLength, 4);
  t.equal(matcher({ path_separated_prefix: '/api' }).matchedPrefixLength, 4);
  t.equal(matcher({ path: '/api' }).matchedPrefixLength, undefined, 'the whole path');
  t.equal(matcher({ safe_regex: { regex: '/api' } }).matchedPrefixLength, undefined, 'the whole path');
});

t.test('invalid route matches are issues at their paths', async (t) => {
  const issues = (config: object) => collect((issues) => compileRouteMatch(config as RouteMatch, 'm', issues)).issues;
  const oneOf = 'exactly one of prefix, path, safe_regex, connect_matcher, path_separated_prefix, path_match_policy is required';
  t.same(issues({}), [{ path: 'm', message: oneOf }]);
  t.same(issues({ prefix: '/', path: '/' }), [{ path: 'm', message: oneOf }]);
  t.same(issues({ connect_matcher: {} }), [{ path: 'm.connect_matcher', message: 'not supported by meshlet' }]);
  t.same(issues({ prefix: '/', grpc: {}, tls_context: { presented: true }, runtime_fraction: {} }), [
    { path: 'm.grpc', message: 'not supported by meshlet' },
    { path: 'm.tls_context', message: 'not supported by meshlet' },
    { path: 'm.runtime_fraction', message: 'not supported by meshlet' },
  ]);
  t.same(issues({ path_separated_prefix: '/api/' }), [
    { path: 'm.path_separated_prefix', message: 'must not be empty, contain ? or #, or end with /' },
  ]);
  t.same(
    issues({ prefix: '/', headers: [{ name: 'a' }, { name: 'b', safe_regex_match: { regex: '(?=x)' } }] }).map((i) => i.path),
    ['m.headers[1].safe_regex_match.regex'],
  );
  t.same(issues({ prefix: '/', query_parameters: [{ string_match: { exact: 'x' } }] }), [
    { path: 'm.query_parameters[0].name', message: 'is required' },
  ]);
});

t.test('property: a path that does not start with the prefix never matches the prefix route', async (t) => {
  const segment = fc.string({ unit: fc.constantFrom('a', 'b', 'A', '/', '-', '%', 'é'), maxLength: 8 });
  fc.assert(
    fc.property(segment, segment, (prefix, p) => {
      fc.pre(!p.startsWith(prefix));
      return !matcher({ prefix }).matches(path(p));
    }),
  );
  fc.assert(
    fc.property(segment, segment, (prefix, rest) => matcher({ prefix }).matches(path(prefix + rest))),
  );
  t.pass('both properties held');
});
