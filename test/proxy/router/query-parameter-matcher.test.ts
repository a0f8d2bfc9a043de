import t from 'tap';
import { compileQueryParameterMatcher } from '../../../proxy/router/query-parameter-matcher';
import type { QueryParameterMatcher } from '../../../proxy/router/route-configuration';
import { queryParameterValue } from '../../../proxy/router/route-request';
import { collect } from './fixtures/helpers';

function matches(config: QueryParameterMatcher, query: string): boolean {
  const { result, issues } = collect((issues) => compileQueryParameterMatcher(config, 'q', issues));
  if (result === undefined) throw new Error(JSON.stringify(issues));
  return result.matches(query);
}

t.test('query parameters are read undecoded, first value wins', async (t) => {
  t.equal(queryParameterValue('a=1&b=2&a=3', 'a'), '1');
  t.equal(queryParameterValue('a=1&b=2', 'b'), '2');
  t.equal(queryParameterValue('flag&b=2', 'flag'), '', 'a parameter without = has an empty value');
  t.equal(queryParameterValue('ab=1', 'a'), undefined, 'names match whole');
  t.equal(queryParameterValue('x=a%20b', 'x'), 'a%20b');
  t.equal(queryParameterValue('', 'a'), undefined);
  t.equal(queryParameterValue('a=b=c', 'a'), 'b=c');
});

t.test('string_match and present_match', async (t) => {
  const cases: [config: QueryParameterMatcher, query: string, expected: boolean][] = [
    [{ name: 'debug', string_match: { exact: '1' } }, 'debug=1', true],
    [{ name: 'debug', string_match: { exact: '1' } }, 'debug=2', false],
    [{ name: 'debug', string_match: { exact: '1' } }, 'x=1', false],
    [{ name: 'debug', string_match: { exact: '1' } }, 'debug=2&debug=1', false],
    [{ name: 'v', string_match: { prefix: 'B', ignore_case: true } }, 'v=beta', true],
    [{ name: 'debug', present_match: true }, 'debug', true],
    [{ name: 'debug', present_match: true }, 'other=1', false],
    [{ name: 'debug', present_match: false }, 'other=1', true],
    [{ name: 'debug', present_match: false }, 'debug=1', false],
    [{ name: 'debug' }, 'debug=anything', true],
    [{ name: 'debug' }, '', false],
  ];
  for (const [config, query, expected] of cases) {
    t.equal(matches(config, query), expected, `${JSON.stringify(config)} on ${JSON.stringify(query)}`);
  }
});

t.test('invalid query parameter matchers are issues', async (t) => {
  const issues = (config: object) =>
    collect((issues) => compileQueryParameterMatcher(config as QueryParameterMatcher, 'q', issues)).issues;
  t.same(issues({ present_match: true }), [{ path: 'q.name', message: 'is required' }]);
  t.same(issues({ name: 'a', present_match: true, string_match: { exact: 'x' } }), [
    { path: 'q', message: 'at most one of string_match, present_match may be set' },
  ]);
  t.same(issues({ name: 'a', string_match: { suffix: '' } }), [{ path: 'q.string_match.suffix', message: 'must not be empty' }]);
});
