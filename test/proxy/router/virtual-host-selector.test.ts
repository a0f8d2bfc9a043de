import t from 'tap';
import { buildVirtualHostSelector, stripHostPort, type PortStripping } from '../../../proxy/router/virtual-host-selector';
import { collect } from './fixtures/helpers';

function selector(vhosts: Record<string, string[]>, portStripping: PortStripping = undefined) {
  const { result, issues } = collect((issues) =>
    buildVirtualHostSelector(
      Object.entries(vhosts).map(([value, domains], i) => ({ value, domains, path: `vh[${i}]` })),
      portStripping,
      issues,
    ),
  );
  if (issues.length > 0) throw new Error(JSON.stringify(issues));
  return result;
}

t.test('Envoy selection order: exact, longest suffix wildcard, longest prefix wildcard, then *', async (t) => {
  const s = selector({
    exact: ['foo.example.com'],
    suffix: ['*.example.com'],
    longerSuffix: ['*-bar.example.com'],
    noDotSuffix: ['*ample.org'],
    prefix: ['foo.*'],
    longerPrefix: ['foo.example.*'],
    noDotPrefix: ['api*'],
    any: ['*'],
  });
  const cases: [host: string, expected: string][] = [
    ['foo.example.com', 'exact'],
    ['FOO.Example.COM', 'exact'],
    ['baz.example.com', 'suffix'],
    ['foo-bar.example.com', 'longerSuffix'],
    ['x.example.org', 'noDotSuffix'],
    ['foo.example.net', 'longerPrefix'],
    ['foo.other.net', 'prefix'],
    ['apiserver', 'noDotPrefix'],
    ['.example.com', 'any'],
    ['foo.', 'any'],
    ['unknown.net', 'any'],
  ];
  for (const [host, expected] of cases) t.equal(s.select(host), expected, host);
});

t.test('a suffix wildcard wins over a longer prefix wildcard', async (t) => {
  const s = selector({ suffix: ['*.com'], prefix: ['www.example.*'] });
  t.equal(s.select('www.example.com'), 'suffix');
  t.equal(s.select('www.example.net'), 'prefix');
  t.equal(s.select('other.net'), undefined, 'no * virtual host: no match');
});

t.test('ports: tried verbatim unless stripped', async (t) => {
  const domains = { withPort: ['a.com:8080'], plain: ['a.com'], wild: ['*.b.com'], any: ['*'] };
  const verbatim = selector(domains);
  t.equal(verbatim.select('a.com:8080'), 'withPort');
  t.equal(verbatim.select('a.com:9090'), 'any', 'the exact domain does not match with another port');
  t.equal(verbatim.select('x.b.com:9090'), 'any', 'the wildcard does not end with the port either');

  const any = selector(domains, 'any');
  t.equal(any.select('a.com:8080'), 'plain');
  t.equal(any.select('x.b.com:9090'), 'wild');
  t.equal(any.select('[::1]:80'), 'any');

  const listener = selector(domains, 8080);
  t.equal(listener.select('a.com:8080'), 'plain', 'the listener port is stripped');
  t.equal(listener.select('a.com:9090'), 'any', 'other ports are kept');
});

t.test('stripHostPort follows Envoy: numeric ports only, not inside IPv6 brackets', async (t) => {
  t.equal(stripHostPort('a.com:80'), 'a.com');
  t.equal(stripHostPort('a.com'), 'a.com');
  t.equal(stripHostPort('a.com:'), 'a.com:');
  t.equal(stripHostPort('a.com:http'), 'a.com:http');
  t.equal(stripHostPort('[::1]:443'), '[::1]');
  t.equal(stripHostPort('[::1]'), '[::1]');
  t.equal(stripHostPort('a.com:80', 80), 'a.com');
  t.equal(stripHostPort('a.com:81', 80), 'a.com:81');
});

t.test('hundreds of virtual hosts resolve through the lookup maps', async (t) => {
  const vhosts: Record<string, string[]> = {};
  for (let i = 0; i < 500; i++) vhosts[`vh${i}`] = [`svc${i}.ns.svc.cluster.local`, `svc${i}.ns`, `*.svc${i}.example.com`, `svc${i}-*`];
  vhosts.fallback = ['*'];
  const s = selector(vhosts);
  t.equal(s.select('svc123.ns.svc.cluster.local'), 'vh123');
  t.equal(s.select('SVC499.NS'), 'vh499');
  t.equal(s.select('a.b.svc7.example.com'), 'vh7');
  t.equal(s.select('svc42-canary'), 'vh42');
  t.equal(s.select('svc9999.ns'), 'fallback');
});

t.test('duplicate domains are issues, compared case-insensitively', async (t) => {
  const { issues } = collect((issues) =>
    buildVirtualHostSelector(
      [
        { value: 'a', domains: ['A.com', '*', '*.x.com'], path: 'vh[0]' },
        { value: 'b', domains: ['a.COM', '*', 'y.com', '*.X.com'], path: 'vh[1]' },
      ],
      undefined,
      issues,
    ),
  );
  t.same(issues, [
    { path: 'vh[1].domains[0]', message: 'duplicate domain "a.COM" (also at vh[0].domains[0])' },
    { path: 'vh[1].domains[1]', message: 'duplicate domain "*" (also at vh[0].domains[1])' },
    { path: 'vh[1].domains[3]', message: 'duplicate domain "*.X.com" (also at vh[0].domains[2])' },
  ]);
});
