import t from 'tap';
import type { StringMatcher } from '../../../proxy/router/route-configuration';
import { compileStringMatcher } from '../../../proxy/router/string-matcher';
import { collect } from './fixtures/helpers';

function matcher(config: StringMatcher) {
  const { result, issues } = collect((issues) => compileStringMatcher(config, 'sm', issues));
  if (result === undefined) throw new Error(JSON.stringify(issues));
  return result;
}

t.test('each pattern, case-sensitive and with ignore_case', async (t) => {
  const cases: [config: StringMatcher, matching: string[], notMatching: string[]][] = [
    [{ exact: 'Foo' }, ['Foo'], ['foo', 'Foo ', '']],
    [{ exact: 'Foo', ignore_case: true }, ['foo', 'FOO'], ['fo', 'fooo']],
    [{ exact: '' }, [''], ['x']],
    [{ prefix: 'Ab' }, ['Ab', 'Abc'], ['ab', 'A']],
    [{ prefix: 'Ab', ignore_case: true }, ['aB', 'abc'], ['a', 'xab']],
    [{ suffix: '.COM' }, ['a.COM'], ['a.com', 'COM']],
    [{ suffix: '.COM', ignore_case: true }, ['a.com', '.Com'], ['com', 'a.co']],
    [{ contains: 'Mid' }, ['aMidb', 'Mid'], ['amidb', 'Mi']],
    [{ contains: 'Mid', ignore_case: true }, ['aMIDb', 'xxmid'], ['mi', 'm-id']],
    [{ safe_regex: { regex: 'a+b' } }, ['ab', 'aaab'], ['xab', 'abx', 'AB']],
  ];
  for (const [config, matching, notMatching] of cases) {
    const m = matcher(config);
    for (const s of matching) t.ok(m.matches(s), `${JSON.stringify(config)} matches ${JSON.stringify(s)}`);
    for (const s of notMatching) t.notOk(m.matches(s), `${JSON.stringify(config)} does not match ${JSON.stringify(s)}`);
  }
});

t.test('ignore_case folds ASCII only, as Envoy does', async (t) => {
  t.notOk(matcher({ exact: 'k', ignore_case: true }).matches('\u212a'), 'the Kelvin sign, which toLowerCase() maps to k');
  t.notOk(matcher({ exact: 'é', ignore_case: true }).matches('É'), 'non-ASCII letters keep their case');
  t.ok(matcher({ exact: 'é-A', ignore_case: true }).matches('é-a'));
});

t.test('invalid matchers are issues at the offending field', async (t) => {
  const issues = (config: object) => collect((issues) => compileStringMatcher(config as StringMatcher, 'sm', issues)).issues;
  t.same(issues({ safe_regex: { regex: 'a' }, ignore_case: true }), [
    { path: 'sm.ignore_case', message: 'has no effect for safe_regex' },
  ]);
  t.same(issues({ prefix: '' }), [{ path: 'sm.prefix', message: 'must not be empty' }]);
  t.same(issues({ exact: 'a', prefix: 'b' }), [
    { path: 'sm', message: 'exactly one of exact, prefix, suffix, safe_regex, contains, custom is required' },
  ]);
  t.same(issues({ custom: { name: 'x' } }), [{ path: 'sm.custom', message: 'not supported by meshlet' }]);
});
