import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { startEchoServer } from '../../../cli/echo-server';
import { metricValue } from '../../helpers/ads-test-server';
import { TestMeshCa, type CertFiles } from '../../helpers/mesh-certs';
import { MESHLET_BIN, freePort, startProxy, writeTempFile, type ProxyProcess } from '../../helpers/proxy-process';
import { httpsGet as gatewayGet, plainGet } from '../../xds/control-plane/fixtures/gateway-client';

/**
 * An ingress gateway from a static bootstrap, as the control plane generates it for a mesh
 * gateway with `tls` and `https_redirect`: one listener with the TLS inspector and a filter
 * chain per certificate, chosen by SNI (exact, or `*.` wildcard), and a plaintext listener
 * whose every request is redirected to https.
 */

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const ROUTER = '{name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}';
const EXAMPLE = join(__dirname, '..', '..', '..', '..', 'examples', 'gateway-tls-bootstrap.yaml');

const ca = new TestMeshCa();
const certs = {
  a: ca.issue('gateway-a', { dnsNames: ['a.example.test'] }),
  b: ca.issue('gateway-b', { dnsNames: ['*.b.example.test'] }),
};

function chain(serverName: string, cert: CertFiles): string {
  return `
    - filter_chain_match: {server_names: ["${serverName}"]}
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": ${DOWNSTREAM_TLS}
          common_tls_context:
            tls_certificates: [{certificate_chain: {filename: ${cert.chainFile}}, private_key: {filename: ${cert.keyFile}}}]
            alpn_protocols: [h2, http/1.1]
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: gateway
          use_remote_address: true
          route_config:
            virtual_hosts: [{name: backend, domains: ["*"], routes: [{match: {prefix: /}, route: {cluster: backend}}]}]
          http_filters: [${ROUTER}]`;
}

function gatewayYaml(ports: { admin: number; https: number; http: number; backend: number }): string {
  return `
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${ports.admin}}}}
static_resources:
  listeners:
  - name: gateway
    address: {socket_address: {address: 127.0.0.1, port_value: ${ports.https}}}
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}
    filter_chains:${chain('a.example.test', certs.a)}${chain('*.b.example.test', certs.b)}
  - name: gateway/https-redirect
    address: {socket_address: {address: 127.0.0.1, port_value: ${ports.http}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: gateway_https_redirect
          use_remote_address: true
          route_config:
            virtual_hosts: [{name: redirect, domains: ["*"], routes: [{match: {prefix: /}, redirect: {https_redirect: true, port_redirect: ${ports.https}}}]}]
          http_filters: [${ROUTER}]
  clusters:
  - name: backend
    connect_timeout: 1s
    load_assignment: {cluster_name: backend, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${ports.backend}}}}}]}]}
`;
}

let backend: Server;
let gateway: ProxyProcess;
let ports: { admin: number; https: number; http: number; backend: number };

t.before(async () => {
  ports = { admin: await freePort(), https: await freePort(), http: await freePort(), backend: await freePort() };
  backend = await startEchoServer('backend', ports.backend);
  gateway = await startProxy(gatewayYaml(ports), ports.admin);
});

t.teardown(async () => {
  await gateway?.stop();
  backend?.close();
});

/** GET over HTTPS with this SNI, the server verified as a browser would: its certificate must name `servername`. */
const httpsGet = (servername: string, path: string) => gatewayGet(ports.https, servername, path, ca.ca.rootCertPem);

interface TlsAttempt {
  readonly handshake: boolean;
  readonly alpn: string | false | null;
  /** Bytes of HTTP response received after the handshake. */
  readonly responseBytes: number;
  readonly error: string | undefined;
}

/** A TLS connection with this SNI (none when undefined: node sends none to an IP) that sends one request, until it closes. */
function tlsAttempt(servername: string | undefined, alpn = ['http/1.1']): Promise<TlsAttempt> {
  return new Promise((resolve) => {
    let handshake = false;
    let responseBytes = 0;
    let error: string | undefined;
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: ports.https,
      ...(servername !== undefined && { servername }),
      ca: ca.ca.rootCertPem,
      // Which certificate comes back (if any) is what is being looked at, not whether it names the SNI.
      checkServerIdentity: () => undefined,
      ALPNProtocols: alpn,
    });
    socket.on('secureConnect', () => {
      handshake = true;
      // HTTP/2 would need its preface; whether h2 was agreed is all that is asked of it.
      if (socket.alpnProtocol === 'h2') socket.destroy();
      else socket.write(`GET / HTTP/1.1\r\nhost: ${servername ?? 'gateway'}\r\nconnection: close\r\n\r\n`);
    });
    socket.on('data', (d: Buffer) => (responseBytes += d.length));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => resolve({ handshake, alpn: socket.alpnProtocol, responseBytes, error }));
  });
}

const noChainMatches = () => metricValue(gateway.adminUrl, new RegExp(`^envoy_listener_no_filter_chain_match\\{envoy_listener_address="127\\.0\\.0\\.1_${ports.https}"\\}`));

t.test('SNI picks the certificate: the exact name gets cert A, a name under the wildcard cert B', async (t) => {
  const a = await httpsGet('a.example.test', '/hello');
  t.equal(a.status, 200, a.body);
  t.match(a.san, /DNS:a\.example\.test/);
  t.notMatch(a.san, /b\.example\.test/);
  const b = await httpsGet('x.b.example.test', '/hello');
  t.equal(b.status, 200, b.body);
  t.match(b.san, /DNS:\*\.b\.example\.test/);
});

t.test('the request reaches the upstream with x-forwarded-proto: https and the client as x-forwarded-for', async (t) => {
  const res = await httpsGet('a.example.test', '/echo?q=1');
  const seen = JSON.parse(res.body);
  t.equal(seen.url, '/echo?q=1');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'use_remote_address: the peer is the client');
});

t.test('ALPN: h2 is offered, http/1.1 taken by clients that ask for it', async (t) => {
  t.equal((await tlsAttempt('a.example.test', ['h2', 'http/1.1'])).alpn, 'h2');
  t.equal((await tlsAttempt('x.b.example.test', ['http/1.1'])).alpn, 'http/1.1');
});

t.test('an SNI no chain names, or none at all, has no filter chain: the connection is closed, as Envoy does', async (t) => {
  const before = (await noChainMatches()) ?? 0;
  for (const servername of ['unknown.example.test', 'b.example.test', undefined]) {
    const attempt = await tlsAttempt(servername);
    t.equal(attempt.responseBytes, 0, `${servername ?? 'no SNI'}: closed without an HTTP response`);
    // Envoy decides on the ClientHello and closes before any ServerHello, so no certificate is shown.
    t.notOk(attempt.handshake, `${servername ?? 'no SNI'}: no handshake, no certificate shown`);
  }
  t.equal(((await noChainMatches()) ?? 0) - before, 3, 'each counted in no_filter_chain_match');
  const after = await httpsGet('a.example.test', '/');
  t.equal(after.status, 200, 'the listener goes on serving known names');
});

t.test('the redirect listener answers 301 with the https URL on the TLS port, path and query kept', async (t) => {
  const res = await plainGet(ports.http, `a.example.test:${ports.http}`, '/some/path?x=1&y=two');
  t.equal(res.status, 301);
  t.equal(res.location, `https://a.example.test:${ports.https}/some/path?x=1&y=two`);
});

// ---------------------------------------------------------------------------------------------
// examples/gateway-tls-bootstrap.yaml names certificates under /etc/meshlet/certs/: with those
// paths pointed at generated certificates, the proxy accepts it.

t.test('examples/gateway-tls-bootstrap.yaml is valid once its certificate files exist', async (t) => {
  const example = readFileSync(EXAMPLE, 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-example-certs-'));
  const files = [...new Set(example.match(/\/etc\/meshlet\/certs\/[^\s,}]+/g) ?? [])];
  t.ok(files.length >= 4, `two certificates and their keys: ${files.join(', ')}`);
  for (const host of ['api.example.com', 'example.com']) {
    const cert = ca.issue(host.replace(/\./g, '-'), { dnsNames: [host, `*.${host}`] });
    mkdirSync(join(dir, host), { recursive: true });
    writeFileSync(join(dir, host, 'cert-chain.pem'), cert.certChainPem);
    writeFileSync(join(dir, host, 'key.pem'), cert.keyPem);
  }
  const rewritten = writeTempFile('gateway-tls-bootstrap.yaml', example.replaceAll('/etc/meshlet/certs/', `${dir}/`));
  const run = spawnSync(process.execPath, [MESHLET_BIN, 'proxy', '--validate', '--config', rewritten], { encoding: 'utf8' });
  t.equal(run.status, 0, `${run.stdout}${run.stderr}`);

  const missing = spawnSync(process.execPath, [MESHLET_BIN, 'proxy', '--validate', '--config', EXAMPLE], { encoding: 'utf8' });
  t.equal(missing.status, 1, 'as it is, the files are missing');
  t.match(`${missing.stdout}${missing.stderr}`, /cannot read \/etc\/meshlet\/certs\/api\.example\.com\/cert-chain\.pem/);
});
