import { hostname } from 'node:os';
import t from 'tap';
import { compileHeaderValue, FormattedValue, type HeaderSide } from '../../../proxy/router/header-formatter';
import type { HeaderContext } from '../../../proxy/router/route-request';
import { collect, context, request } from './fixtures/helpers';

function compiled(value: string, side: HeaderSide = 'request') {
  const { result, issues } = collect((issues) => compileHeaderValue(value, side, 'v', issues));
  if (result === undefined) throw new Error(JSON.stringify(issues));
  return result;
}

function format(value: string, ctx: HeaderContext, headers: string[] = [], side: HeaderSide = 'request'): string {
  const v = compiled(value, side);
  return typeof v === 'string' ? v : v.format(headers, ctx);
}

t.test('values without operators compile to the constant string', async (t) => {
  t.equal(compiled('plain value'), 'plain value');
  t.equal(compiled('100%% sure'), '100% sure', '%% is a literal %');
  t.equal(compiled('host=%HOSTNAME%'), `host=${hostname()}`, '%HOSTNAME% is constant per process');
  t.type(compiled('%PROTOCOL%'), FormattedValue);
});

t.test('each supported command operator', async (t) => {
  const ctx = context({
    request: request({ authority: 'api.example.com', path: '/p', query: 'q=1', method: 'PUT', headers: ['x-a', 'from-request'] }),
    upstreamRemoteAddress: '10.1.1.1',
    upstreamRemotePort: 9000,
  });
  const cases: [value: string, expected: string][] = [
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '10.0.0.1:51000'],
    ['%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.0.0.1'],
    ['%DOWNSTREAM_LOCAL_ADDRESS%', '10.0.0.2:8080'],
    ['%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '10.0.0.2'],
    ['%PROTOCOL%', 'HTTP/1.1'],
    ['%START_TIME%', '2024-01-02T03:04:05.678Z'],
    ['via %PROTOCOL% from %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, 5%%', 'via HTTP/1.1 from 10.0.0.1, 5%'],
    ['%REQ(x-a)%', 'mutated'],
    ['%REQ(X-A)%', 'mutated'],
    ['%REQ(x-missing)%', ''],
    ['%REQ(x-missing?x-a)%', 'mutated'],
    ['%REQ(x-a):3%', 'mut'],
    ['%REQ(:authority)%', 'api.example.com'],
    ['%REQ(:path)%', '/p?q=1'],
    ['%REQ(:method)%', 'PUT'],
  ];
  for (const [value, expected] of cases) t.equal(format(value, ctx, ['x-a', 'mutated', 'x-a', 'second']), expected, value);
});

t.test('IPv6 addresses are bracketed when a port follows', async (t) => {
  const ctx = context({ downstreamRemoteAddress: '::1', downstreamRemotePort: 4000 });
  t.equal(format('%DOWNSTREAM_REMOTE_ADDRESS%', ctx), '[::1]:4000');
  t.equal(format('%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', ctx), '::1');
});

t.test('on the response side %REQ% reads the request, and the upstream address is known', async (t) => {
  const ctx = context({ request: request({ headers: ['x-a', 'request'] }), upstreamRemoteAddress: '10.1.1.1', upstreamRemotePort: 9000 });
  t.equal(format('%REQ(x-a)%', ctx, ['x-a', 'response'], 'response'), 'request');
  t.equal(format('%UPSTREAM_REMOTE_ADDRESS%', ctx, [], 'response'), '10.1.1.1:9000');
  t.equal(format('%UPSTREAM_REMOTE_ADDRESS%', context(), [], 'response'), '', 'empty before an upstream is known');
});

t.test('unknown or malformed operators are issues at compile time', async (t) => {
  const issues = (value: string, side: HeaderSide = 'request') =>
    collect((issues) => compileHeaderValue(value, side, 'v', issues)).issues;
  t.same(issues('%FOO%'), [{ path: 'v', message: '%FOO%: unknown command operator (not supported by meshlet)' }]);
  t.same(issues('a %UPSTREAM_REMOTE_ADDRESS%'), [{ path: 'v', message: '%UPSTREAM_REMOTE_ADDRESS%: is only available in response headers' }]);
  t.same(issues('%UPSTREAM_REMOTE_ADDRESS%', 'response'), []);
  t.same(issues('%REQ()%'), [{ path: 'v', message: '%REQ()%: needs a header name, as in %REQ(x-name)%' }]);
  t.same(issues('%REQ(a?b?c)%'), [{ path: 'v', message: '%REQ(a?b?c)%: expects %REQ(name)% or %REQ(name?alternate)%' }]);
  t.same(issues('%START_TIME(%s)%'), [{ path: 'v', message: '%START_TIME(%s)%: takes no arguments or length in meshlet' }]);
  t.same(issues('50%'), [{ path: 'v', message: 'invalid command operator at position 2 (write %% for a literal %)' }]);
  t.same(issues('%REQ(x'), [{ path: 'v', message: 'invalid command operator at position 0 (write %% for a literal %)' }]);
  t.same(issues('%FOO% and %BAR%').length, 2, 'every operator is reported');
});
