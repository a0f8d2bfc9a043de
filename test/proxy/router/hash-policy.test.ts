import t from 'tap';
import { compileHashPolicy } from '../../../proxy/router/hash-policy';
import type { HashPolicy } from '../../../proxy/router/route-configuration';
import type { RouteRequest } from '../../../proxy/router/route-request';
import { collect, context, request } from './fixtures/helpers';

function key(policies: HashPolicy[], req: RouteRequest, remote = '10.0.0.1'): string | undefined {
  const { result, issues } = collect((issues) => compileHashPolicy(policies, 'hp', issues));
  if (issues.length > 0) throw new Error(JSON.stringify(issues));
  return result?.key(req, context({ request: req, downstreamRemoteAddress: remote }));
}

t.test('each hash policy yields the string to hash', async (t) => {
  const req = request({
    authority: 'a.example.com',
    query: 'user=42&x',
    headers: ['x-user', 'alice', 'cookie', 'theme=dark; session="abc123"', 'cookie', 'session=later'],
  });
  const cases: [name: string, policies: HashPolicy[], expected: string | undefined][] = [
    ['header', [{ header: { header_name: 'X-User' } }], 'alice'],
    ['missing header', [{ header: { header_name: 'x-none' } }], undefined],
    ['pseudo-header', [{ header: { header_name: ':authority' } }], 'a.example.com'],
    ['header with regex_rewrite', [{ header: { header_name: ':authority', regex_rewrite: { pattern: { regex: '^([^.]+)\\..*' }, substitution: '\\1' } } }], 'a'],
    ['cookie, unquoted, first cookie header wins', [{ cookie: { name: 'session' } }], 'abc123'],
    ['cookie by exact name', [{ cookie: { name: 'them' } }], undefined],
    ['source ip', [{ connection_properties: { source_ip: true } }], '10.0.0.1'],
    ['source_ip false adds nothing', [{ connection_properties: { source_ip: false } }], undefined],
    ['query parameter', [{ query_parameter: { name: 'user' } }], '42'],
    ['query parameter without value hashes ""', [{ query_parameter: { name: 'x' } }], ''],
    ['missing query parameter', [{ query_parameter: { name: 'none' } }], undefined],
  ];
  for (const [name, policies, expected] of cases) t.equal(key(policies, req), expected, name);
});

t.test('several policies combine in order; a terminal one that produced a key stops', async (t) => {
  const req = request({ query: 'a=1', headers: ['x-a', 'h'] });
  const header = { header: { header_name: 'x-a' } };
  const query = { query_parameter: { name: 'a' } };
  t.equal(key([header, query], req), 'h\x001');
  t.equal(key([query, header], req), '1\0h', 'order matters');
  t.equal(key([{ ...header, terminal: true }, query], req), 'h');
  t.equal(key([{ header: { header_name: 'none' }, terminal: true }, query], req), '1', 'a terminal policy without a key does not stop');
  t.equal(key([header, header], req), 'h\0h', 'duplicate policies do not cancel out');
});

t.test('repeated header values hash the same in any order', async (t) => {
  const policy = [{ header: { header_name: 'x' } }];
  t.equal(key(policy, request({ headers: ['x', 'b', 'x', 'a'] })), key(policy, request({ headers: ['x', 'a', 'x', 'b'] })));
  t.equal(key(policy, request({ headers: ['x', 'b', 'x', 'a'] })), 'a\0b');
});

t.test('empty cookie values and unknown source addresses give no key', async (t) => {
  t.equal(key([{ cookie: { name: 's' } }], request({ headers: ['cookie', 's='] })), undefined);
  t.equal(key([{ connection_properties: { source_ip: true } }], request(), ''), undefined);
});

t.test('invalid hash policies are issues', async (t) => {
  const issues = (policies: object[]) => collect((issues) => compileHashPolicy(policies as HashPolicy[], 'hp', issues)).issues;
  t.same(issues([{ cookie: { name: 'c', ttl: 1000, path: '/' } }]), [
    { path: 'hp[0].cookie.ttl', message: 'not supported by meshlet' },
    { path: 'hp[0].cookie.path', message: 'not supported by meshlet' },
  ]);
  t.same(issues([{ filter_state: { key: 'k' } }]), [{ path: 'hp[0].filter_state', message: 'not supported by meshlet' }]);
  t.same(issues([{ terminal: true }]), [
    { path: 'hp[0]', message: 'exactly one of header, cookie, connection_properties, query_parameter, filter_state is required' },
  ]);
  t.same(issues([{ header: {} }]), [{ path: 'hp[0].header.header_name', message: 'is required' }]);
});
