import t from 'tap';
import { compileFullMatchRegex, compileRegexSubstitution, translateRe2 } from '../../../proxy/router/re2';
import { collect } from './fixtures/helpers';

function fullMatch(regex: string): RegExp {
  const { result, issues } = collect((issues) => compileFullMatchRegex({ regex }, 'm', issues));
  if (result === undefined) throw new Error(`${regex}: ${JSON.stringify(issues)}`);
  return result;
}

t.test('RE2 syntax translates to a full-match JS regex with the same meaning', async (t) => {
  const cases: [regex: string, matching: string[], notMatching: string[]][] = [
    ['\\d{3}', ['123'], ['1234', '12', 'a23']],
    ['a|b', ['a', 'b'], ['ab', '']],
    ['(?i)abc', ['ABC', 'aBc'], ['abd']],
    ['(?s).+', ['a\nb'], ['']],
    ['(?m)a.c', ['abc'], ['a\nc', 'abc\n']],
    ['\\Aabc\\z', ['abc'], ['abc\n']],
    ['(?P<id>\\d+)-(?<n>x)', ['12-x'], ['-x']],
    ['[[:alpha:]]+', ['abc'], ['a1']],
    ['[^[:digit:]]', ['y'], ['1']],
    ['\\Qa.b*\\E', ['a.b*'], ['axbb']],
    ['\\x{41}\\x42\\103', ['ABC'], ['abc']],
    ['a{,2}', ['a{,2}'], ['aa']],
    ['a{2,}b{1,2}', ['aab', 'aaabb'], ['ab', 'aabbb']],
    ['x}]', ['x}]'], []],
    ['\\s', [' ', '\t'], ['\v', '\u00a0']],
    ['[\\s]x', [' x'], ['\vx']],
    ['\\pL+', ['héllo'], ['h1']],
    ['\\p{Greek}', ['α'], ['a']],
    ['\\PN', ['a'], ['1']],
    ['.', ['😀'], ['\n']],
    ['[]a]+', [']a]'], ['b']],
    ['[^]a]', ['b'], [']', 'a']],
    ['\\-\\.\\/', ['-./'], []],
    ['[a\\-z]', ['-', 'a', 'z'], ['b']],
    ['[a-]', ['-'], ['b']],
    ['a*?b+?c??', ['aabbc', 'b'], ['c']],
    ['(a|b)*', ['', 'abba'], ['abc']],
  ];
  for (const [regex, matching, notMatching] of cases) {
    const re = fullMatch(regex);
    for (const s of matching) t.ok(re.test(s), `${regex} matches ${JSON.stringify(s)}`);
    for (const s of notMatching) t.notOk(re.test(s), `${regex} does not match ${JSON.stringify(s)}`);
  }
});

t.test('a leading (?m) still anchors at the ends of the whole value', async (t) => {
  const re = fullMatch('(?m)^a$');
  t.ok(re.test('a'));
  t.notOk(re.test('a\nb'), 'a line match is not a full match');
});

t.test('syntax RE2 lacks or that JS would read differently is rejected', async (t) => {
  const cases: [regex: string, message: RegExp][] = [
    ['(a)\\1', /backreferences are not supported by RE2/],
    ['(?P<n>a)(?P=n)', /backreferences/],
    ['a(?=b)', /lookaround/],
    ['a(?!b)', /lookaround/],
    ['(?<=a)b', /lookaround/],
    ['(?<!a)b', /lookaround/],
    ['a(?i)b', /inline flags are only supported by meshlet as a leading/],
    ['(?i:a)b', /inline flags/],
    ['(?U)a+', /inline flags/],
    ['a**', /repetition operator/],
    ['*a', /repetition operator/],
    ['^*', /repetition operator/],
    ['a{1001}', /bad repetition operator \{1001\}/],
    ['a{3,2}', /bad repetition operator/],
    ['\\k<n>', /invalid escape sequence \\k/],
    ['\\u0041', /invalid escape sequence \\u/],
    ['a\\Z', /invalid escape sequence \\Z/],
    ['\\C', /invalid escape sequence \\C/],
    ['\\cA', /invalid escape sequence \\c/],
    ['(a', /missing \)/],
    ['a)', /unexpected \)/],
    ['[a', /missing \]/],
    ['[z-a]', /bad character class range/],
    ['[\\d-z]', /bad character class range/],
    ['[[:foo:]]', /invalid character class \[:foo:\]/],
    ['[\\S]', /\\S inside \[\.\.\.\] is not supported/],
    ['[[:^alpha:]x]', /negated POSIX classes inside \[\.\.\.\] are not supported by meshlet/],
    ['\\p{Nonsense}', /Invalid property name/],
    ['a\\', /trailing/],
  ];
  for (const [regex, message] of cases) {
    const result = translateRe2(regex);
    t.ok('error' in result && message.test(result.error), `${regex} → ${JSON.stringify(result)}`);
  }
});

t.test('a bad regex becomes an issue at the regex field', async (t) => {
  const { result, issues } = collect((issues) => compileFullMatchRegex({ regex: 'a(?=b)' }, 'x.safe_regex', issues));
  t.equal(result, undefined);
  t.same(issues.map((i) => i.path), ['x.safe_regex.regex']);
  t.match(issues[0]!.message, /^invalid or unsupported RE2 regex "a\(\?=b\)": lookaround/);
  t.same(
    collect((issues) => compileFullMatchRegex({ regex: '' }, 'x', issues)).issues,
    [{ path: 'x.regex', message: 'must not be empty' }],
  );
  t.same(
    collect((issues) => compileFullMatchRegex({ regex: 'a', google_re2: { max_program_size: 10 } as never }, 'x', issues)).issues,
    [{ path: 'x.google_re2.max_program_size', message: 'not supported by meshlet' }],
  );
});

t.test('regex substitution follows RE2::GlobalReplace (Envoy documentation examples)', async (t) => {
  const rewrite = (regex: string, substitution: string, input: string): string => {
    const { result, issues } = collect((issues) => compileRegexSubstitution({ pattern: { regex }, substitution }, 'r', issues));
    if (result === undefined) throw new Error(JSON.stringify(issues));
    return result.replaceAll(input);
  };
  t.equal(rewrite('^/service/([^/]+)(/.*)$', '\\2/instance/\\1', '/service/foo/v1/api'), '/v1/api/instance/foo');
  t.equal(rewrite('one', 'two', '/xxx/one/yyy/one/zzz'), '/xxx/two/yyy/two/zzz');
  t.equal(rewrite('^(.*?)one(.*)$', '\\1two\\2', '/xxx/one/yyy/one/zzz'), '/xxx/two/yyy/one/zzz');
  t.equal(rewrite('(?i)/xxx/', '/yyy/', '/XXX/a/xxx/'), '/yyy/a/yyy/');
  t.equal(rewrite('(a)', '\\10', 'a'), 'a0', '\\1 followed by a literal 0');
  t.equal(rewrite('(a)', '$1\\\\\\0', 'a'), '$1\\a', '$ is literal, \\\\ is a backslash, \\0 the whole match');
});

t.test('a substitution naming a missing group, or a stray backslash, is an issue', async (t) => {
  const issues = (substitution: string) =>
    collect((issues) => compileRegexSubstitution({ pattern: { regex: '(a)' }, substitution }, 'r', issues)).issues;
  t.same(issues('\\2'), [
    { path: 'r.substitution', message: 'rewrite "\\\\2" references group \\2 but the pattern has 1 capture group(s)' },
  ]);
  t.match(issues('\\x'), [{ path: 'r.substitution', message: /a backslash must be followed by a digit or a backslash/ }]);
  t.same(collect((i) => compileRegexSubstitution({ substitution: 'x' }, 'r', i)).issues, [
    { path: 'r.pattern', message: 'is required' },
  ]);
});
