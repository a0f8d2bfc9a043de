import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { Server } from 'node:http';
import t from 'tap';
import { startEchoServer } from '../../../cli/echo-server';
import { httpGet } from '../../helpers/ads-test-server';
import { TestMeshCa } from '../../helpers/mesh-certs';
import { bootstrapYaml, freePort, startProxy, staticCluster, type ProxyProcess } from '../../helpers/proxy-process';

/** HTTP/2 downstream: with prior knowledge in plaintext next to HTTP/1.1 (codec AUTO), and over TLS by ALPN. */

const mesh = new TestMeshCa();
const cert = mesh.issue('gateway');
let app: Server;
let proxy: ProxyProcess;
let plainPort: number;
let tlsPort: number;

t.before(async () => {
  const [admin, appPort] = [await freePort(), await freePort()];
  plainPort = await freePort();
  tlsPort = await freePort();
  app = await startEchoServer('app', appPort);
  // The plain listener can also send requests on to the TLS one over HTTP/2 (a sidecar-to-sidecar hop);
  // each hop names its protocol in x-protocol, the last one winning.
  const yaml = bootstrapYaml({
    adminPort: admin,
    listenerPort: plainPort,
    virtualHosts: `            - name: all
              domains: ["*"]
              request_headers_to_add: [{header: {key: x-protocol, value: "%PROTOCOL%"}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}]
              routes:
              - match: {prefix: /via-tls/}
                route: {cluster: tls-h2, prefix_rewrite: /}
              - match: {prefix: /}
                route: {cluster: app}`,
    clusters: [
      staticCluster('app', [{ port: appPort }]),
      staticCluster('tls-h2', [{ port: tlsPort }], `    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context: {validation_context: {trusted_ca: {filename: ${cert.rootFile}}, match_typed_subject_alt_names: [{san_type: URI, matcher: {exact: "${mesh.spiffeId('gateway')}"}}]}}`),
    ].join('\n'),
  });
  // A second listener: the same connection manager behind TLS offering h2 and http/1.1.
  const tlsListener = yaml
    .slice(yaml.indexOf('  - name: main'), yaml.indexOf('  clusters:'))
    .replace('name: main', 'name: tls')
    .replace(`port_value: ${plainPort}`, `port_value: ${tlsPort}`)
    .replace(
      '    - filters:',
      `    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: [h2, http/1.1]
            tls_certificates: [{certificate_chain: {filename: ${cert.chainFile}}, private_key: {filename: ${cert.keyFile}}}]
      filters:`,
    );
  proxy = await startProxy(yaml.replace('  clusters:', `${tlsListener}  clusters:`), admin);
});

t.teardown(async () => {
  await proxy?.stop();
  app?.close();
});

function request(session: ClientHttp2Session, path: string, body?: string): Promise<{ headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ':method': body === undefined ? 'GET' : 'POST' });
    let headers: IncomingHttpHeaders = {};
    let data = '';
    stream.on('response', (h) => (headers = h));
    stream.on('data', (d) => (data += d));
    stream.on('end', () => resolve({ headers, body: data }));
    stream.on('error', reject);
    stream.end(body);
  });
}

t.test('h2c with prior knowledge reaches an HTTP/1.1 upstream; HTTP/1.1 on the same port still works', async (t) => {
  const session = http2Connect(`http://127.0.0.1:${plainPort}`);
  t.teardown(() => session.close());
  const get = await request(session, '/a?x=1');
  t.equal(get.headers[':status'], 200);
  const seen = JSON.parse(get.body);
  t.equal(seen.url, '/a?x=1');
  t.equal(seen.headers.host, `127.0.0.1:${plainPort}`, ':authority became Host');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  const post = await request(session, '/upload', 'payload over h2');
  t.equal(post.body, 'payload over h2', 'a request body streams through');
  const [a, b] = await Promise.all([request(session, '/one'), request(session, '/two')]);
  t.same([JSON.parse(a.body).url, JSON.parse(b.body).url], ['/one', '/two'], 'concurrent streams on one connection');
  t.equal((await httpGet(`http://127.0.0.1:${plainPort}/h1`)).status, 200, 'HTTP/1.1 next to it');
});

t.test('over TLS, ALPN h2 is served as HTTP/2 and http/1.1 as HTTP/1.1', async (t) => {
  const session = http2Connect(`https://127.0.0.1:${tlsPort}`, { ca: mesh.ca.rootCertPem, checkServerIdentity: () => undefined });
  t.teardown(() => session.close());
  const res = await request(session, '/secure');
  t.equal(res.headers[':status'], 200);
  t.equal(JSON.parse(res.body).headers['x-forwarded-proto'], 'https');
  t.equal(session.alpnProtocol, 'h2');
});

t.test('a cluster speaks HTTP/2 over TLS upstream, chosen by ALPN', async (t) => {
  const res = await httpGet(`http://127.0.0.1:${plainPort}/via-tls/x`);
  t.equal(res.status, 200, res.text);
  const seen = JSON.parse(res.text);
  t.equal(seen.url, '/x');
  t.equal(seen.headers['x-protocol'], 'HTTP/2', 'the TLS listener received the request over HTTP/2');
  t.equal(seen.headers['x-forwarded-proto'], 'http', 'set by the first hop and kept');
});
