import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../../xds/config-error';
import { parseMesh } from '../../../xds/control-plane/mesh-parser';
import { parseMeshText } from '../../../xds/control-plane/mesh-file';

const EXAMPLE = join(__dirname, '..', '..', '..', '..', 'examples', 'mesh.yaml');

function problems(document: unknown): Record<string, string> {
  try {
    parseMesh(document);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return Object.fromEntries(err.issues.map((i) => [i.path, i.message]));
  }
  throw new Error('expected the mesh to be rejected');
}

t.test('the example mesh parses', async (t) => {
  const mesh = parseMeshText(readFileSync(EXAMPLE, 'utf8'));
  t.same(mesh.services.map((s) => s.name), ['echo']);
  t.same(mesh.gateways.map((g) => g.name), ['ingress']);
  const echo = mesh.services[0];
  t.equal(echo.connectTimeout, '0.25s');
  t.same(echo.routes[1].to, [{ service: 'echo', version: 'v1', weight: 90 }, { service: 'echo', version: 'v2', weight: 10 }]);
  t.same(echo.routes[0].match.headers, [{ name: 'x-canary', kind: 'exact', value: '1' }]);
  t.same(mesh.gateways[0].routes[0].to, [{ service: 'echo', weight: 1 }]);
});

t.test('defaults: a service with only endpoints gets one catch-all route, port 80 and the default sidecar', async (t) => {
  const mesh = parseMesh({ services: { web: { endpoints: [{ address: '10.0.0.1', port: 8080 }] } } });
  const web = mesh.services[0];
  t.equal(web.port, 80);
  t.same(web.endpoints, [{ address: '10.0.0.1', port: 8080, weight: 1, priority: 0, version: undefined, region: undefined, zone: undefined }]);
  t.same(web.routes, [{ match: { prefix: '/', headers: [] }, to: [{ service: 'web', weight: 1 }] }]);
  t.same(web.sidecar, { address: '127.0.0.1', outboundPort: 15001, inboundPort: 15006 });
  t.same(mesh.gateways, []);
});

t.test('sidecar settings: file-wide defaults, overridden per service', async (t) => {
  const mesh = parseMesh({
    sidecar: { outbound_port: 16001 },
    services: { a: { sidecar: { inbound_port: 16006, app_port: 8080 } }, b: {} },
  });
  t.same(mesh.services[0].sidecar, { address: '127.0.0.1', outboundPort: 16001, inboundPort: 16006, appPort: 8080 });
  t.same(mesh.services[1].sidecar, { address: '127.0.0.1', outboundPort: 16001, inboundPort: 15006 });
});

t.test('durations are written as people write them and become proto3 JSON', async (t) => {
  const mesh = parseMesh({
    services: {
      a: {
        connect_timeout: '250ms',
        routes: [{ timeout: '2m', retries: { per_try_timeout: '1.5s' } }, { timeout: '0s' }],
      },
    },
  });
  const [a] = mesh.services;
  t.equal(a.connectTimeout, '0.25s');
  t.equal(a.routes[0].timeout, '120s');
  t.same(a.routes[0].retries, { attempts: 1, on: '5xx', perTryTimeout: '1.5s' });
  t.equal(a.routes[1].timeout, '0s');
});

t.test('every problem is reported at once, each with its path', async (t) => {
  const found = problems({
    services: {
      Web: {},
      api: {
        prot: 80,
        lb_policy: 'MAGLEV',
        connect_timeout: '5 seconds',
        endpoints: [
          { address: 'api.local', port: 8080 },
          { address: '10.0.0.2', port: 70000, weight: 0 },
          { address: '10.0.0.3', port: 80, version: 'v1' },
          { address: '10.0.0.3', port: 80 },
        ],
        routes: [
          { match: { prefix: '/a', path: '/b' } },
          { match: { regex: '(?<!x)y' } },
          { match: { path: 'no-slash', headers: { 'x-a': { prefix: 'p', suffix: 's' } } } },
          { to: { version: 'v9' } },
          { to: [{ version: 'v1', weight: 0 }, { weight: 0 }] },
          { to: [{ version: 'v1' }, { version: 'v1', weight: 1 }] },
          { match: { regex: '/x' }, prefix_rewrite: '/' },
        ],
      },
    },
    gateways: {
      edge: { routes: [{ to: { service: 'nope' } }, { match: { prefix: '/' } }] },
      api: { port: 80, routes: [] },
      outbound: { port: 81, routes: [{ to: { service: 'api' } }] },
    },
    extra: true,
  });
  t.match(found, {
    extra: /unknown field "extra"/,
    'services.Web': /lowercase DNS-style name/,
    'services.api.prot': /unknown field "prot"/,
    'services.api.lb_policy': /one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH/,
    'services.api.connect_timeout': /duration like "250ms"/,
    'services.api.endpoints[0].address': /an IP address/,
    'services.api.endpoints[1].port': /from 1 to 65535/,
    'services.api.endpoints[1].weight': /from 1 to 1000000/,
    'services.api.endpoints[3]': /10.0.0.3:80 is already the endpoint at services.api.endpoints\[2\]/,
    'services.api.routes[0].match': /exactly one of prefix, path, regex is required \(got prefix and path\)/,
    'services.api.routes[1].match.regex': /invalid RE2 regex/,
    'services.api.routes[2].match.path': /starting with "\/"/,
    'services.api.routes[2].match.headers.x-a': /exactly one of exact, prefix/,
    'services.api.routes[3].to.version': /service "api" has no endpoint with version "v9" \(its versions: v1\)/,
    'services.api.routes[4].to': /must not all be 0/,
    'services.api.routes[5].to[0].weight': /required/,
    'services.api.routes[6].prefix_rewrite': /regex match/,
    'gateways.edge.port': /required/,
    'gateways.edge.routes[0].to.service': /unknown service "nope"/,
    'gateways.edge.routes[1].to': /required: where to send the traffic/,
    'gateways.api': /also a service/,
    'gateways.api.routes': /at least one route/,
    'gateways.outbound': /reserved/,
  });
});

t.test('YAML mistakes are reported too, duplicate keys included', async (t) => {
  t.throws(() => parseMeshText('services:\n  a: {}\n  a: {}\n'), { name: 'ConfigError', message: /not valid YAML: Map keys must be unique/ });
  t.throws(() => parseMeshText('services: [\n'), { name: 'ConfigError', message: /not valid YAML/ });
  t.throws(() => parseMeshText(''), { name: 'ConfigError', message: /services: required/ });
});

t.test('mTLS: off by default; each service takes the mesh mode or its own, and has a SPIFFE identity', async (t) => {
  const plain = parseMesh({ services: { web: {} }, gateways: { edge: { port: 80, routes: [{ to: { service: 'web' } }] } } });
  t.same(plain.mtls, { enabled: false, trustDomain: 'cluster.local', certTtlMs: 3_600_000 });
  t.equal(plain.services[0].mtls, 'DISABLE');
  t.equal(plain.services[0].spiffeId, 'spiffe://cluster.local/ns/default/sa/web');
  t.equal(plain.gateways[0].spiffeId, 'spiffe://cluster.local/ns/default/sa/edge');

  const mesh = parseMesh({
    mtls: { mode: 'STRICT', trust_domain: 'example.org', cert_ttl: '90s', ca_dir: './ca' },
    services: {
      web: { namespace: 'shop', service_account: 'web-sa' },
      api: { mtls: 'PERMISSIVE' },
      legacy: { mtls: 'DISABLE' },
    },
    gateways: { edge: { port: 80, namespace: 'ingress', routes: [{ to: { service: 'web' } }] } },
  });
  t.same(mesh.mtls, { enabled: true, trustDomain: 'example.org', certTtlMs: 90_000, caDir: './ca' });
  t.same(mesh.services.map((s) => [s.name, s.mtls, s.spiffeId]), [
    ['web', 'STRICT', 'spiffe://example.org/ns/shop/sa/web-sa'],
    ['api', 'PERMISSIVE', 'spiffe://example.org/ns/default/sa/api'],
    ['legacy', 'DISABLE', 'spiffe://example.org/ns/default/sa/legacy'],
  ]);
  t.equal(mesh.gateways[0].spiffeId, 'spiffe://example.org/ns/ingress/sa/edge');

  // One service opting in is enough for the control plane to be a CA.
  t.equal(parseMesh({ services: { web: { mtls: 'STRICT' } } }).mtls.enabled, true);
  t.equal(parseMesh({ mtls: { mode: 'STRICT' }, services: { web: { mtls: 'DISABLE' } } }).mtls.enabled, false);
  t.equal(parseMesh({ mtls: { cert_ttl: '1h' }, services: {} }).mtls.certTtlMs, 3_600_000);
});

t.test('mTLS mistakes are reported with their path', async (t) => {
  t.match(
    problems({
      mtls: { mode: 'ON', trust_domain: 'Example.org', cert_ttl: '500ms', ca_dir: '', rotate: true },
      services: { web: { mtls: 'strict', namespace: 'Shop', service_account: 'web/admin' } },
      gateways: { edge: { port: 80, namespace: 'a b', routes: [{ to: { service: 'web' } }] } },
    }),
    {
      'mtls.mode': /one of STRICT, PERMISSIVE, DISABLE/,
      'mtls.trust_domain': /not a SPIFFE trust domain: trust domain must be lowercase/,
      'mtls.cert_ttl': /a duration from 1s to 720h/,
      'mtls.ca_dir': /non-empty/,
      'mtls.rotate': /unknown field "rotate"/,
      'services.web.mtls': /one of STRICT, PERMISSIVE, DISABLE/,
      'services.web.namespace': /lowercase DNS-style name/,
      'services.web.service_account': /lowercase DNS-style name/,
      'gateways.edge.namespace': /lowercase DNS-style name/,
    },
  );
  t.match(problems({ mtls: { cert_ttl: '31d' }, services: {} }), { 'mtls.cert_ttl': /duration like "250ms", "1.5s", "2m" or "1h"/ });
  t.match(problems({ mtls: { cert_ttl: '721h' }, services: {} }), { 'mtls.cert_ttl': /from 1s to 720h/ });
  t.match(problems({ mtls: 'STRICT', services: {} }), { mtls: /expected mTLS settings \(an object\)/ });
  // Names that cannot be part of a SPIFFE ID are reported as names, not thrown.
  t.match(problems({ services: { 'web app': {} }, gateways: { 'edge gw': { port: 80, routes: [{ to: { service: 'web app' } }] } } }), {
    'services["web app"]': /lowercase DNS-style name/,
    'gateways["edge gw"]': /lowercase DNS-style name/,
  });
});

t.test('authorization: callers by service or gateway name (their identities) or SPIFFE ID', async (t) => {
  const mesh = parseMesh({
    mtls: { mode: 'STRICT' },
    services: {
      web: { namespace: 'shop' },
      api: { authorization: { allow_from: ['web', 'edge', 'spiffe://other.org/ns/x/sa/y', 'web'] }, sidecar: { app_port: 8080 } },
    },
    gateways: { edge: { port: 80, routes: [{ to: { service: 'web' } }] } },
  });
  t.same(mesh.services[1].allowFrom, ['spiffe://cluster.local/ns/shop/sa/web', 'spiffe://cluster.local/ns/default/sa/edge', 'spiffe://other.org/ns/x/sa/y']);
  t.equal(mesh.services[0].allowFrom, undefined, 'no authorization: no check beyond the handshake');

  t.match(
    problems({
      mtls: { mode: 'STRICT' },
      services: {
        a: { authorization: { allow_from: ['nobody', 'spiffe://Bad/x', 3] }, sidecar: { app_port: 8080 } },
        b: { authorization: { allow_from: [] }, sidecar: { app_port: 8080 } },
        c: { authorization: { allow: ['a'] }, sidecar: { app_port: 8080 } },
        d: { mtls: 'DISABLE', authorization: { allow_from: ['a'] }, sidecar: { app_port: 8080 } },
        e: { authorization: { allow_from: ['a'] } },
      },
    }),
    {
      'services.a.authorization.allow_from[0]': /unknown service or gateway "nobody"/,
      'services.a.authorization.allow_from[1]': /not a SPIFFE ID: trust domain must be lowercase/,
      'services.a.authorization.allow_from[2]': /non-empty string/,
      'services.b.authorization.allow_from': /at least one caller/,
      'services.c.authorization.allow': /unknown field "allow"/,
      'services.c.authorization.allow_from': /required/,
      'services.d.authorization': /needs mTLS/,
      'services.e.authorization': /needs sidecar.app_port/,
    },
  );
});
