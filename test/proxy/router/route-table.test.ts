import t from 'tap';
import { ConfigError } from '../../../xds/config-error';
import type { HeaderValueOption, Route, RouteConfiguration } from '../../../proxy/router/route-configuration';
import { compile, context, issuesOf, request, withRoutes } from './fixtures/helpers';

const toCluster = (cluster: string) => ({ cluster });

t.test('virtual host selection then the first matching route', async (t) => {
  const table = compile({
    name: 'rc',
    virtual_hosts: [
      {
        name: 'api',
        domains: ['api.example.com'],
        routes: [
          { match: { prefix: '/v1/special' }, route: toCluster('special'), name: 'special' },
          { match: { prefix: '/v1' }, route: toCluster('v1') },
          { match: { prefix: '/' }, route: toCluster('default') },
        ],
      },
      { name: 'other', domains: ['*'], routes: [{ match: { path: '/only' }, route: toCluster('other') }] },
    ],
  });
  t.equal(table.name, 'rc');
  const special = table.route(request({ authority: 'api.example.com', path: '/v1/special/x' }))!;
  t.equal(special.name, 'special');
  t.equal(special.selectCluster(0).name, 'special');
  const v1 = table.route(request({ authority: 'API.example.com', path: '/v1/x' }))!;
  t.equal(v1.name, 'api/1', 'an unnamed route is named after its virtual host and index');
  t.equal(v1.virtualHostName, 'api');
  t.equal(v1.kind, 'cluster');
  t.equal(table.route(request({ authority: 'api.example.com', path: '/zzz' }))!.selectCluster(0).name, 'default');
  t.equal(table.route(request({ authority: 'elsewhere', path: '/only' }))!.name, 'other/0');
  t.equal(table.route(request({ authority: 'elsewhere', path: '/nope' })), undefined, 'no route in the chosen virtual host');
  t.equal(table.selectVirtualHost('elsewhere')!.name, 'other');
  t.equal(table.selectVirtualHost('api.example.com')!.routes.length, 3);
});

t.test('first match wins even when a later route matches more specifically', async (t) => {
  const table = compile(
    withRoutes([
      { match: { prefix: '/' }, route: toCluster('catch-all') },
      { match: { path: '/exact' }, route: toCluster('exact') },
    ]),
  );
  t.equal(table.route(request({ path: '/exact' }))!.selectCluster(0).name, 'catch-all');
});

t.test('port handling options reach virtual host selection', async (t) => {
  const config: RouteConfiguration = {
    virtual_hosts: [
      { name: 'plain', domains: ['a.com'], routes: [{ match: { prefix: '/' }, route: toCluster('plain') }] },
      { name: 'any', domains: ['*'], routes: [{ match: { prefix: '/' }, route: toCluster('any') }] },
    ],
  };
  const vh = (options: object, authority: string, cfg = config) => compile(cfg, options).selectVirtualHost(authority)!.name;
  t.equal(vh({}, 'a.com:8080'), 'any');
  t.equal(vh({ stripAnyHostPort: true }, 'a.com:8080'), 'plain');
  t.equal(vh({ stripMatchingHostPort: 8080 }, 'a.com:8080'), 'plain');
  t.equal(vh({ stripMatchingHostPort: 8080 }, 'a.com:9090'), 'any');
  t.equal(vh({}, 'a.com:9090', { ...config, ignore_port_in_host_matching: true }), 'plain');
});

t.test('host rewrite flags, timeout and retry policy', async (t) => {
  const retry = { retry_on: '5xx', num_retries: 2 };
  const table = compile({
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        retry_policy: { retry_on: 'connect-failure' },
        routes: [
          { match: { path: '/literal' }, route: { cluster: 'c', host_rewrite_literal: 'upstream.internal', timeout: 2500, retry_policy: retry } },
          { match: { path: '/auto' }, route: { cluster: 'c', auto_host_rewrite: true, timeout: 0 } },
          { match: { path: '/plain' }, route: { cluster: 'c', host_rewrite_literal: '' } },
        ],
      },
    ],
  });
  const literal = table.route(request({ path: '/literal' }))!;
  t.equal(literal.hostRewriteLiteral, 'upstream.internal');
  t.equal(literal.autoHostRewrite, false);
  t.equal(literal.timeoutMs, 2500);
  t.same(literal.retryPolicy, retry, 'the raw retry policy is passed through');
  const auto = table.route(request({ path: '/auto' }))!;
  t.equal(auto.hostRewriteLiteral, undefined);
  t.equal(auto.autoHostRewrite, true);
  t.equal(auto.timeoutMs, 0, '0 disables the timeout');
  t.same(auto.retryPolicy, { retry_on: 'connect-failure' }, "the virtual host's retry policy applies otherwise");
  const plain = table.route(request({ path: '/plain' }))!;
  t.equal(plain.hostRewriteLiteral, undefined, 'an empty literal rewrites nothing');
  t.equal(plain.timeoutMs, 15000, "Envoy's default timeout");
});

t.test('path rewrites through the route (Envoy documentation example)', async (t) => {
  const table = compile(withRoutes([{ match: { prefix: '/prefix' }, route: { cluster: 'c', prefix_rewrite: '/' } }]));
  const route = table.route(request({ path: '/prefix/etc' }))!;
  t.equal(route.rewritePath('/prefix/etc'), '//etc');
  t.equal(route.rewritePath('/prefixetc'), '/etc');
  const none = compile(withRoutes([{ match: { prefix: '/' }, route: toCluster('c') }])).route(request())!;
  const path = '/unchanged';
  t.equal(none.rewritePath(path), path);
});

t.test('direct responses and redirects', async (t) => {
  const table = compile(
    withRoutes([
      { match: { path: '/health' }, direct_response: { status: 200, body: { inline_string: 'ok' } } },
      { match: { prefix: '/old' }, redirect: { prefix_rewrite: '/new', response_code: 'FOUND' } },
    ]),
  );
  const health = table.route(request({ path: '/health' }))!;
  t.equal(health.kind, 'direct_response');
  t.same(health.directResponse, { status: 200, body: Buffer.from('ok') });
  t.equal(health.redirect, undefined);
  t.throws(() => health.selectCluster(0), /is a direct_response route, not a cluster route/);
  const moved = table.route(request({ path: '/old/page', query: 'q=1' }))!;
  t.equal(moved.kind, 'redirect');
  t.equal(moved.redirect!.status, 302);
  t.equal(moved.redirectLocation(request({ path: '/old/page', query: 'q=1' })), 'http://example.com/new/page?q=1');
  t.throws(() => compile(withRoutes([{ match: { prefix: '/' }, route: toCluster('c') }])).route(request())!.redirectLocation(request()));
});

t.test('header mutations: most specific level first, so the least specific overwrite wins', async (t) => {
  const level = (name: string): { request_headers_to_add: HeaderValueOption[]; response_headers_to_add: HeaderValueOption[] } => ({
    request_headers_to_add: [
      { header: { key: 'x-level', value: name }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-trail', value: name } },
    ],
    response_headers_to_add: [{ header: { key: 'x-level', value: name }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
  });
  const config = (mostSpecificWins: boolean): RouteConfiguration => ({
    ...level('config'),
    most_specific_header_mutations_wins: mostSpecificWins,
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        ...level('vhost'),
        routes: [
          {
            match: { prefix: '/' },
            ...level('route'),
            route: { weighted_clusters: { clusters: [{ name: 'c', weight: 1, ...level('cluster') }] } },
          },
        ],
      },
    ],
  });
  const run = (mostSpecificWins: boolean) => {
    const route = compile(config(mostSpecificWins)).route(request())!;
    const choice = route.selectCluster(0);
    const requestHeaders: string[] = [];
    route.applyRequestHeaderMutations(requestHeaders, context(), choice);
    const responseHeaders: string[] = [];
    route.applyResponseHeaderMutations(responseHeaders, context(), choice);
    return { requestHeaders, responseHeaders };
  };
  const byDefault = run(false);
  t.same(byDefault.requestHeaders, ['x-level', 'config', 'x-trail', 'cluster', 'x-trail', 'route', 'x-trail', 'vhost', 'x-trail', 'config']);
  t.same(byDefault.responseHeaders, ['x-level', 'config']);
  const mostSpecific = run(true);
  // As in Envoy, the weighted cluster's mutations still go first; the route's then come last.
  t.same(mostSpecific.requestHeaders, ['x-level', 'route', 'x-trail', 'cluster', 'x-trail', 'config', 'x-trail', 'vhost', 'x-trail', 'route']);
  t.same(mostSpecific.responseHeaders, ['x-level', 'route']);
});

t.test('the common case has nothing to apply', async (t) => {
  const route = compile(withRoutes([{ match: { prefix: '/' }, route: toCluster('c') }])).route(request())!;
  const headers = ['a', '1'];
  route.applyRequestHeaderMutations(headers, context(), route.selectCluster(0.3));
  route.applyResponseHeaderMutations(headers, context(), route.selectCluster(0.3));
  t.same(headers, ['a', '1']);
  t.equal(route.hashPolicy, undefined);
  t.equal(route.hashKey(request(), context()), undefined);
});

t.test('response mutations apply to direct responses, and operators are evaluated', async (t) => {
  const route = compile(
    withRoutes([
      {
        match: { prefix: '/' },
        direct_response: { status: 404 },
        response_headers_to_add: [{ header: { key: 'x-client', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } }],
      },
    ]),
  ).route(request())!;
  const headers: string[] = [];
  route.applyResponseHeaderMutations(headers, context());
  t.same(headers, ['x-client', '10.0.0.1']);
});

t.test('hash policy through the route', async (t) => {
  const route = compile(
    withRoutes([{ match: { prefix: '/' }, route: { cluster: 'c', hash_policy: [{ header: { header_name: 'x-user' } }] } }]),
  ).route(request())!;
  t.not(route.hashPolicy, undefined);
  t.equal(route.hashKey(request({ headers: ['x-user', 'u1'] }), context()), 'u1');
});

t.test('internal_only_headers are removed on request', async (t) => {
  const table = compile({ ...withRoutes([]), internal_only_headers: ['X-Internal'] });
  const headers = ['x-internal', 'secret', 'x-ok', '1'];
  table.removeInternalOnlyHeaders(headers);
  t.same(headers, ['x-ok', '1']);
});

t.test('config errors: every issue is collected with its full path', async (t) => {
  const routes: Route[] = [
    { match: { prefix: '/a' }, route: toCluster('c') },
    { match: { prefix: '/b', connect_matcher: {} } as never, route: toCluster('c') },
    { match: { prefix: '/c' }, route: { cluster_header: 'x-cluster' } as never },
    { match: { prefix: '/d' }, route: { cluster: 'c', internal_redirect_policy: {}, request_mirror_policies: [{ cluster: 'm' }] } as never },
    { match: { prefix: '/e', grpc: {}, tls_context: {} } as never, route: toCluster('c') },
    { match: { safe_regex: { regex: '/(?<=x)y' } }, route: toCluster('c') },
    { match: { prefix: '/f' }, route: toCluster('c'), request_headers_to_add: [{ header: { key: 'x', value: '%UNKNOWN%' } }] },
    { match: { prefix: '/g' }, route: toCluster('c'), typed_per_filter_config: {}, decorator: { operation: 'x' } } as never,
  ];
  const config = {
    vhds: { config_source: {} },
    virtual_hosts: [
      { name: 'vh', domains: ['a.com', '*'], routes, require_tls: 'ALL' },
      { name: 'vh', domains: ['A.COM'], routes: [] },
    ],
  };
  t.same(issuesOf(config), [
    { path: 'route_config.vhds', message: 'not supported by meshlet' },
    { path: 'route_config.virtual_hosts[0].require_tls', message: 'not supported by meshlet' },
    { path: 'route_config.virtual_hosts[0].routes[1].match.connect_matcher', message: 'not supported by meshlet' },
    {
      path: 'route_config.virtual_hosts[0].routes[1].match',
      message: 'exactly one of prefix, path, safe_regex, connect_matcher, path_separated_prefix, path_match_policy is required',
    },
    { path: 'route_config.virtual_hosts[0].routes[2].route.cluster_header', message: 'not supported by meshlet' },
    { path: 'route_config.virtual_hosts[0].routes[3].route.internal_redirect_policy', message: 'not supported by meshlet' },
    { path: 'route_config.virtual_hosts[0].routes[3].route.request_mirror_policies', message: 'not supported by meshlet' },
    { path: 'route_config.virtual_hosts[0].routes[4].match.grpc', message: 'not supported by meshlet' },
    { path: 'route_config.virtual_hosts[0].routes[4].match.tls_context', message: 'not supported by meshlet' },
    {
      path: 'route_config.virtual_hosts[0].routes[5].match.safe_regex.regex',
      message: 'invalid or unsupported RE2 regex "/(?<=x)y": lookaround assertions are not supported by RE2',
    },
    {
      path: 'route_config.virtual_hosts[0].routes[6].request_headers_to_add[0].header.value',
      message: '%UNKNOWN%: unknown command operator (not supported by meshlet)',
    },
    { path: 'route_config.virtual_hosts[0].routes[7].typed_per_filter_config', message: 'not supported by meshlet' },
    { path: 'route_config.virtual_hosts[0].routes[7].decorator', message: 'not supported by meshlet' },
    { path: 'route_config.virtual_hosts[1].name', message: 'duplicate virtual host name "vh" (also at route_config.virtual_hosts[0].name)' },
    {
      path: 'route_config.virtual_hosts[1].domains[0]',
      message: 'duplicate domain "A.COM" (also at route_config.virtual_hosts[0].domains[0])',
    },
  ]);
});

t.test('config errors: required pieces and conflicting fields', async (t) => {
  t.same(
    issuesOf({
      virtual_hosts: [
        {
          domains: [],
          routes: [
            { route: toCluster('c') },
            { match: { prefix: '/' } },
            { match: { prefix: '/' }, route: toCluster('c'), direct_response: { status: 200 } },
            { match: { prefix: '/' }, non_forwarding_action: {} },
            { match: { prefix: '/' }, route: { cluster: 'c', host_rewrite_literal: 'h', auto_host_rewrite: true, timeout: -1 } },
            { match: { prefix: '/' }, route: {} },
          ],
        },
      ],
    }),
    [
      { path: 'route_config.virtual_hosts[0].name', message: 'is required' },
      { path: 'route_config.virtual_hosts[0].domains', message: 'must list at least one domain' },
      { path: 'route_config.virtual_hosts[0].routes[0].match', message: 'is required' },
      {
        path: 'route_config.virtual_hosts[0].routes[1]',
        message: 'exactly one of route, redirect, direct_response, filter_action, non_forwarding_action is required',
      },
      {
        path: 'route_config.virtual_hosts[0].routes[2]',
        message: 'exactly one of route, redirect, direct_response, filter_action, non_forwarding_action is required',
      },
      { path: 'route_config.virtual_hosts[0].routes[3].non_forwarding_action', message: 'not supported by meshlet' },
      {
        path: 'route_config.virtual_hosts[0].routes[4].route',
        message: 'at most one of host_rewrite_literal, auto_host_rewrite, host_rewrite_header, host_rewrite_path_regex may be set',
      },
      { path: 'route_config.virtual_hosts[0].routes[4].route.timeout', message: 'must not be negative' },
      {
        path: 'route_config.virtual_hosts[0].routes[5].route',
        message: 'exactly one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin is required',
      },
    ],
  );
});

t.test('an empty basePath gives paths from the RouteConfiguration itself', async (t) => {
  t.same(issuesOf({ virtual_hosts: [{ name: 'v', domains: ['*'], cors: {} }] }, { basePath: '' }), [
    { path: 'virtual_hosts[0].cors', message: 'not supported by meshlet' },
  ]);
});

t.test('the thrown ConfigError lists every issue in its message', async (t) => {
  const err = t.throws(() => compile({ virtual_hosts: [{ name: 'v', domains: ['*'], rate_limits: [], hedge_policy: {} }] as never })) as ConfigError;
  t.type(err, ConfigError);
  t.equal(
    err.message,
    'route_config.virtual_hosts[0].rate_limits: not supported by meshlet\nroute_config.virtual_hosts[0].hedge_policy: not supported by meshlet',
  );
});
