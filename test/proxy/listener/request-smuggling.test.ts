import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import { httpGet, metricValue } from '../../helpers/ads-test-server';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster, type ProxyProcess } from '../../helpers/proxy-process';

/**
 * Each framing or header rule of RFC 9112 / RFC 9110 that a proxy must enforce, sent on a raw
 * socket: the proxy answers with the status and a reason, closes the connection, and a recording
 * upstream proves nothing of it was forwarded; the proxy stays ready.
 */

let upstream: Server;
let seen: string[] = [];
let proxy: ProxyProcess;
let port: number;

t.before(async () => {
  upstream = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} host=${req.headers.host}`);
    req.resume();
    req.on('end', () => res.end('upstream'));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const admin = await freePort();
  port = await freePort();
  proxy = await startProxy(
    bootstrapYaml({
      adminPort: admin,
      listenerPort: port,
      virtualHosts: catchAllVirtualHost('app'),
      clusters: staticCluster('app', [{ port: (upstream.address() as { port: number }).port }]),
      hcmExtra: '          common_http_protocol_options: {max_headers_count: 20, headers_with_underscores_action: REJECT_REQUEST}\n          max_request_headers_kb: 8',
    }),
    admin,
  );
});

t.teardown(async () => {
  await proxy?.stop();
  upstream?.close();
});

/** Sends raw bytes; resolves with what came back once the proxy closes the connection (or after 5 s). */
function raw(request: string): Promise<{ response: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let response = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, closed: false });
    }, 5000);
    socket.on('data', (d) => (response += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response, closed: true });
    });
  });
}

const RULES: [string, string, number, RegExp][] = [
  ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, /HPE_INVALID_TRANSFER_ENCODING|HPE_UNEXPECTED_CONTENT_LENGTH/],
  ['duplicate differing Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde', 400, /HPE_/],
  ['comma-listed Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\nabcde', 400, /HPE_/],
  ['Transfer-Encoding not ending in chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n', 400, /HPE_/],
  ['Transfer-Encoding other than chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc', 400, /HPE_/],
  ['an invalid chunk size', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 400, /HPE_INVALID_CHUNK_SIZE/],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n', 400, /HPE_/],
  ['a bare CR', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n', 400, /HPE_/],
  ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u0000c\r\n\r\n', 400, /HPE_/],
  ['a space in a header name', 'GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n', 400, /HPE_/],
  ['Connection nominating x-forwarded-for', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: x-forwarded-for\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n', 400, /nominating x-forwarded-for/],
  ['Connection nominating host', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close, Host\r\n\r\n', 400, /nominating host/],
  ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, /more than one Host header/],
  ['more headers than max_headers_count', `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 25 }, (_, i) => `x-h${i}: 1\r\n`).join('')}\r\n`, 431, /max_headers_count/],
  ['headers over max_request_headers_kb', `GET / HTTP/1.1\r\nHost: a\r\nx-big: ${'a'.repeat(9000)}\r\n\r\n`, 431, /max_request_headers_kb/],
  ['an underscore in a header name (REJECT_REQUEST)', 'GET / HTTP/1.1\r\nHost: a\r\nx_forwarded_for: 1.2.3.4\r\n\r\n', 400, /underscore/],
];

for (const [what, request, status, reason] of RULES) {
  t.test(`${what}: ${status}, closed, not forwarded`, async (t) => {
    seen = [];
    const { response, closed } = await raw(request);
    t.match(response, new RegExp(`^HTTP/1\\.1 ${status} `), response.split('\r\n')[0]);
    t.match(response, reason, 'the body says why');
    t.match(response.toLowerCase(), /connection: close/);
    t.ok(closed, 'the proxy closed the connection');
    t.same(seen, [], 'nothing reached the upstream');
    t.equal((await httpGet(`${proxy.adminUrl}/ready`)).status, 200, 'the proxy is still ready');
  });
}

t.test('a smuggled second request behind a refused one never reaches the upstream', async (t) => {
  seen = [];
  const smuggled = 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: internal\r\n\r\n';
  const { response } = await raw(smuggled);
  t.match(response, /^HTTP\/1\.1 400 /);
  t.equal(response.match(/^HTTP\/1\.1 \d{3} /gm)?.length, 1, 'one response only');
  t.same(seen, []);
});

t.test('an absolute-form target goes upstream in origin form, with Host from the authority', async (t) => {
  seen = [];
  const { response } = await raw('GET http://api.example:8080/p?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n');
  t.match(response, /^HTTP\/1\.1 200 /);
  t.same(seen, ['GET /p?q=1 host=api.example:8080']);
});

t.test('the refusals are counted', async (t) => {
  t.ok(((await metricValue(proxy.adminUrl, /^envoy_http_downstream_cx_protocol_error\{envoy_http_conn_manager_prefix="main_http"\}/)) ?? 0) >= RULES.length);
});

t.test('the buffer filter: a request body over max_request_bytes gets 413 and is not forwarded', async (t) => {
  const [admin, bufferedPort] = [await freePort(), await freePort()];
  const yaml = bootstrapYaml({
    adminPort: admin,
    listenerPort: bufferedPort,
    virtualHosts: catchAllVirtualHost('app'),
    clusters: staticCluster('app', [{ port: (upstream.address() as { port: number }).port }]),
  }).replace(
    /          http_filters:\n/,
    `          http_filters:
          - name: envoy.filters.http.buffer
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer, max_request_bytes: 1024}
`,
  );
  const buffered = await startProxy(yaml, admin);
  t.teardown(() => buffered.stop());
  const send = (request: string) =>
    new Promise<string>((resolve) => {
      const socket = connect(bufferedPort, '127.0.0.1', () => socket.write(request));
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(data));
    });
  seen = [];
  t.match(await send(`POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n${'x'.repeat(2000)}`), /^HTTP\/1\.1 413 [\s\S]*max_request_bytes/);
  const chunk = `1f4\r\n${'y'.repeat(500)}\r\n`;
  t.match(await send(`POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}${chunk}0\r\n\r\n`), /^HTTP\/1\.1 413 /);
  t.same(seen, [], 'neither reached the upstream');
  t.match(await send(`POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}0\r\n\r\n`), /^HTTP\/1\.1 200 /);
  t.same(seen, ['POST /small host=a'], 'a body within the limit goes upstream whole');
});

t.test('a bad pipelined request after a good one: the good one is answered whole, then the connection closes', async (t) => {
  seen = [];
  const { response, closed } = await raw('POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiT /b HTTP/1.1\r\n\r\n');
  t.match(response, /^HTTP\/1\.1 200 /, 'the request that ran gets its answer');
  t.equal(response.match(/^HTTP\/1\.1 \d{3} /gm)?.length, 1);
  t.ok(closed);
  t.same(seen, ['POST /first host=a']);
});
