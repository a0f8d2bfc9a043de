import t from 'tap';
import type { RedirectAction } from '../../../proxy/router/route-configuration';
import { compileRedirect } from '../../../proxy/router/redirect';
import type { RouteRequest } from '../../../proxy/router/route-request';
import { collect, request } from './fixtures/helpers';

function redirect(config: RedirectAction, matchedPrefixLength?: number) {
  const { result, issues } = collect((issues) => compileRedirect(config, matchedPrefixLength, 'r', issues));
  if (result === undefined) throw new Error(JSON.stringify(issues));
  return result;
}

const req = (more: Partial<RouteRequest> = {}) =>
  request({ authority: 'example.com', path: '/a', query: 'b=1', scheme: 'http', ...more });

t.test('Location is built from each field, defaulting to the request', async (t) => {
  const cases: [name: string, config: RedirectAction, r: RouteRequest, location: string][] = [
    ['nothing set: same URL', {}, req(), 'http://example.com/a?b=1'],
    ['https_redirect', { https_redirect: true }, req(), 'https://example.com/a?b=1'],
    ['https_redirect drops the default port of the old scheme', { https_redirect: true }, req({ authority: 'example.com:80' }), 'https://example.com/a?b=1'],
    ['https_redirect keeps another port', { https_redirect: true }, req({ authority: 'example.com:8080' }), 'https://example.com:8080/a?b=1'],
    ['same scheme keeps even the default port', { host_redirect: '' }, req({ authority: 'example.com:80' }), 'http://example.com:80/a?b=1'],
    ['scheme_redirect, lowercased', { scheme_redirect: 'HTTP' }, req({ scheme: 'https', authority: 'example.com:443' }), 'http://example.com/a?b=1'],
    ['IPv6 authority', { https_redirect: true }, req({ authority: '[::1]:80' }), 'https://[::1]/a?b=1'],
    ['host_redirect', { host_redirect: 'new.example.org' }, req({ authority: 'example.com:8080' }), 'http://new.example.org/a?b=1'],
    ['port_redirect replaces the request port', { port_redirect: 8443 }, req({ authority: 'example.com:8080' }), 'http://example.com:8443/a?b=1'],
    ['port_redirect with host_redirect', { host_redirect: 'h', port_redirect: 9000 }, req(), 'http://h:9000/a?b=1'],
    ['path_redirect keeps the query', { path_redirect: '/new' }, req(), 'http://example.com/new?b=1'],
    ['path_redirect with strip_query', { path_redirect: '/new', strip_query: true }, req(), 'http://example.com/new'],
    ['a query in path_redirect replaces the request query', { path_redirect: '/new?x=1' }, req(), 'http://example.com/new?x=1'],
    ['and strip_query does not remove it', { path_redirect: '/new?x=1', strip_query: true }, req(), 'http://example.com/new?x=1'],
    ['path_redirect gets a leading slash', { path_redirect: 'new' }, req({ query: '' }), 'http://example.com/new'],
    ['strip_query alone', { strip_query: true }, req(), 'http://example.com/a'],
    ['regex_rewrite', { regex_rewrite: { pattern: { regex: '^/a$' }, substitution: '/z' } }, req(), 'http://example.com/z?b=1'],
  ];
  for (const [name, config, r, location] of cases) t.equal(redirect(config).location(r), location, name);
});

t.test('prefix_rewrite replaces the prefix the route matched', async (t) => {
  const r = redirect({ prefix_rewrite: '/v2/' }, '/v1/'.length);
  t.equal(r.location(req({ path: '/v1/users' })), 'http://example.com/v2/users?b=1');
});

t.test('response codes', async (t) => {
  t.equal(redirect({}).status, 301, 'MOVED_PERMANENTLY by default');
  const codes: [NonNullable<RedirectAction['response_code']>, number][] = [
    ['MOVED_PERMANENTLY', 301],
    ['FOUND', 302],
    ['SEE_OTHER', 303],
    ['TEMPORARY_REDIRECT', 307],
    ['PERMANENT_REDIRECT', 308],
  ];
  for (const [code, status] of codes) t.equal(redirect({ response_code: code }).status, status, code);
});

t.test('invalid redirects are issues', async (t) => {
  const issues = (config: object) => collect((issues) => compileRedirect(config as RedirectAction, undefined, 'r', issues)).issues;
  t.same(issues({ https_redirect: true, scheme_redirect: 'ftp' }), [
    { path: 'r', message: 'at most one of https_redirect, scheme_redirect may be set' },
  ]);
  t.same(issues({ path_redirect: '/a', prefix_rewrite: '/b' }), [
    { path: 'r', message: 'at most one of path_redirect, prefix_rewrite, regex_rewrite may be set' },
  ]);
  t.same(issues({ port_redirect: 70000 }), [{ path: 'r.port_redirect', message: 'must be a port number' }]);
  t.same(issues({ response_code: 'GONE' }), [{ path: 'r.response_code', message: 'unknown value "GONE"' }]);
  t.same(issues({ regex_rewrite: { pattern: { regex: '(' }, substitution: '' } }).map((i) => i.path), ['r.regex_rewrite.pattern.regex']);
});
