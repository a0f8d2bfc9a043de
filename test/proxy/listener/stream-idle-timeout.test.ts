import t from 'tap';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as http2Connect, constants as h2, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { bootstrapYaml, freePort, startProxy, staticCluster, type ProxyProcess } from '../../helpers/proxy-process';
import { sampleValue } from '../../../bench/prometheus-text';

// stream_idle_timeout (0.3 s here) on ordinary requests, HTTP/1.1 and HTTP/2: a real proxy process in
// front of a real upstream whose handlers stall, trickle or read a body; clients on raw sockets / node:http2.

const MAX_REQUESTS = 50;
let proxy: ProxyProcess;
let port: number;
/** A second listener, the same but with the connection idle_timeout disabled (0), and the buffer filter. */
let noIdlePort: number;
let upstream: Server;

/** What the upstream saw of each request (by its `id` query parameter): whether it ended before it was complete. */
const upstreamEnds = new Map<string, { resolve: (early: boolean) => void; promise: Promise<boolean> }>();
function upstreamEnd(id: string) {
  let entry = upstreamEnds.get(id);
  if (entry === undefined) {
    let resolve!: (early: boolean) => void;
    const promise = new Promise<boolean>((r) => (resolve = r));
    entry = { resolve, promise };
    upstreamEnds.set(id, entry);
  }
  return entry;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const id = url.searchParams.get('id') ?? '';
  let finished = false;
  res.once('finish', () => (finished = true));
  // Early: the response was not finished when the connection went (the proxy aborted the request).
  res.once('close', () => upstreamEnd(id).resolve(!finished));
  switch (url.pathname) {
    case '/stall': // headers and part of the body, then nothing
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      return;
    case '/trickle': {
      // one byte every 100 ms, for 1 s
      res.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const timer = setInterval(() => {
        res.write('x');
        if (++sent === 10) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
      res.once('close', () => clearInterval(timer));
      return;
    }
    case '/pause': {
      // part of the body, a pause of `ms`, the rest
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.write('a');
      const timer = setTimeout(() => res.end('b'), Number(url.searchParams.get('ms')));
      res.once('close', () => clearTimeout(timer));
      return;
    }
    case '/slow-headers': {
      const timer = setTimeout(() => res.end('late'), 1500);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    case '/upload': {
      let size = 0;
      req.on('data', (chunk: Buffer) => (size += chunk.length));
      req.on('end', () => res.end(String(size)));
      return;
    }
    default:
      res.writeHead(200, { 'content-length': '2' });
      res.end('ok');
  }
}

t.before(async () => {
  const [adminPort, appPort] = [await freePort(), await freePort()];
  [port, noIdlePort] = [await freePort(), await freePort()];
  upstream = createServer(handle);
  await new Promise<void>((r) => upstream.listen(appPort, '127.0.0.1', r));
  const yaml = bootstrapYaml({
      adminPort,
      listenerPort: port,
      hcmExtra: `          stream_idle_timeout: 0.3s
          common_http_protocol_options: {idle_timeout: 0.6s}
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}`,
      virtualHosts: `            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /long/}
                route: {cluster: app, idle_timeout: 1s, prefix_rewrite: /}
              - match: {prefix: /off/}
                route: {cluster: app, idle_timeout: 0s, prefix_rewrite: /}
              - match: {prefix: /}
                route: {cluster: app}`,
      clusters: staticCluster('app', [{ port: appPort }], `    circuit_breakers: {thresholds: [{max_requests: ${MAX_REQUESTS}, track_remaining: true}]}`),
  });
  const noIdleListener = yaml
    .slice(yaml.indexOf('  - name: main'), yaml.indexOf('  clusters:'))
    .replace('name: main', 'name: noidle')
    .replace(`port_value: ${port}`, `port_value: ${noIdlePort}`)
    .replace('stat_prefix: main_http', 'stat_prefix: noidle_http')
    .replace('idle_timeout: 0.6s', 'idle_timeout: 0s')
    .replace(
      '          http_filters:\n',
      `          http_filters:
          - name: envoy.filters.http.buffer
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer, max_request_bytes: 1024}
`,
    );
  proxy = await startProxy(yaml.replace('  clusters:', `${noIdleListener}  clusters:`), adminPort);
});

t.teardown(async () => {
  await proxy?.stop('SIGKILL');
  upstream?.closeAllConnections();
  upstream?.close();
});

// Bounded waits.

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
  ]);
}

async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  return sampleValue(await (await request(`${proxy.adminUrl}/stats/prometheus`)).body.text(), name, labels) ?? 0;
}

const HCM = { envoy_http_conn_manager_prefix: 'main_http' };
const APP = { envoy_cluster_name: 'app' };
const idleTimeouts = () => metric('envoy_http_downstream_rq_idle_timeout', HCM);

/** Nothing held after a stream ends, however it ended: no request in flight upstream or downstream, every circuit breaker slot back. */
async function nothingHeld(): Promise<void> {
  await eventually(
    async () =>
      (await metric('envoy_cluster_upstream_rq_active', APP)) === 0 &&
      (await metric('envoy_http_downstream_rq_active', HCM)) === 0 &&
      (await metric('envoy_cluster_circuit_breakers_default_remaining_rq', APP)) === MAX_REQUESTS,
    3000,
    'active requests back to 0 and circuit breaker slots released',
  );
}

/** The access log line of the request whose path is `path` (pino writes asynchronously). */
async function accessLog(path: string): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await eventually(
    async () => {
      for (const line of proxy.stdout().split('\n')) {
        if (line.includes(`"path":"${path}"`)) found = JSON.parse(line) as Record<string, unknown>;
      }
      return found !== undefined;
    },
    3000,
    `access log line for ${path}`,
  );
  return found!;
}

/** A raw HTTP/1.1 connection: what it received and when it closed. */
class RawClient {
  readonly socket: Socket;
  data = '';
  readonly opened = performance.now();
  closedAt: number | undefined;
  private readonly closed: Promise<void>;

  constructor(to = port) {
    this.socket = connect(to, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => (this.data += d.toString('latin1')));
    this.socket.on('error', () => {});
    this.closed = new Promise((r) => this.socket.once('close', () => r()));
    this.closed.then(() => (this.closedAt = performance.now()));
  }

  send(text: string): this {
    this.socket.write(text);
    return this;
  }

  async until(what: string, predicate: (data: string) => boolean, ms = 3000): Promise<void> {
    await eventually(async () => predicate(this.data), ms, what);
  }

  /** ms from opening to close. */
  async whenClosed(ms = 3000): Promise<number> {
    await within(this.closed, ms, 'connection closed');
    return this.closedAt! - this.opened;
  }
}

/** A chunked body decoded; throws unless it ends with the last chunk. */
function dechunk(text: string): string {
  let out = '';
  for (let at = 0; ; ) {
    const eol = text.indexOf('\r\n', at);
    if (eol === -1) throw new Error(`truncated chunked body: ${JSON.stringify(text)}`);
    const size = parseInt(text.slice(at, eol), 16);
    if (size === 0) {
      if (text.slice(eol) !== '\r\n\r\n') throw new Error(`bad end of chunked body: ${JSON.stringify(text)}`);
      return out;
    }
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

t.test('HTTP/1.1: an upstream that stalls mid-body has the stream reset after the idle timeout, counted and logged', async (t) => {
  const before = await idleTimeouts();
  const cxBefore = await metric('envoy_http_downstream_cx_idle_timeout', HCM);
  const client = new RawClient().send('GET /stall?id=h1-stall HTTP/1.1\r\nhost: x\r\n\r\n');
  const elapsed = await client.whenClosed();
  t.match(client.data, /^HTTP\/1\.1 200 /, 'the response had started');
  t.match(client.data, /partial/, 'with the part of the body the upstream sent');
  t.notMatch(client.data, /\r\n0\r\n\r\n$/, 'no last chunk: the client sees a broken response, not a complete one');
  t.ok(elapsed >= 250 && elapsed < 2000, `reset after about 300 ms (${Math.round(elapsed)} ms)`);
  t.equal(await within(upstreamEnd('h1-stall').promise, 2000, 'upstream connection closed'), true, 'the upstream request was aborted');
  t.equal(await idleTimeouts(), before + 1, 'envoy_http_downstream_rq_idle_timeout');
  t.equal(await metric('envoy_http_downstream_cx_idle_timeout', HCM), cxBefore, 'not a connection idle timeout');
  const log = await accessLog('/stall?id=h1-stall');
  t.equal(log.response_code, 200);
  t.equal(log.response_flags, 'SI');
  t.equal(log.response_code_details, 'stream_idle_timeout');
  await nothingHeld();
});

t.test('HTTP/1.1: a client that stalls mid-body gets 408 "stream timeout"; the upstream request is aborted', async (t) => {
  const before = await idleTimeouts();
  // Keep-alive asked for: the unread rest of the body must close the connection anyway.
  const client = new RawClient().send('POST /upload?id=h1-upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789');
  await client.until('408', (d) => d.includes('stream timeout\n'));
  t.match(client.data, /^HTTP\/1\.1 408 /);
  t.match(client.data, /x-meshlet-response-flags: SI/i);
  t.ok(performance.now() - client.opened >= 250, 'not before the idle timeout');
  await client.whenClosed(2000);
  t.pass('the connection is closed after the 408');
  t.equal(await within(upstreamEnd('h1-upload').promise, 2000, 'upstream request ended'), true, 'the upstream saw its request aborted');
  t.equal(await idleTimeouts(), before + 1);
  const log = await accessLog('/upload?id=h1-upload');
  t.equal(log.response_code, 408);
  t.equal(log.response_flags, 'SI');
  t.equal(log.response_code_details, 'stream_idle_timeout');
  await nothingHeld();
});

t.test('HTTP/1.1: a complete request whose upstream is silent past the idle timeout gets 408', async (t) => {
  const before = await idleTimeouts();
  const client = new RawClient().send('GET /slow-headers?id=h1-slow HTTP/1.1\r\nhost: x\r\n\r\n');
  await client.until('408', (d) => d.includes('stream timeout\n'));
  t.match(client.data, /^HTTP\/1\.1 408 /);
  t.equal(await within(upstreamEnd('h1-slow').promise, 2000, 'upstream request ended'), true, 'aborted upstream');
  t.equal(await idleTimeouts(), before + 1);
  // The request was complete: the connection stays usable.
  client.send('GET /fast?id=h1-after HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  await client.until('second response', (d) => d.endsWith('ok'));
  t.pass('the keep-alive connection serves the next request');
  client.socket.destroy();
  await nothingHeld();
});

t.test('activity resets the timer: a byte every 100 ms for 1 s is not cut by a 300 ms idle timeout', async (t) => {
  const before = await idleTimeouts();
  const client = new RawClient().send('GET /trickle?id=h1-trickle HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  const elapsed = await client.whenClosed(4000);
  t.match(client.data, /^HTTP\/1\.1 200 /);
  t.equal(dechunk(client.data.slice(client.data.indexOf('\r\n\r\n') + 4)), 'xxxxxxxxxx', 'all 10 bytes, and the last chunk');
  t.ok(elapsed >= 900, `it took the full second (${Math.round(elapsed)} ms)`);
  t.equal(await upstreamEnd('h1-trickle').promise, false, 'the upstream finished its response');
  t.equal(await idleTimeouts(), before, 'nothing timed out');
});

t.test("the route's idle_timeout overrides stream_idle_timeout; 0 disables it", async (t) => {
  const before = await idleTimeouts();
  const paused = new RawClient().send('GET /long/pause?id=long-pause&ms=600 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  const off = new RawClient().send('GET /off/pause?id=off-pause&ms=700 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  await paused.whenClosed();
  t.match(paused.data, /^HTTP\/1\.1 200 [^]*\r\n\r\nab$/, 'a 600 ms pause passes a route idle_timeout of 1 s');
  await off.whenClosed();
  t.match(off.data, /^HTTP\/1\.1 200 [^]*\r\n\r\nab$/, 'a 700 ms pause passes idle_timeout: 0');
  t.equal(await idleTimeouts(), before);

  const stalled = new RawClient().send('GET /long/stall?id=long-stall HTTP/1.1\r\nhost: x\r\n\r\n');
  const elapsed = await stalled.whenClosed(4000);
  t.match(stalled.data, /partial/);
  t.ok(elapsed >= 900 && elapsed < 3000, `a stall is cut after the route's 1 s, not 300 ms (${Math.round(elapsed)} ms)`);
  t.equal(await idleTimeouts(), before + 1);
  await nothingHeld();
});

t.test('between requests a keep-alive connection is governed by the connection idle_timeout, not the stream one', async (t) => {
  const streamBefore = await idleTimeouts();
  const cxBefore = await metric('envoy_http_downstream_cx_idle_timeout', HCM);
  const client = new RawClient().send('GET /fast?id=ka-1 HTTP/1.1\r\nhost: x\r\n\r\n');
  await client.until('first response', (d) => d.endsWith('ok'));
  // Idle for longer than stream_idle_timeout (300 ms), shorter than idle_timeout (600 ms; node closes a second after).
  await new Promise((r) => setTimeout(r, 700));
  t.equal(client.closedAt, undefined, 'still open after 700 ms idle');
  client.data = '';
  client.send('GET /fast?id=ka-2 HTTP/1.1\r\nhost: x\r\n\r\n');
  await client.until('second response', (d) => d.endsWith('ok'));
  const sentAt = performance.now();
  await client.whenClosed(4000);
  const idleMs = client.closedAt! - sentAt;
  t.ok(idleMs >= 550, `closed by the connection idle timeout (${Math.round(idleMs)} ms idle)`);
  t.equal(await metric('envoy_http_downstream_cx_idle_timeout', HCM), cxBefore + 1, 'counted as a connection idle timeout');
  t.equal(await idleTimeouts(), streamBefore, 'not as a stream idle timeout');
});

t.test('with the connection idle_timeout disabled (0), a keep-alive connection stays open however long it is idle', async (t) => {
  const noIdle = { envoy_http_conn_manager_prefix: 'noidle_http' };
  const client = new RawClient(noIdlePort).send('GET /fast?id=noidle-1 HTTP/1.1\r\nhost: x\r\n\r\n');
  await client.until('first response', (d) => d.endsWith('ok'));
  // The stream's 300 ms timer must not outlive its stream on the connection.
  await new Promise((r) => setTimeout(r, 800));
  t.equal(client.closedAt, undefined, 'still open after 800 ms idle');
  client.data = '';
  client.send('GET /fast?id=noidle-2 HTTP/1.1\r\nhost: x\r\n\r\n');
  await client.until('second response', (d) => d.endsWith('ok'));
  t.pass('and serves the next request');
  client.socket.destroy();
  t.equal(await metric('envoy_http_downstream_rq_idle_timeout', noIdle), 0);
  t.equal(await metric('envoy_http_downstream_cx_idle_timeout', noIdle), 0);
});

t.test('the buffer filter waiting for a body that stalls: 408, and nothing reached the upstream', async (t) => {
  const noIdle = { envoy_http_conn_manager_prefix: 'noidle_http' };
  const before = await metric('envoy_http_downstream_rq_idle_timeout', noIdle);
  const client = new RawClient(noIdlePort).send('POST /upload?id=buffered HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789');
  await client.until('408', (d) => d.includes('stream timeout\n'));
  t.match(client.data, /^HTTP\/1\.1 408 /);
  await client.whenClosed(2000);
  t.pass('the connection closes after it');
  t.equal(await metric('envoy_http_downstream_rq_idle_timeout', noIdle), before + 1);
  t.notOk(upstreamEnds.has('buffered'), 'the upstream never saw the request');
  await nothingHeld();
});

// HTTP/2 (h2c with prior knowledge).

interface H2Result {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: string;
  ended: boolean;
  rstCode: number | undefined;
}

function h2Request(session: ClientHttp2Session, headers: Record<string, string>, body?: string): Promise<H2Result> {
  const result: H2Result = { headers: {}, trailers: {}, body: '', ended: false, rstCode: undefined };
  const stream = session.request(headers, { endStream: body === undefined });
  stream.on('response', (h) => (result.headers = h));
  stream.on('trailers', (h) => (result.trailers = h));
  stream.on('data', (d: Buffer) => (result.body += d.toString()));
  stream.on('end', () => (result.ended = true));
  stream.on('error', () => {});
  if (body !== undefined) stream.end(body);
  return within(
    new Promise<H2Result>((resolve) =>
      stream.once('close', () => {
        result.rstCode = stream.rstCode;
        resolve(result);
      }),
    ),
    4000,
    `h2 stream ${headers[':path']}`,
  );
}

t.test('HTTP/2: a stalled upstream body resets that stream; the other streams of the connection go on', async (t) => {
  const before = await idleTimeouts();
  const session = http2Connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const started = performance.now();
  const [stalled, trickle] = await Promise.all([h2Request(session, { ':path': '/stall?id=h2-stall' }), h2Request(session, { ':path': '/trickle?id=h2-trickle' })]);
  t.equal(stalled.headers[':status'], 200, 'the response had started');
  t.equal(stalled.body, 'partial');
  t.equal(stalled.ended, false, 'the body never ends normally');
  t.equal(stalled.rstCode, h2.NGHTTP2_INTERNAL_ERROR, 'the stream is reset, with an error code');
  t.equal(trickle.headers[':status'], 200);
  t.equal(trickle.body, 'xxxxxxxxxx', 'the trickling stream on the same connection is whole');
  t.ok(trickle.ended && trickle.rstCode === h2.NGHTTP2_NO_ERROR);
  t.ok(performance.now() - started >= 900);
  t.equal(await within(upstreamEnd('h2-stall').promise, 2000, 'upstream request ended'), true, 'the upstream request was aborted');
  t.notOk(session.closed || session.destroyed, 'the connection is still open');
  const next = await h2Request(session, { ':path': '/fast?id=h2-next' });
  t.equal(next.body, 'ok', 'and serves new streams');
  t.equal(await idleTimeouts(), before + 1, 'one stream timed out');
  const log = await accessLog('/stall?id=h2-stall');
  t.equal(log.response_flags, 'SI');
  t.equal(log.response_code_details, 'stream_idle_timeout');
  await nothingHeld();
});

t.test('HTTP/2: a stalled request body gets 408; a gRPC request gets its local reply as gRPC', async (t) => {
  const before = await idleTimeouts();
  const session = http2Connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  // A body that never ends: the stream is left open by the client.
  const upload = session.request({ ':path': '/upload?id=h2-upload', ':method': 'POST' });
  upload.on('error', () => {});
  upload.write('some of it');
  const uploadResult = within(
    new Promise<{ status: unknown; body: string }>((resolve) => {
      let status: unknown;
      let body = '';
      upload.on('response', (h) => (status = h[':status']));
      upload.on('data', (d: Buffer) => (body += d.toString()));
      upload.once('close', () => resolve({ status, body }));
    }),
    4000,
    'h2 upload',
  );
  const grpc = h2Request(session, { ':path': '/slow-headers?id=h2-grpc', ':method': 'POST', 'content-type': 'application/grpc' }, '');
  const [u, g] = await Promise.all([uploadResult, grpc]);
  t.equal(u.status, 408);
  t.equal(u.body, 'stream timeout\n');
  t.equal(await within(upstreamEnd('h2-upload').promise, 2000, 'upstream request ended'), true, 'the upstream request was aborted');
  t.equal(g.headers[':status'], 200, 'gRPC: HTTP 200, the status in trailers');
  t.equal(g.headers['content-type'], 'application/grpc');
  t.equal(g.trailers['grpc-status'], '2', 'UNKNOWN, as Envoy maps 408');
  t.equal(g.trailers['grpc-message'], 'stream timeout');
  t.equal(await idleTimeouts(), before + 2);
  await nothingHeld();
});
