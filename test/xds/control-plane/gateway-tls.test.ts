/**
 * A mesh gateway that terminates TLS: `tls` (certificates by SNI), `https_redirect` and
 * `http_port` in the mesh file; the files read and checked with it; the listener, chains,
 * redirect routes and Secrets generated for the gateway's role; the Secrets served over SDS
 * next to the node's own; and a real `meshlet proxy` gateway following it all over ADS.
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startEchoServer } from '../../../cli/echo-server';
import { parseSecret } from '../../../proxy/tls/secret';
import { ConfigError, type ConfigIssue } from '../../../xds/config-error';
import { loadMesh } from '../../../xds/control-plane/control-plane';
import { loadGatewayCertificates } from '../../../xds/control-plane/gateway-certificates';
import { parseMesh } from '../../../xds/control-plane/mesh-parser';
import { buildMeshSnapshots } from '../../../xds/control-plane/mesh-snapshots';
import { decodeAny } from '../../../xds/proto-json';
import { adsBootstrap } from '../../helpers/ads-test-server';
import { TestMeshCa } from '../../helpers/mesh-certs';
import { freePort, startProxy, type ProxyProcess } from '../../helpers/proxy-process';
import { AdsTestStream, TYPE } from './fixtures/ads-test-client';
import { startHarness } from './fixtures/control-plane-harness';
import { httpsGet, plainGet } from './fixtures/gateway-client';

const ca = new TestMeshCa();
const certs = {
  a: ca.issue('gateway-a', { dnsNames: ['a.example.test'] }),
  b: ca.issue('gateway-b', { dnsNames: ['*.b.example.test', 'b.example.test'] }),
};

const WEB = { endpoints: [{ address: '127.0.0.1', port: 8080 }] };
const ROUTES = [{ to: { service: 'web' } }];
const TLS = [
  { hosts: ['a.example.test'], cert_chain: certs.a.chainFile, private_key: certs.a.keyFile },
  { hosts: ['*.b.example.test', 'b.example.test'], cert_chain: certs.b.chainFile, private_key: certs.b.keyFile },
];
const MESH = {
  services: { web: WEB },
  gateways: {
    edge: { port: 8443, routes: ROUTES, tls: TLS, https_redirect: true, http_port: 8080 },
    standard: { port: 443, routes: ROUTES, tls: TLS.slice(0, 1), https_redirect: true, http_port: 80 },
    plain: { port: 8000, routes: ROUTES },
  },
};

function problems(run: () => unknown): Record<string, string> {
  try {
    run();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return Object.fromEntries(err.issues.map((i) => [i.path, i.message]));
  }
  throw new Error('expected the mesh to be rejected');
}

/** A mesh file in a directory of its own, with `files` (name → content) next to it. */
function meshDir(mesh: unknown, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-gateway-tls-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  writeFileSync(join(dir, 'mesh.yaml'), JSON.stringify(mesh));
  return join(dir, 'mesh.yaml');
}

// ---------------------------------------------------------------------------------------------
// The mesh file

t.test('tls: hosts (lowercased), files as written; https_redirect with its http_port', async (t) => {
  const mesh = parseMesh({
    services: { web: WEB },
    gateways: {
      edge: {
        port: 8443,
        routes: ROUTES,
        tls: [
          { hosts: ['API.Example.com'], cert_chain: 'certs/api.pem', private_key: 'certs/api-key.pem' },
          // An exact name and a wildcard covering it are two chains Envoy accepts: the exact one wins.
          { hosts: ['*.example.com', 'example.com'], cert_chain: '/etc/certs/wild.pem', private_key: '/etc/certs/wild-key.pem' },
        ],
        https_redirect: true,
        http_port: 8080,
      },
      quiet: { port: 8443, routes: ROUTES, tls: [{ hosts: ['q.example.com'], cert_chain: 'q.pem', private_key: 'q-key.pem' }], https_redirect: false },
      plain: { port: 8000, routes: ROUTES },
    },
  });
  const [edge, quiet, plain] = mesh.gateways;
  t.same(edge!.tls, {
    certificates: [
      { hosts: ['api.example.com'], certChain: 'certs/api.pem', privateKey: 'certs/api-key.pem' },
      { hosts: ['*.example.com', 'example.com'], certChain: '/etc/certs/wild.pem', privateKey: '/etc/certs/wild-key.pem' },
    ],
    redirectPort: 8080,
  });
  t.same(quiet!.tls, { certificates: [{ hosts: ['q.example.com'], certChain: 'q.pem', privateKey: 'q-key.pem' }] }, 'no redirect');
  t.equal(plain!.tls, undefined);
});

t.test('tls mistakes are mesh errors with their paths', async (t) => {
  const gateway = (extra: object) => ({ port: 8443, routes: ROUTES, ...extra });
  const found = problems(() =>
    parseMesh({
      services: { web: WEB },
      gateways: {
        a: gateway({
          tls: [
            { hosts: ['API.example.com', '*.example.com'], cert_chain: 'a.pem', private_key: 'a-key.pem' },
            { hosts: ['api.example.com', '*', 'x.example.com:443', '*.*.example.com', '*.EXAMPLE.com'], cert_chain: 'b.pem', private_key: 'b-key.pem', ciphers: 'x' },
            { hosts: [], cert_chain: '' },
          ],
        }),
        b: gateway({ https_redirect: true }),
        c: gateway({ tls: TLS, http_port: 8080 }),
        d: gateway({ tls: TLS, https_redirect: true, http_port: 8443 }),
        e: gateway({ tls: TLS, https_redirect: true }),
        f: gateway({ tls: [] }),
        g: gateway({ tls: { hosts: ['x'] }, https_redirect: 'yes' }),
      },
    }),
  );
  t.match(found, {
    'gateways.a.tls[1].hosts[0]': /"api.example.com" is already at gateways.a.tls\[0\].hosts\[0\]: an SNI name selects one certificate/,
    'gateways.a.tls[1].hosts[1]': /expected a DNS name, or "\*\." and a DNS name .*got "\*"/,
    'gateways.a.tls[1].hosts[2]': /expected a DNS name.*no port/,
    'gateways.a.tls[1].hosts[3]': /expected a DNS name/,
    'gateways.a.tls[1].hosts[4]': /"\*.example.com" is already at gateways.a.tls\[0\].hosts\[1\]/,
    'gateways.a.tls[1].ciphers': /unknown field "ciphers" \(expected one of: hosts, cert_chain, private_key\)/,
    'gateways.a.tls[2].hosts': /at least one host is required/,
    'gateways.a.tls[2].cert_chain': /expected a non-empty string/,
    'gateways.a.tls[2].private_key': 'required',
    'gateways.b.https_redirect': /needs tls/,
    'gateways.c.http_port': /is the port of the https_redirect listener: set https_redirect: true/,
    'gateways.d.http_port': /port 8443 is the https listener's/,
    'gateways.e.http_port': /required with https_redirect/,
    'gateways.f.tls': /at least one certificate is required/,
    'gateways.g.tls': /expected a list/,
    'gateways.g.https_redirect': /expected true or false/,
  });
  t.equal(Object.keys(found).filter((p) => p.startsWith('gateways.a.tls[0]')).length, 0, 'the first entry is fine');
});

t.test('the files: relative to the mesh file, the PEMs parse and the key is the certificate’s', async (t) => {
  const file = meshDir(
    { services: { web: WEB }, gateways: { edge: { port: 8443, routes: ROUTES, tls: [{ hosts: ['a.example.test'], cert_chain: 'certs/a/chain.pem', private_key: 'certs/a/key.pem' }] } } },
    { 'certs/a/chain.pem': certs.a.certChainPem, 'certs/a/key.pem': certs.a.keyPem },
  );
  const { snapshots } = loadMesh(file);
  const secret = snapshots.get('gateway:edge')!.resources.SDS.get('gateway-cert-0')!.json as any;
  t.equal(secret.tls_certificate.certificate_chain.inline_string, certs.a.certChainPem, 'read from certs/ next to the mesh file');

  const bad = meshDir(
    {
      services: { web: WEB },
      gateways: {
        edge: {
          port: 8443,
          routes: ROUTES,
          tls: [
            { hosts: ['a.example.test'], cert_chain: 'missing.pem', private_key: 'a-key.pem' },
            { hosts: ['b.example.test'], cert_chain: 'a.pem', private_key: 'b-key.pem' },
            { hosts: ['c.example.test'], cert_chain: 'garbage.pem', private_key: 'garbage.pem' },
          ],
        },
      },
    },
    { 'a.pem': certs.a.certChainPem, 'a-key.pem': certs.a.keyPem, 'b-key.pem': certs.b.keyPem, 'garbage.pem': 'not a PEM\n' },
  );
  const found = problems(() => loadMesh(bad));
  t.match(found, {
    'gateways.edge.tls[0].cert_chain': /^cannot read \/.*\/missing\.pem: ENOENT$/,
    'gateways.edge.tls[1].private_key': 'does not match the certificate (the first in cert_chain)',
    'gateways.edge.tls[2].cert_chain': 'no PEM certificate found',
    'gateways.edge.tls[2].private_key': /^not a PEM private key/,
  });
  t.equal(Object.keys(found).length, 4, Object.keys(found).join('\n'));
});

// ---------------------------------------------------------------------------------------------
// What the gateway's role gets

const mesh = parseMesh(MESH);
const snapshots = buildMeshSnapshots(mesh, loadGatewayCertificates(mesh.gateways, '/nowhere'));
const edge = snapshots.get('gateway:edge')!;
const json = (api: 'LDS' | 'RDS' | 'SDS', name: string) => edge.resources[api].get(name)!.json as any;
const ADS = { ads: {}, resource_api_version: 'V3' };

t.test('the TLS listener: the TLS inspector, a filter chain per certificate by SNI, each with the gateway’s routes', async (t) => {
  t.same([...edge.resources.LDS.values()].filter((r) => !r.onDemand).map((r) => r.name), ['edge', 'edge/https-redirect']);
  const listener = json('LDS', 'edge');
  t.same(listener.address, { socket_address: { address: '127.0.0.1', port_value: 8443 } });
  t.same(listener.listener_filters.map((f: any) => f.name), ['envoy.filters.listener.tls_inspector']);
  t.equal(listener.filter_chains.length, 2);
  listener.filter_chains.forEach((chain: any, i: number) => {
    t.same(chain.filter_chain_match, { server_names: TLS[i]!.hosts });
    t.same(chain.transport_socket.typed_config, {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: { tls_certificate_sds_secret_configs: [{ name: `gateway-cert-${i}`, sds_config: ADS }], alpn_protocols: ['h2', 'http/1.1'] },
    }, 'its certificate over SDS; no client certificate asked for');
    const hcm = chain.filters[0].typed_config;
    t.same(hcm.rds, { config_source: ADS, route_config_name: 'edge' });
    t.equal(hcm.use_remote_address, true, 'the edge: the client is the peer');
  });
  t.notOk('listener_filters' in (snapshots.get('gateway:plain')!.resources.LDS.get('plain')!.json as any), 'a gateway without tls stays plaintext');
});

t.test('https_redirect: a plaintext listener on http_port whose every request goes to https on the TLS port', async (t) => {
  const listener = json('LDS', 'edge/https-redirect');
  t.same(listener.address, { socket_address: { address: '127.0.0.1', port_value: 8080 } });
  t.notOk('listener_filters' in listener || 'transport_socket' in listener.filter_chains[0]);
  t.equal(listener.filter_chains[0].filters[0].typed_config.rds.route_config_name, 'edge/https-redirect');
  t.same([...edge.resources.RDS.keys()], ['outbound', 'edge', 'edge/https-redirect']);
  t.same(json('RDS', 'edge/https-redirect').virtual_hosts, [
    { name: 'edge/https-redirect', domains: ['*'], routes: [{ match: { prefix: '/' }, redirect: { https_redirect: true, port_redirect: 8443 } }] },
  ]);
  const standard = snapshots.get('gateway:standard')!.resources.RDS.get('standard/https-redirect')!.json as any;
  t.same(standard.virtual_hosts[0].routes[0].redirect, { https_redirect: true }, '80 → 443: the Location needs no port');
  t.same([...snapshots.get('gateway:plain')!.resources.RDS.keys()], ['outbound', 'plain']);
});

t.test('the certificates are Secrets of the gateway’s role, which the proxy parses; no other role has them', async (t) => {
  t.same([...edge.resources.SDS.keys()], ['gateway-cert-0', 'gateway-cert-1']);
  const issues: ConfigIssue[] = [];
  for (const [i, cert] of [certs.a, certs.b].entries()) {
    const secret = json('SDS', `gateway-cert-${i}`);
    t.same(secret.tls_certificate, { certificate_chain: { inline_string: cert.certChainPem }, private_key: { inline_string: cert.keyPem } });
    parseSecret(secret, secret.name, issues);
  }
  t.same(issues, []);
  for (const role of ['sidecar:web', 'gateway:plain', 'client']) t.same([...snapshots.get(role)!.resources.SDS.keys()], [], role);
  t.throws(() => buildMeshSnapshots(mesh), /the certificates of gateway "edge" were not loaded/, 'a TLS listener is never generated without its certificates');
});

// ---------------------------------------------------------------------------------------------
// Over ADS

const sotw = (typeUrl: string, names: string[], node?: object) => ({ type_url: typeUrl, resource_names: names, version_info: '', response_nonce: '', ...(node && { node }) });

t.test('over SDS: a gateway node gets its certificates next to its own mTLS ones; /config_dump hides the keys', async (t) => {
  const h = await startHarness({ ...MESH, mtls: { mode: 'STRICT' } });
  const streams: AdsTestStream[] = [];
  t.teardown(async () => {
    for (const s of streams) s.close();
    await h.stop();
  });
  const secretsOf = async (cluster: string, names: string[]) => {
    const stream = new AdsTestStream(h.address, 'StreamAggregatedResources');
    streams.push(stream);
    stream.send(sotw(TYPE.SDS, names, { id: `${cluster}-1`, cluster }));
    const response = await stream.next(10_000);
    return Object.fromEntries(response.resources.map((any: any) => decodeAny(any)).map((s: any) => [s.name, s]));
  };
  const names = ['gateway-cert-0', 'gateway-cert-1', 'default', 'ROOTCA'];
  const gateway = await secretsOf('edge', names);
  t.same(Object.keys(gateway).sort(), ['ROOTCA', 'default', 'gateway-cert-0', 'gateway-cert-1']);
  t.equal(gateway['gateway-cert-1'].tls_certificate.certificate_chain.inline_string, certs.b.certChainPem);
  t.same(Object.keys(await secretsOf('web', names)).sort(), ['ROOTCA', 'default'], "a sidecar does not get a gateway's certificates");

  const dump: any = await (await fetch(`${h.adminUrl}/config_dump`)).json();
  const dumped = dump.snapshots['gateway:edge'].SDS.find((s: any) => s.name === 'gateway-cert-0').resource;
  t.same(dumped.tls_certificate.private_key, { inline_string: '[redacted]' });
  t.equal(dumped.tls_certificate.certificate_chain.inline_string, certs.a.certChainPem);
  t.notMatch(JSON.stringify(dump), 'PRIVATE KEY');

  h.writeMesh({ ...MESH, mtls: { mode: 'STRICT' }, gateways: { ...MESH.gateways, edge: { ...MESH.gateways.edge, tls: [{ ...TLS[0], private_key: certs.b.keyFile }] } } });
  const deadline = Date.now() + 5000;
  while (!h.logs.some((l) => l.path === 'gateways.edge.tls[0].private_key') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.match(h.logs.find((l) => l.path === 'gateways.edge.tls[0].private_key'), { reason: /does not match the certificate/, msg: /still serving the last good mesh/ });
});

t.test('a meshlet gateway follows it: certificates by SNI over SDS, the service behind it, the redirect', async (t) => {
  const ports = { app: await freePort(), https: await freePort(), http: await freePort(), admin: await freePort() };
  const app: Server = await startEchoServer('web', ports.app);
  const h = await startHarness({
    services: { web: { endpoints: [{ address: '127.0.0.1', port: ports.app }] } },
    gateways: { edge: { port: ports.https, routes: ROUTES, tls: TLS, https_redirect: true, http_port: ports.http } },
  });
  let gateway: ProxyProcess | undefined;
  t.teardown(async () => {
    await gateway?.stop('SIGKILL');
    await h.stop();
    app.close();
  });
  // Ready once its listeners are: the TLS one waits for its certificates over SDS.
  gateway = await startProxy(adsBootstrap({ adminPort: ports.admin, xdsPort: h.plane.port, nodeId: 'edge-1', nodeCluster: 'edge' }), ports.admin);

  const a = await httpsGet(ports.https, 'a.example.test', '/hello?x=1', ca.ca.rootCertPem);
  t.equal(a.status, 200, a.body);
  t.match(a.san, /DNS:a\.example\.test/);
  const seen = JSON.parse(a.body);
  t.match(seen, { server: 'web', url: '/hello?x=1', headers: { 'x-forwarded-proto': 'https' } });
  const b = await httpsGet(ports.https, 'x.b.example.test', '/', ca.ca.rootCertPem);
  t.equal(b.status, 200);
  t.match(b.san, /DNS:\*\.b\.example\.test/);

  t.same(await plainGet(ports.http, 'x.b.example.test', '/p?q=1'), { status: 301, location: `https://x.b.example.test:${ports.https}/p?q=1` });

  // A new certificate for a.example.test, in a new file: the mesh edit pushes it to the gateway.
  const renewed = ca.issue('gateway-a2', { dnsNames: ['a.example.test'] });
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-renewed-'));
  copyFileSync(renewed.chainFile, join(dir, 'chain.pem'));
  copyFileSync(renewed.keyFile, join(dir, 'key.pem'));
  h.writeMesh({
    services: { web: { endpoints: [{ address: '127.0.0.1', port: ports.app }] } },
    gateways: { edge: { port: ports.https, routes: ROUTES, tls: [{ ...TLS[0], cert_chain: join(dir, 'chain.pem'), private_key: join(dir, 'key.pem') }, TLS[1]], https_redirect: true, http_port: ports.http } },
  });
  const deadline = Date.now() + 5000;
  let san: string | undefined;
  while (Date.now() < deadline) {
    san = (await httpsGet(ports.https, 'a.example.test', '/', ca.ca.rootCertPem)).san;
    if (san?.includes('gateway-a2')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match(san, /sa\/gateway-a2/, 'new connections get the new certificate');
});
