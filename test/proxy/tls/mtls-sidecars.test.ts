import { request as httpsRequest } from 'node:https';
import type { Server } from 'node:http';
import t from 'tap';
import { startEchoServer } from '../../../cli/echo-server';
import { httpGet, metricValue } from '../../helpers/ads-test-server';
import { TestMeshCa, commonTlsContext, type CertFiles } from '../../helpers/mesh-certs';
import { bootstrapYaml, freePort, startProxy, type ProxyProcess } from '../../helpers/proxy-process';

/**
 * Two sidecars on loopback: client app → client sidecar (plaintext listener, mTLS clusters) →
 * server sidecar (mTLS inbound: STRICT on one port, PERMISSIVE on another, RBAC by principal)
 * → upstream. Certificates come from a mesh CA; the bad ones from another CA, out of their
 * validity window, or with another identity.
 */

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = '{name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

const mesh = new TestMeshCa();
const otherMesh = new TestMeshCa();
const DAY_MS = 86_400_000;

function inboundHcm(statPrefix: string, xfcc: boolean): string {
  return `
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: ${statPrefix}
          ${xfcc ? 'forward_client_cert_details: SANITIZE_SET\n          set_current_client_cert_details: {uri: true}' : ''}
          route_config:
            virtual_hosts: [{name: app, domains: ["*"], routes: [{match: {prefix: /}, route: {cluster: app}}]}]
          http_filters:
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
                  mesh-clients:
                    permissions: [{any: true}]
                    principals: [{authenticated: {principal_name: {exact: "${mesh.spiffeId('client')}"}}}]
                  plaintext-health:
                    permissions: [{url_path: {path: {exact: /health}}}]
                    principals: [{any: true}]
          - ${ROUTER}`;
}

function serverSidecarYaml(ports: { admin: number; strict: number; permissive: number; app: number }, cert: CertFiles): string {
  const tls = `
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": ${DOWNSTREAM_TLS}
          require_client_certificate: true
          common_tls_context: ${commonTlsContext(cert)}`;
  return `
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${ports.admin}}}}
static_resources:
  listeners:
  - name: inbound-strict
    address: {socket_address: {address: 127.0.0.1, port_value: ${ports.strict}}}
    filter_chains:
    - ${tls.trimStart()}
      filters:${inboundHcm('inbound', true)}
  - name: inbound-permissive
    address: {socket_address: {address: 127.0.0.1, port_value: ${ports.permissive}}}
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}
    filter_chains:
    - filter_chain_match: {transport_protocol: tls}
      ${tls.trimStart()}
      filters:${inboundHcm('inbound_permissive', true)}
    - filter_chain_match: {transport_protocol: raw_buffer}
      filters:${inboundHcm('inbound_permissive', false)}
  clusters:
  - name: app
    connect_timeout: 1s
    load_assignment: {cluster_name: app, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${ports.app}}}}}]}]}
`;
}

/** The client sidecar: one plaintext outbound listener, routing by path prefix to mTLS clusters. */
function clientSidecarYaml(ports: { admin: number; outbound: number }, clusters: { name: string; port: number; cert: CertFiles; san: string }[]): string {
  const routes = clusters.map((c) => `{match: {prefix: /${c.name}/}, route: {cluster: ${c.name}, prefix_rewrite: /}}`).join(', ');
  const clusterYaml = clusters
    .map(
      (c) => `  - name: ${c.name}
    connect_timeout: 1s
    load_assignment: {cluster_name: ${c.name}, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${c.port}}}}}]}]}
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": ${UPSTREAM_TLS}
        sni: server.default
        common_tls_context: ${commonTlsContext(c.cert, c.san)}`,
    )
    .join('\n');
  return bootstrapYaml({
    adminPort: ports.admin,
    listenerPort: ports.outbound,
    virtualHosts: `            - {name: all, domains: ["*"], routes: [${routes}]}`,
    clusters: clusterYaml,
  });
}

/** A request straight to the server sidecar over TLS with the given client certificate (or none). */
function directTls(port: number, path: string, cert: CertFiles | undefined): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        cert: cert?.certChainPem,
        key: cert?.keyPem,
        ca: mesh.ca.rootCertPem,
        // The server's certificate names a SPIFFE ID, not 127.0.0.1.
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
      },
    );
    req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end();
  });
}

let app: Server;
let server: ProxyProcess;
let client: ProxyProcess;
let ports: { admin: number; strict: number; permissive: number; app: number };
let clientPorts: { admin: number; outbound: number };
const certs = {
  server: mesh.issue('server'),
  client: mesh.issue('client'),
  intruder: mesh.issue('intruder'),
  foreign: otherMesh.issue('client'),
  expired: mesh.issue('client', { notBefore: new Date(Date.now() - 2 * DAY_MS), ttlMs: DAY_MS }),
  notYetValid: mesh.issue('client', { notBefore: new Date(Date.now() + DAY_MS), ttlMs: DAY_MS }),
};

t.before(async () => {
  ports = { admin: await freePort(), strict: await freePort(), permissive: await freePort(), app: await freePort() };
  clientPorts = { admin: await freePort(), outbound: await freePort() };
  app = await startEchoServer('app', ports.app);
  server = await startProxy(serverSidecarYaml(ports, certs.server), ports.admin);
  client = await startProxy(
    clientSidecarYaml(clientPorts, [
      { name: 'strict', port: ports.strict, cert: certs.client, san: mesh.spiffeId('server') },
      { name: 'permissive', port: ports.permissive, cert: certs.client, san: mesh.spiffeId('server') },
      // The server is not who this cluster expects.
      { name: 'wrong-san', port: ports.strict, cert: certs.client, san: mesh.spiffeId('payments') },
      // This cluster trusts another mesh's CA only.
      { name: 'foreign-ca', port: ports.strict, cert: certs.foreign, san: mesh.spiffeId('server') },
      // The server refuses this client's certificate, and RBAC would too.
      { name: 'intruder', port: ports.strict, cert: certs.intruder, san: mesh.spiffeId('server') },
    ]),
    clientPorts.admin,
  );
});

t.teardown(async () => {
  await client?.stop();
  await server?.stop();
  app?.close();
});

const outbound = (path: string) => httpGet(`http://127.0.0.1:${clientPorts.outbound}${path}`);

t.test('a request over mTLS succeeds and the upstream sees the client SPIFFE ID in x-forwarded-client-cert', async (t) => {
  const res = await outbound('/strict/hello');
  t.equal(res.status, 200, res.text);
  const seen = JSON.parse(res.text);
  t.equal(seen.url, '/hello');
  const xfcc: string = seen.headers['x-forwarded-client-cert'];
  t.match(xfcc, new RegExp(`^By=${mesh.spiffeId('server')};Hash=[0-9a-f]{64};URI=${mesh.spiffeId('client')}$`));
  t.ok((await metricValue(server.adminUrl, /^envoy_listener_ssl_handshake\{envoy_listener_address="127\.0\.0\.1_\d+"\}/)) ?? 0 >= 1);
  t.ok(((await metricValue(client.adminUrl, /^envoy_cluster_ssl_handshake\{envoy_cluster_name="strict"\}/)) ?? 0) >= 1);
});

t.test('a forged x-forwarded-client-cert from the client is replaced (SANITIZE_SET)', async (t) => {
  const res = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1', port: ports.strict, path: '/', cert: certs.client.certChainPem, key: certs.client.keyPem, ca: mesh.ca.rootCertPem,
        checkServerIdentity: () => undefined, agent: false, headers: { 'x-forwarded-client-cert': 'URI=spiffe://mesh.test/ns/default/sa/admin' },
      },
      (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
  const xfcc: string = JSON.parse(res).headers['x-forwarded-client-cert'];
  t.notMatch(xfcc, /sa\/admin/);
  t.match(xfcc, /URI=spiffe:\/\/mesh\.test\/ns\/default\/sa\/client$/);
});

t.test('the server refuses bad client certificates, each for its own reason, and keeps serving', async (t) => {
  const cases: [string, CertFiles | undefined, string][] = [
    ['another CA', certs.foreign, 'untrusted_ca'],
    ['expired', certs.expired, 'expired'],
    ['not yet valid', certs.notYetValid, 'not_yet_valid'],
    ['no certificate', undefined, 'no_cert'],
  ];
  for (const [what, cert, reason] of cases) {
    const before = (await metricValue(server.adminUrl, new RegExp(`^meshlet_ssl_fail_verify_total\\{side="downstream",name="127\\.0\\.0\\.1_${ports.strict}",reason="${reason}"\\}`))) ?? 0;
    const res = await directTls(ports.strict, '/', cert);
    t.ok('error' in res, `${what}: refused (${JSON.stringify(res)})`);
    const after = await metricValue(server.adminUrl, new RegExp(`^meshlet_ssl_fail_verify_total\\{side="downstream",name="127\\.0\\.0\\.1_${ports.strict}",reason="${reason}"\\}`));
    t.equal(after, before + 1, `${what}: counted as ${reason}`);
  }
  t.match(server.stderr(), /TLS peer refused: the peer certificate has expired/);
  t.match(server.stderr(), /TLS peer refused: the peer certificate is not signed by a trusted CA/);
  t.equal((await outbound('/strict/')).status, 200, 'good clients are still served');
  t.equal((await httpGet(`${server.adminUrl}/ready`)).status, 200);
});

t.test('the client refuses an upstream with the wrong identity or an untrusted CA: 503 UF naming the reason', async (t) => {
  const wrong = await outbound('/wrong-san/');
  t.equal(wrong.status, 503);
  t.match(wrong.text, /upstream connect error: TLS san_mismatch: no subject alt name of the peer matches \(peer has URI:spiffe:\/\/mesh\.test\/ns\/default\/sa\/server\)/);
  t.equal(await metricValue(client.adminUrl, /^envoy_cluster_ssl_fail_verify_san\{envoy_cluster_name="wrong-san"\}/), 1);
  const foreign = await outbound('/foreign-ca/');
  t.equal(foreign.status, 503);
  t.match(foreign.text, /TLS untrusted_ca/);
  t.ok(((await metricValue(client.adminUrl, /^meshlet_ssl_fail_verify_total\{side="upstream",name="foreign-ca",reason="untrusted_ca"\}/)) ?? 0) >= 1);
  t.match(client.stderr(), /upstream TLS peer refused/);
});

t.test('STRICT refuses plaintext; PERMISSIVE takes both, with the identity only over mTLS', async (t) => {
  const plainStrict = await httpGet(`http://127.0.0.1:${ports.strict}/health`).catch((err: Error) => ({ status: 0, text: err.message }));
  t.equal(plainStrict.status, 0, 'plaintext to the STRICT port gets no HTTP answer');
  t.ok(((await metricValue(server.adminUrl, new RegExp(`^envoy_listener_ssl_connection_error\\{envoy_listener_address="127\\.0\\.0\\.1_${ports.strict}"\\}`))) ?? 0) >= 1);

  const plain = await httpGet(`http://127.0.0.1:${ports.permissive}/health`);
  t.equal(plain.status, 200, 'plaintext is accepted on the PERMISSIVE port');
  t.equal(JSON.parse(plain.text).headers['x-forwarded-client-cert'], undefined);
  const tls = await outbound('/permissive/x');
  t.equal(tls.status, 200, tls.text);
  t.match(JSON.parse(tls.text).headers['x-forwarded-client-cert'], /URI=spiffe:\/\/mesh\.test\/ns\/default\/sa\/client/);
});

t.test('RBAC allows by principal and denies others with 403 and a counter', async (t) => {
  const denied = await directTls(ports.strict, '/', certs.intruder);
  t.same(denied, { status: 403, body: 'RBAC: access denied\n' });
  const plainDenied = await httpGet(`http://127.0.0.1:${ports.permissive}/anything`);
  t.equal(plainDenied.status, 403, 'plaintext has no principal: only the /health policy applies');
  t.equal((await directTls(ports.strict, '/health', certs.intruder) as { status: number }).status, 200, 'a path-only policy allows any principal');
  t.equal(await metricValue(server.adminUrl, /^envoy_http_rbac_denied\{envoy_http_conn_manager_prefix="inbound"\}/), 1);
  t.ok(((await metricValue(server.adminUrl, /^envoy_http_rbac_allowed\{envoy_http_conn_manager_prefix="inbound"\}/)) ?? 0) >= 2);
  const viaSidecar = await outbound('/intruder/');
  t.equal(viaSidecar.status, 403, 'through the client sidecar too');
});
