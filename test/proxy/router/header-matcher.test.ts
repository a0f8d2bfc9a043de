import t from 'tap';
import { compileHeaderMatcher } from '../../../proxy/router/header-matcher';
import type { HeaderMatcher } from '../../../proxy/router/route-configuration';
import type { RouteRequest } from '../../../proxy/router/route-request';
import { collect, request } from './fixtures/helpers';

function matches(config: HeaderMatcher, req: RouteRequest): boolean {
  const { result, issues } = collect((issues) => compileHeaderMatcher(config, 'h', issues));
  if (result === undefined) throw new Error(JSON.stringify(issues));
  return result.matches(req);
}

const withHeaders = (...headers: string[]) => request({ headers });
const none = withHeaders();

t.test('each kind of header match, with and without invert_match', async (t) => {
  const cases: [name: string, config: HeaderMatcher, req: RouteRequest, expected: boolean][] = [
    ['exact_match', { name: 'x', exact_match: 'a' }, withHeaders('x', 'a'), true],
    ['exact_match mismatch', { name: 'x', exact_match: 'a' }, withHeaders('x', 'b'), false],
    ['exact_match inverted', { name: 'x', exact_match: 'a', invert_match: true }, withHeaders('x', 'b'), true],
    ['legacy empty exact_match accepts any value', { name: 'x', exact_match: '' }, withHeaders('x', 'zz'), true],
    ['string_match exact', { name: 'x', string_match: { exact: 'A', ignore_case: true } }, withHeaders('x', 'a'), true],
    ['string_match prefix', { name: 'x', string_match: { prefix: 'ab' } }, withHeaders('x', 'abc'), true],
    ['string_match suffix', { name: 'x', string_match: { suffix: 'bc' } }, withHeaders('x', 'abc'), true],
    ['string_match contains', { name: 'x', string_match: { contains: 'b' } }, withHeaders('x', 'abc'), true],
    ['string_match safe_regex', { name: 'x', string_match: { safe_regex: { regex: '\\d{3}' } } }, withHeaders('x', '1234'), false],
    ['regex inverted (Envoy doc example)', { name: 'x', safe_regex_match: { regex: '\\d{3}' }, invert_match: true }, withHeaders('x', '1234'), true],
    ['prefix_match', { name: 'x', prefix_match: 'abcd' }, withHeaders('x', 'abcdxyz'), true],
    ['prefix_match mismatch', { name: 'x', prefix_match: 'abcd' }, withHeaders('x', 'abcxyz'), false],
    ['suffix_match', { name: 'x', suffix_match: 'abcd' }, withHeaders('x', 'xyzabcd'), true],
    ['contains_match', { name: 'x', contains_match: 'abcd' }, withHeaders('x', 'xyzabcdpqr'), true],
    ['range_match inside [-10,0)', { name: 'x', range_match: { start: -10, end: 0 } }, withHeaders('x', '-1'), true],
    ['range_match end is exclusive', { name: 'x', range_match: { start: -10, end: 0 } }, withHeaders('x', '0'), false],
    ['range_match not an integer', { name: 'x', range_match: { start: -10, end: 0 } }, withHeaders('x', '-1somestring'), false],
    ['range_match float', { name: 'x', range_match: { start: 0, end: 20 } }, withHeaders('x', '10.9'), false],
    ['range_match inverted (Envoy doc example)', { name: 'x', range_match: { start: -10, end: 0 }, invert_match: true }, withHeaders('x', '-1'), false],
    ['present_match present', { name: 'x', present_match: true }, withHeaders('x', ''), true],
    ['present_match missing', { name: 'x', present_match: true }, none, false],
    ['present_match false, missing', { name: 'x', present_match: false }, none, true],
    ['present_match false, present', { name: 'x', present_match: false }, withHeaders('x', 'v'), false],
    ['present_match inverted, missing', { name: 'x', present_match: true, invert_match: true }, none, true],
    ['no specifier means present', { name: 'x' }, withHeaders('x', 'v'), true],
    ['no specifier, missing', { name: 'x' }, none, false],
  ];
  for (const [name, config, req, expected] of cases) t.equal(matches(config, req), expected, name);
});

t.test('a missing header fails value matches even when inverted, unless treated as empty', async (t) => {
  const range = { name: 'header1', range_match: { start: 0, end: 10 }, invert_match: true };
  t.equal(matches(range, none), false, 'header2 example: missing header does not match');
  t.equal(matches({ ...range, treat_missing_header_as_empty: true }, none), true, 'header1 example: empty does not match the range, so inverted it matches');
  const emptyRegex = { name: 'x', string_match: { safe_regex: { regex: '^$' } } };
  t.equal(matches(emptyRegex, none), false, 'header4 example');
  t.equal(matches({ ...emptyRegex, treat_missing_header_as_empty: true }, none), true, 'header3 example');
});

t.test('repeated headers are joined with "," before matching', async (t) => {
  const req = withHeaders('x', 'a', 'y', 'z', 'x', 'b');
  t.ok(matches({ name: 'x', exact_match: 'a,b' }, req));
  t.notOk(matches({ name: 'x', exact_match: 'a' }, req));
});

t.test('names are case-insensitive and pseudo-headers come from the request', async (t) => {
  const req = request({ method: 'POST', authority: 'api.example.com', path: '/a', query: 'b=1', scheme: 'https', headers: ['x-up', 'v'] });
  t.ok(matches({ name: 'X-Up', exact_match: 'v' }, req));
  t.ok(matches({ name: ':method', exact_match: 'POST' }, req));
  t.ok(matches({ name: ':authority', exact_match: 'api.example.com' }, req));
  t.ok(matches({ name: ':path', exact_match: '/a?b=1' }, req), ':path carries the query');
  t.ok(matches({ name: ':path', exact_match: '/a' }, request({ path: '/a' })));
  t.ok(matches({ name: ':scheme', exact_match: 'https' }, req));
});

t.test('invalid header matchers are issues', async (t) => {
  const issues = (config: object) => collect((issues) => compileHeaderMatcher(config as HeaderMatcher, 'h', issues)).issues;
  t.same(issues({ exact_match: 'a' }), [{ path: 'h.name', message: 'is required' }]);
  t.same(issues({ name: 'x', prefix_match: '' }), [{ path: 'h.prefix_match', message: 'must not be empty; use present_match' }]);
  t.same(issues({ name: 'x', exact_match: 'a', present_match: true }), [
    {
      path: 'h',
      message:
        'at most one of exact_match, safe_regex_match, range_match, present_match, prefix_match, suffix_match, contains_match, string_match may be set',
    },
  ]);
  t.same(issues({ name: 'x', string_match: { prefix: 'a', custom: {} } }), [
    { path: 'h.string_match.custom', message: 'not supported by meshlet' },
    { path: 'h.string_match', message: 'exactly one of exact, prefix, suffix, safe_regex, contains, custom is required' },
  ]);
  t.same(issues({ name: 'x', safe_regex_match: { regex: '(' } }).map((i) => i.path), ['h.safe_regex_match.regex']);
});
