import t from 'tap';
import { compilePathRewrite, type PathRewriteFields } from '../../../proxy/router/path-rewrite';
import { collect } from './fixtures/helpers';

function rewrite(config: PathRewriteFields, matchedPrefixLength: number | undefined, path: string): string {
  const { result, issues } = collect((issues) => compilePathRewrite(config, matchedPrefixLength, 'r', issues));
  if (issues.length > 0) throw new Error(JSON.stringify(issues));
  return result === undefined ? path : result.rewrite(path);
}

t.test('prefix_rewrite replaces the matched prefix (Envoy documentation examples)', async (t) => {
  // match prefix "/prefix", prefix_rewrite "/"
  t.equal(rewrite({ prefix_rewrite: '/' }, '/prefix'.length, '/prefix/etc'), '//etc');
  t.equal(rewrite({ prefix_rewrite: '/' }, '/prefix'.length, '/prefixetc'), '/etc');
  // match prefix "/prefix/", prefix_rewrite "/"
  t.equal(rewrite({ prefix_rewrite: '/' }, '/prefix/'.length, '/prefix/etc'), '/etc');
  t.equal(rewrite({ prefix_rewrite: '/v2/' }, '/v1/'.length, '/V1/users'), '/v2/users', 'case-insensitive matches keep the remainder');
});

t.test('prefix_rewrite on a path or regex match replaces the whole path', async (t) => {
  t.equal(rewrite({ prefix_rewrite: '/new' }, undefined, '/old/exact'), '/new');
});

t.test('an empty prefix_rewrite rewrites nothing, as in Envoy', async (t) => {
  t.equal(collect((issues) => compilePathRewrite({ prefix_rewrite: '' }, 3, 'r', issues)).result, undefined);
});

t.test('regex_rewrite replaces every match in the whole path', async (t) => {
  const config = { regex_rewrite: { pattern: { regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' } };
  t.equal(rewrite(config, 1, '/service/foo/v1/api'), '/v1/api/instance/foo');
  t.equal(rewrite({ regex_rewrite: { pattern: { regex: 'one' }, substitution: 'two' } }, undefined, '/xxx/one/yyy/one/zzz'), '/xxx/two/yyy/two/zzz');
  t.equal(rewrite(config, 1, '/other'), '/other', 'no match, no change');
});

t.test('prefix_rewrite and regex_rewrite together is an issue', async (t) => {
  const { issues } = collect((issues) =>
    compilePathRewrite({ prefix_rewrite: '/', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } }, 1, 'r', issues),
  );
  t.same(issues, [{ path: 'r', message: 'cannot specify both prefix_rewrite and regex_rewrite' }]);
});
