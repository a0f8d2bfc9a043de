import fc from 'fast-check';
import t from 'tap';
import { parse } from 'yaml';
import { compileRbacFilter, type RbacFilter, type RbacRequest } from '../../../proxy/http-filter/rbac-policy';
import type { PeerIdentity } from '../../../proxy/tls/peer-identity';
import type { ConfigIssue } from '../../../xds/config-error';
import { decodeJson } from '../../../xds/proto-json';
import { collect } from '../router/fixtures/helpers';

const RBAC = 'envoy.extensions.filters.http.rbac.v3.RBAC';

/** Decodes an RBAC filter config written as Envoy YAML (or an object) and compiles it. */
function compile(config: string | object): { result: RbacFilter | undefined; issues: ConfigIssue[] } {
  const decoded = decodeJson(RBAC, typeof config === 'string' ? parse(config) : config);
  return collect((issues) => compileRbacFilter(decoded, 'rbac', issues));
}

function rbac(config: string | object): RbacFilter {
  const { result, issues } = compile(config);
  if (result === undefined) throw new Error(JSON.stringify(issues));
  return result;
}

function peer(uriSans: string[], dnsSans: string[] = [], subject = 'CN=client'): PeerIdentity {
  return { uriSans, dnsSans, subject, sha256: '00'.repeat(32), certPem: '', chainPem: '' };
}

const spiffe = (ns: string, sa: string) => peer([`spiffe://td/ns/${ns}/sa/${sa}`]);

function request(overrides: Partial<RbacRequest> = {}): RbacRequest {
  return {
    method: 'GET',
    authority: 'svc.example',
    path: '/',
    query: '',
    headers: [],
    scheme: 'https',
    peer: undefined,
    remoteAddress: '192.0.2.1',
    clientAddress: '192.0.2.1',
    localPort: 8443,
    ...overrides,
  };
}

/** A policy named `name` with one permission and one principal, in YAML. */
const ANY_ANY = `permissions: [{any: true}]\n      principals: [{any: true}]`;

t.test('without rules every request is allowed, and there are no shadow rules', async (t) => {
  for (const config of ['{}', 'rules_stat_prefix: ingress.']) {
    const filter = rbac(config);
    t.same(filter.evaluate(request()), { allowed: true, policy: undefined });
    t.equal(filter.evaluateShadow(request()), undefined);
  }
  t.equal(rbac('{}').statPrefix, '');
  t.equal(rbac('rules_stat_prefix: ingress.').statPrefix, 'ingress.');
});

t.test('present but empty rules: ALLOW (the default action) denies everything, DENY allows everything', async (t) => {
  t.same(rbac('rules: {}').evaluate(request()), { allowed: false, policy: undefined });
  t.same(rbac('rules: {action: ALLOW}').evaluate(request({ peer: spiffe('a', 'b') })), { allowed: false, policy: undefined });
  t.same(rbac('rules: {action: DENY}').evaluate(request()), { allowed: true, policy: undefined });
});

t.test('ALLOW by SPIFFE principal, exact and prefix; no peer is denied', async (t) => {
  const filter = rbac(`
rules:
  action: ALLOW
  policies:
    frontend:
      permissions: [{any: true}]
      principals:
        - authenticated: {principal_name: {exact: spiffe://td/ns/web/sa/frontend}}
    team-b:
      permissions: [{any: true}]
      principals:
        - authenticated: {principal_name: {prefix: spiffe://td/ns/b/}}
`);
  t.same(filter.evaluate(request({ peer: spiffe('web', 'frontend') })), { allowed: true, policy: 'frontend' });
  t.same(filter.evaluate(request({ peer: spiffe('b', 'anything') })), { allowed: true, policy: 'team-b' });
  t.same(filter.evaluate(request({ peer: spiffe('web', 'frontend-2') })), { allowed: false, policy: undefined });
  t.same(filter.evaluate(request({ peer: spiffe('bb', 'x') })), { allowed: false, policy: undefined });
  t.same(filter.evaluate(request()), { allowed: false, policy: undefined }, 'plaintext');
});

t.test('DENY by principal reports the policy that denied', async (t) => {
  const filter = rbac(`
rules:
  action: DENY
  policies:
    block-legacy:
      permissions: [{any: true}]
      principals: [{authenticated: {principal_name: {prefix: spiffe://td/ns/legacy/}}}]
`);
  t.same(filter.evaluate(request({ peer: spiffe('legacy', 'old') })), { allowed: false, policy: 'block-legacy' });
  t.same(filter.evaluate(request({ peer: spiffe('web', 'new') })), { allowed: true, policy: undefined });
  t.same(filter.evaluate(request()), { allowed: true, policy: undefined }, 'no peer: the DENY principal does not match');
});

t.test('LOG allows every request and reports the policy that matched', async (t) => {
  const filter = rbac(`
rules:
  action: LOG
  policies:
    log-admin:
      permissions: [{url_path: {path: {prefix: /admin}}}]
      principals: [{any: true}]
`);
  t.same(filter.evaluate(request({ path: '/admin/users' })), { allowed: true, policy: 'log-admin' });
  t.same(filter.evaluate(request({ path: '/public' })), { allowed: true, policy: undefined });
});

t.test('authenticated without principal_name matches any peer with a certificate, never plaintext', async (t) => {
  const filter = rbac(`
rules:
  policies:
    mtls:
      permissions: [{any: true}]
      principals: [{authenticated: {}}]
`);
  t.ok(filter.evaluate(request({ peer: peer([], [], '') })).allowed);
  t.notOk(filter.evaluate(request()).allowed);
});

t.test('authenticated tries every URI SAN, then every DNS SAN, then the subject, as Envoy does', async (t) => {
  const client = peer(['spiffe://td/ns/a/sa/one', 'spiffe://td/ns/a/sa/two'], ['client.example', 'alt.example'], 'CN=client,O=Acme');
  const allows = (exact: string) =>
    rbac({
      rules: { policies: { p: { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact } } }] } } },
    }).evaluate(request({ peer: client })).allowed;
  t.ok(allows('spiffe://td/ns/a/sa/one'));
  t.ok(allows('spiffe://td/ns/a/sa/two'), 'not only the first URI SAN');
  t.ok(allows('alt.example'), 'a DNS SAN even when there are URI SANs');
  t.ok(allows('CN=client,O=Acme'), 'the subject, in RFC 2253 form');
  t.notOk(allows('spiffe://td/ns/a/sa/three'));
});

t.test('policies are tried in name order (bytewise, as std::map); the first match is reported', async (t) => {
  const filter = rbac(`
rules:
  policies:
    b:
      ${ANY_ANY}
    a:
      ${ANY_ANY}
    B:
      ${ANY_ANY}
    a-narrow:
      permissions: [{url_path: {path: {exact: /x}}}]
      principals: [{any: true}]
`);
  t.same(filter.evaluate(request()), { allowed: true, policy: 'B' });
});

t.test('methods, paths, the authority and headers', async (t) => {
  const filter = rbac(`
rules:
  policies:
    read-api:
      permissions:
        - and_rules:
            rules:
              - header: {name: ':method', string_match: {exact: GET}}
              - url_path: {path: {prefix: /api/}}
      principals: [{any: true}]
    debug-query:
      permissions:
        - header: {name: ':path', string_match: {exact: '/debug?verbose=1'}}
      principals: [{any: true}]
    internal-host:
      permissions:
        - header: {name: ':authority', string_match: {suffix: .internal}}
      principals: [{any: true}]
    tenant:
      permissions:
        - header: {name: X-Tenant, string_match: {exact: acme}}
      principals: [{any: true}]
`);
  const policyFor = (overrides: Partial<RbacRequest>) => filter.evaluate(request(overrides)).policy;
  t.equal(policyFor({ path: '/api/items', query: 'page=2' }), 'read-api', 'url_path ignores the query');
  t.equal(policyFor({ method: 'POST', path: '/api/items' }), undefined);
  t.equal(policyFor({ path: '/debug', query: 'verbose=1' }), 'debug-query', "':path' carries the query");
  t.equal(policyFor({ path: '/debug' }), undefined);
  t.equal(policyFor({ authority: 'db.internal' }), 'internal-host');
  t.equal(policyFor({ headers: ['x-tenant', 'acme'] }), 'tenant', 'header names are case-insensitive');
  t.equal(policyFor({ headers: ['x-tenant', 'other'] }), undefined);
  t.equal(policyFor({ headers: ['x-tenant', 'acme', 'x-tenant', 'evil'] }), undefined, 'repeated headers are joined with ","');
});

t.test('nested and_rules, or_rules, not_rule and and_ids, or_ids, not_id', async (t) => {
  const filter = rbac(`
rules:
  policies:
    web-ports-except-health:
      permissions:
        - and_rules:
            rules:
              - or_rules: {rules: [{destination_port: 80}, {destination_port: 8080}]}
              - not_rule: {url_path: {path: {exact: /healthz}}}
      principals:
        - and_ids:
            ids:
              - authenticated: {principal_name: {prefix: spiffe://td/}}
              - not_id: {authenticated: {principal_name: {exact: spiffe://td/ns/x/sa/banned}}}
        - or_ids:
            ids:
              - header: {name: x-canary, present_match: true}
              - direct_remote_ip: {address_prefix: 127.0.0.1, prefix_len: 32}
`);
  const allowed = (overrides: Partial<RbacRequest>) => filter.evaluate(request({ localPort: 80, path: '/app', ...overrides })).allowed;
  t.ok(allowed({ peer: spiffe('a', 'b') }));
  t.ok(allowed({ peer: spiffe('a', 'b'), localPort: 8080 }));
  t.notOk(allowed({ peer: spiffe('a', 'b'), localPort: 8443 }), 'neither port');
  t.notOk(allowed({ peer: spiffe('a', 'b'), path: '/healthz' }), 'not_rule');
  t.notOk(allowed({ peer: spiffe('x', 'banned') }), 'not_id');
  t.ok(allowed({ peer: spiffe('x', 'banned'), headers: ['x-canary', ''] }), 'the second principal (or_ids)');
  t.ok(allowed({ remoteAddress: '127.0.0.1' }), 'or_ids without a peer');
  t.notOk(allowed({}), 'no peer, no canary header, not local');
});

t.test('destination_port and destination_port_range (half-open)', async (t) => {
  const filter = rbac(`
rules:
  policies:
    admin-port:
      permissions: [{destination_port: 15000}]
      principals: [{any: true}]
    app-ports:
      permissions: [{destination_port_range: {start: 8000, end: 9000}}]
      principals: [{any: true}]
`);
  const policyAt = (localPort: number) => filter.evaluate(request({ localPort })).policy;
  t.equal(policyAt(15000), 'admin-port');
  t.equal(policyAt(8000), 'app-ports');
  t.equal(policyAt(8999), 'app-ports');
  t.equal(policyAt(9000), undefined);
  t.equal(policyAt(7999), undefined);
});

t.test('remote_ip (the trusted client) and direct_remote_ip (the socket peer), IPv4 and IPv6', async (t) => {
  const filter = rbac(`
rules:
  policies:
    a-corp-clients:
      permissions: [{any: true}]
      principals: [{remote_ip: {address_prefix: 10.1.2.3, prefix_len: 8}}]
    b-v6-lb:
      permissions: [{any: true}]
      principals: [{direct_remote_ip: {address_prefix: '2001:db8::', prefix_len: 32}}]
    c-one-host:
      permissions: [{any: true}]
      principals: [{direct_remote_ip: {address_prefix: 192.168.1.10, prefix_len: 32}}]
    d-any-v4:
      permissions: [{any: true}]
      principals: [{direct_remote_ip: {address_prefix: 0.0.0.0}}]
`);
  const policyFor = (remoteAddress: string, clientAddress = remoteAddress) => filter.evaluate(request({ remoteAddress, clientAddress })).policy;
  t.equal(policyFor('203.0.113.9', '10.200.0.1'), 'a-corp-clients', 'host bits of the prefix are ignored');
  t.equal(policyFor('10.200.0.1', '203.0.113.9'), 'd-any-v4', 'remote_ip reads the client address, not the socket peer');
  t.equal(policyFor('::ffff:10.0.0.7'), 'a-corp-clients', 'an IPv4-mapped IPv6 peer is IPv4');
  t.equal(policyFor('2001:db8:1::5', '2001:db9::1'), 'b-v6-lb');
  t.equal(policyFor('2001:db9::1'), undefined, 'outside the IPv6 range, and an IPv4 range never matches IPv6');
  t.equal(policyFor('192.168.1.10'), 'c-one-host');
  t.equal(policyFor('192.168.1.11'), 'd-any-v4', 'prefix_len unset is 0: every IPv4 address');
  t.equal(policyFor(''), undefined, 'an unknown address matches no range');
});

t.test('shadow_rules are evaluated on their own and never change the enforced decision', async (t) => {
  const filter = rbac(`
rules:
  policies:
    everyone:
      ${ANY_ANY}
shadow_rules:
  action: DENY
  policies:
    would-block-post:
      permissions: [{header: {name: ':method', string_match: {exact: POST}}}]
      principals: [{any: true}]
`);
  t.same(filter.evaluate(request({ method: 'POST' })), { allowed: true, policy: 'everyone' });
  t.same(filter.evaluateShadow(request({ method: 'POST' })), { allowed: false, policy: 'would-block-post' });
  t.same(filter.evaluateShadow(request({ method: 'GET' })), { allowed: true, policy: undefined });
});

t.test("the typed_config's @type is not an unsupported field", async (t) => {
  const decoded = decodeJson(RBAC, parse('rules: {action: DENY}'));
  const { result, issues } = collect((issues) =>
    compileRbacFilter({ '@type': `type.googleapis.com/${RBAC}`, ...decoded }, 'typed_config', issues),
  );
  t.same(issues, []);
  t.ok(result?.evaluate(request()).allowed);
});

t.test('every unsupported field is rejected at its path', async (t) => {
  const extension = { name: 'ext', typed_config: { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url: 'x' } };
  const policyWith = (extra: object, permission: object = { any: true }, principal: object = { any: true }) => ({
    rules: { policies: { p: { permissions: [permission], principals: [principal], ...extra } } },
  });
  const cases: [config: object, path: string][] = [
    [{ matcher: { on_no_match: { action: extension } } }, 'rbac.matcher'],
    [{ shadow_matcher: { on_no_match: { action: extension } } }, 'rbac.shadow_matcher'],
    [{ shadow_rules_stat_prefix: 'shadow.' }, 'rbac.shadow_rules_stat_prefix'],
    [{ track_per_rule_stats: true }, 'rbac.track_per_rule_stats'],
    [{ rules: { audit_logging_options: { audit_condition: 'ON_DENY' } } }, 'rbac.rules.audit_logging_options'],
    [{ shadow_rules: { audit_logging_options: { audit_condition: 'ON_DENY' } } }, 'rbac.shadow_rules.audit_logging_options'],
    [policyWith({ condition: { const_expr: { bool_value: true } } }), 'rbac.rules.policies.p.condition'],
    [policyWith({ checked_condition: { expr: { const_expr: { bool_value: true } } } }), 'rbac.rules.policies.p.checked_condition'],
    [policyWith({}, { metadata: { filter: 'f', path: [{ key: 'k' }], value: { present_match: true } } }), 'rbac.rules.policies.p.permissions[0].metadata'],
    [policyWith({}, { requested_server_name: { exact: 'svc' } }), 'rbac.rules.policies.p.permissions[0].requested_server_name'],
    [policyWith({}, { destination_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } }), 'rbac.rules.policies.p.permissions[0].destination_ip'],
    [policyWith({}, { matcher: extension }), 'rbac.rules.policies.p.permissions[0].matcher'],
    [policyWith({}, { uri_template: extension }), 'rbac.rules.policies.p.permissions[0].uri_template'],
    [
      policyWith({}, { and_rules: { rules: [{ any: true }, { not_rule: { requested_server_name: { exact: 'x' } } }] } }),
      'rbac.rules.policies.p.permissions[0].and_rules.rules[1].not_rule.requested_server_name',
    ],
    [policyWith({}, { url_path: { path: { custom: extension } } }), 'rbac.rules.policies.p.permissions[0].url_path.path.custom'],
    [policyWith({}, undefined, { source_ip: { address_prefix: '10.0.0.0' } }), 'rbac.rules.policies.p.principals[0].source_ip'],
    [policyWith({}, undefined, { url_path: { path: { exact: '/' } } }), 'rbac.rules.policies.p.principals[0].url_path'],
    [
      policyWith({}, undefined, { metadata: { filter: 'f', path: [{ key: 'k' }], value: { present_match: true } } }),
      'rbac.rules.policies.p.principals[0].metadata',
    ],
    [policyWith({}, undefined, { filter_state: { key: 'k', string_match: { exact: 'v' } } }), 'rbac.rules.policies.p.principals[0].filter_state'],
    [
      policyWith({}, undefined, { or_ids: { ids: [{ not_id: { source_ip: { address_prefix: '::1' } } }] } }),
      'rbac.rules.policies.p.principals[0].or_ids.ids[0].not_id.source_ip',
    ],
    [
      policyWith({}, undefined, { header: { name: 'x', string_match: { custom: extension } } }),
      'rbac.rules.policies.p.principals[0].header.string_match.custom',
    ],
  ];
  for (const [config, path] of cases) {
    const { result, issues } = compile(config);
    t.equal(result, undefined, path);
    t.same(issues, [{ path, message: 'not supported by meshlet' }], path);
  }
});

t.test('invalid values are issues at their path', async (t) => {
  const principalIssues = (principal: object) =>
    compile({ rules: { policies: { p: { permissions: [{ any: true }], principals: [principal] } } } }).issues;
  t.same(principalIssues({ remote_ip: { address_prefix: '10.0.0.0', prefix_len: 33 } }), [
    { path: 'rbac.rules.policies.p.principals[0].remote_ip.prefix_len', message: 'must be at most 32 for an IPv4 address' },
  ]);
  t.same(principalIssues({ direct_remote_ip: { address_prefix: '10.0.0.0/8' } }), [
    { path: 'rbac.rules.policies.p.principals[0].direct_remote_ip.address_prefix', message: '"10.0.0.0/8" is not an IPv4 or IPv6 address' },
  ]);
  t.same(principalIssues({ authenticated: { principal_name: { safe_regex: { regex: 'a.*' }, ignore_case: true } } }), [
    { path: 'rbac.rules.policies.p.principals[0].authenticated.principal_name.ignore_case', message: 'has no effect for safe_regex' },
  ]);
  const rangeIssues = (range: object) =>
    compile({ rules: { policies: { p: { permissions: [{ destination_port_range: range }], principals: [{ any: true }] } } } }).issues;
  const rangePath = 'rbac.rules.policies.p.permissions[0].destination_port_range';
  t.same(rangeIssues({ start: 9000, end: 9000 }), [{ path: rangePath, message: 'start 9000 must be less than end 9000' }]);
  t.same(rangeIssues({ start: -1, end: 70000 }), [
    { path: `${rangePath}.start`, message: '-1 is not a port' },
    { path: `${rangePath}.end`, message: '70000 is not a port' },
  ]);
  // The decoder already refuses these; the compiler does not rely on it.
  const undecodedIssues = (permissions: object[]) =>
    collect((issues) => compileRbacFilter({ rules: { policies: { p: { permissions, principals: [{ any: true }] } } } }, 'rbac', issues)).issues;
  t.same(undecodedIssues([]), [{ path: 'rbac.rules.policies.p.permissions', message: 'must have at least one entry' }]);
  t.same(undecodedIssues([{ url_path: {} }]), [{ path: 'rbac.rules.policies.p.permissions[0].url_path.path', message: 'is required' }]);
  t.same(undecodedIssues([{ any: true, destination_port: 80 }]), [
    {
      path: 'rbac.rules.policies.p.permissions[0]',
      message: 'exactly one of and_rules, or_rules, any, header, url_path, not_rule, destination_port, destination_port_range is required',
    },
  ]);
  const oddName = { 'odd.name': { permissions: [{ destination_port_range: { start: 2, end: 1 } }], principals: [{ any: true }] } };
  t.same(compile({ rules: { policies: oddName } }).issues, [
    { path: 'rbac.rules.policies["odd.name"].permissions[0].destination_port_range', message: 'start 2 must be less than end 1' },
  ]);
});

t.test('property: not_id X matches exactly when X does not', async () => {
  const uris = ['spiffe://td/ns/a/sa/x', 'spiffe://td/ns/a/sa/y', 'spiffe://td/ns/b/sa/x', 'spiffe://other/ns/a/sa/x'];
  const addresses = ['10.1.2.3', '10.2.0.1', '192.0.2.1', '2001:db8::1', '::ffff:10.1.0.9'];
  const cidr = fc.constantFrom(
    { address_prefix: '10.0.0.0', prefix_len: 8 },
    { address_prefix: '10.1.0.0', prefix_len: 16 },
    { address_prefix: '2001:db8::', prefix_len: 32 },
    { address_prefix: '0.0.0.0' },
  );
  const leaf = fc.oneof(
    fc.constant({ any: true }),
    fc.constant({ authenticated: {} }),
    fc.constantFrom(...uris, 'client.example', 'CN=client').map((exact) => ({ authenticated: { principal_name: { exact } } })),
    fc.constantFrom('spiffe://td/', 'spiffe://td/ns/a/', 'spiffe://other/').map((prefix) => ({ authenticated: { principal_name: { prefix } } })),
    cidr.map((range) => ({ remote_ip: range })),
    cidr.map((range) => ({ direct_remote_ip: range })),
    fc.constantFrom('alice', 'bob').map((exact) => ({ header: { name: 'x-user', string_match: { exact } } })),
  );
  const { principal } = fc.letrec<{ principal: object }>((tie) => ({
    principal: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('principal'), { minLength: 1, maxLength: 3 }).map((ids) => ({ and_ids: { ids } })),
      fc.array(tie('principal'), { minLength: 1, maxLength: 3 }).map((ids) => ({ or_ids: { ids } })),
      tie('principal').map((id) => ({ not_id: id })),
    ),
  }));
  const requests = fc.record({
    peer: fc.option(
      fc.record({ uris: fc.subarray(uris), dns: fc.subarray(['client.example']) }).map(({ uris, dns }) => peer(uris, dns)),
      { nil: undefined },
    ),
    remoteAddress: fc.constantFrom(...addresses),
    clientAddress: fc.constantFrom(...addresses),
    headers: fc.subarray(['alice', 'bob']).map((users) => users.flatMap((user) => ['x-user', user])),
  });
  const allows = (principal: object, req: RbacRequest) =>
    rbac({ rules: { policies: { p: { permissions: [{ any: true }], principals: [principal] } } } }).evaluate(req).allowed;
  fc.assert(
    fc.property(principal, requests, (x, overrides) => {
      const req = request(overrides);
      return allows({ not_id: x }, req) === !allows(x, req);
    }),
    { numRuns: 300 },
  );
});
