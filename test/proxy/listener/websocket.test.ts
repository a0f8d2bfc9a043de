import t from 'tap';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { request } from 'undici';
import { startEchoServer } from '../../../cli/echo-server';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster, type ProxyProcess } from '../../helpers/proxy-process';
import { BINARY, CLOSE, connectWebSocket, serveWebSocketEcho, TEXT, type EchoUpgrades, type UpgradeResult, type WebSocketClient } from '../../helpers/websocket';
import { sampleValue } from '../../../bench/prometheus-text';

// Real processes and sockets: a meshlet proxy in front of an HTTP server that also speaks WebSocket (echo).
let proxy: ProxyProcess;
let listenerPort: number;
let echo: EchoUpgrades;
let echoPort: number;
const servers: Server[] = [];

t.before(async () => {
  const [adminPort, deadPort] = [await freePort(), await freePort()];
  [listenerPort, echoPort] = [await freePort(), await freePort()];
  const server = await startEchoServer('echo', echoPort);
  servers.push(server);
  echo = serveWebSocketEcho(server);
  proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      hcmExtra: `          upgrade_configs: [{upgrade_type: websocket}]
          stream_idle_timeout: 0.3s
          use_remote_address: true`,
      virtualHosts: `            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /idle}
                route: {cluster: echo}
              - match: {prefix: /timed}
                route: {cluster: echo, timeout: 0.3s, idle_timeout: 30s}
              - match: {prefix: /off}
                route: {cluster: echo, idle_timeout: 30s, upgrade_configs: [{upgrade_type: websocket, enabled: false}]}
              - match: {prefix: /dead}
                route: {cluster: dead}
              - match: {prefix: /unhealthy}
                route: {cluster: unhealthy}
              - match: {prefix: /ws}
                route: {cluster: echo, idle_timeout: 30s}`,
      clusters: [
        staticCluster('echo', [{ port: echoPort }]),
        staticCluster('dead', [{ port: deadPort }]),
        // Panic threshold 0: with every host unhealthy Envoy would otherwise balance over all of them (panic).
        staticCluster('unhealthy', [{ port: echoPort, health: 'UNHEALTHY' }], '    common_lb_config: {healthy_panic_threshold: {value: 0}}'),
      ].join('\n'),
    }),
    adminPort,
  );
});

t.teardown(async () => {
  await proxy?.stop('SIGKILL');
  for (const server of servers) server.close();
});

function upgraded(result: UpgradeResult): WebSocketClient {
  if (result.kind !== 'upgraded') throw new Error(`expected 101, got ${result.response.statusCode}: ${result.body}`);
  return result.ws;
}

function refused(result: UpgradeResult) {
  if (result.kind !== 'response') throw new Error('expected a response, got an upgrade');
  return result;
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  return sampleValue(await (await request(`${proxy.adminUrl}/stats/prometheus`)).body.text(), name, labels) ?? 0;
}

const HCM = { envoy_http_conn_manager_prefix: 'main_http' };

t.test('messages both ways: text, then a 1 MB binary frame; the upgrade carries the forwarding headers', async (t) => {
  const ws = upgraded(await connectWebSocket(listenerPort, '/ws/chat?id=echo1', { 'x-request-id': 'ws-req-1' }));
  t.equal(ws.response.statusCode, 101);
  t.equal(ws.response.headers.upgrade, 'websocket');
  t.equal(ws.response.headers.server, 'meshlet', 'the connection manager sets Server, as on any response');
  t.equal(ws.response.headers['x-upstream'], 'echo', 'the upstream 101 headers come through');
  t.ok(ws.response.headers['x-envoy-upstream-service-time'] !== undefined);

  ws.send(TEXT, Buffer.from('hello through the mesh'));
  const text = await ws.next();
  t.same([text.opcode, text.payload.toString()], [TEXT, 'hello through the mesh']);
  const big = randomBytes(1024 * 1024);
  ws.send(BINARY, big);
  const echoed = await ws.next();
  t.equal(echoed.opcode, BINARY);
  t.ok(echoed.payload.equals(big), '1 MB came back intact');

  const upstreamHeaders = echo.requests.get('echo1')!;
  t.equal(upstreamHeaders.upgrade, 'websocket');
  t.match(upstreamHeaders.connection, /upgrade/i);
  t.equal(upstreamHeaders['x-forwarded-for'], '127.0.0.1');
  t.equal(upstreamHeaders['x-forwarded-proto'], 'http');
  t.equal(upstreamHeaders['x-request-id'], 'ws-req-1');
  t.ok(upstreamHeaders['sec-websocket-key'] !== undefined, 'end-to-end headers are forwarded');
  ws.send(CLOSE, Buffer.alloc(0));
  t.equal((await ws.next()).opcode, CLOSE, 'the close handshake goes through');
  await ws.closed;
});

t.test('the client sends right behind its upgrade request: those bytes reach the upstream first', async (t) => {
  const socket = connect(listenerPort, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const { encodeFrame, FrameReader } = await import('../../helpers/websocket');
  socket.write(
    'GET /ws?id=eager HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  socket.write(encodeFrame(TEXT, Buffer.from('early'), true));
  const reader = new FrameReader();
  let response = Buffer.alloc(0);
  const frame = await new Promise<{ opcode: number; payload: Buffer }>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      response = Buffer.concat([response, chunk]);
      const end = response.indexOf('\r\n\r\n');
      if (end === -1) return;
      const frames = reader.push(response.subarray(end + 4));
      response = response.subarray(0, end + 4);
      if (frames.length > 0) resolve(frames[0]!);
    });
  });
  t.match(response.toString(), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.equal(frame.payload.toString(), 'early');
  socket.destroy();
});

t.test('the upstream closes: the client connection is closed', async (t) => {
  const ws = upgraded(await connectWebSocket(listenerPort, '/ws/bye?id=bye'));
  t.equal((await ws.next()).payload.toString(), 'bye');
  t.equal((await ws.next()).opcode, CLOSE);
  await ws.closed;
  t.pass('closed');
});

t.test('the client closes: the upstream connection is closed', async (t) => {
  const ws = upgraded(await connectWebSocket(listenerPort, '/ws?id=client-closes'));
  ws.send(TEXT, Buffer.from('one'));
  await ws.next();
  ws.socket.end();
  await echo.closed('client-closes');
  t.pass('the upstream side closed');
  await ws.closed;
});

t.test('the client resets its connection: the upstream connection is closed', async (t) => {
  const ws = upgraded(await connectWebSocket(listenerPort, '/ws?id=client-resets'));
  ws.socket.resetAndDestroy();
  await echo.closed('client-resets');
  t.pass('the upstream side closed');
});

t.test('no route: 404 NR, framed as a local reply, and the connection closes', async (t) => {
  const { response, body } = refused(await connectWebSocket(listenerPort, '/nowhere'));
  t.equal(response.statusCode, 404);
  t.equal(response.headers['x-meshlet-response-flags'], 'NR');
  t.equal(response.headers.connection, 'close');
  t.equal(body, 'no route matched the request\n');
});

t.test('a route that disables the upgrade, and an upgrade type nobody enables: 403, as Envoy', async (t) => {
  const before = await metric('envoy_http_downstream_rq_ws_on_non_ws_route', HCM);
  const off = refused(await connectWebSocket(listenerPort, '/off'));
  t.equal(off.response.statusCode, 403);
  t.equal(off.response.headers.connection, 'close');
  const other = refused(await connectWebSocket(listenerPort, '/ws', { upgrade: 'foo' }));
  t.equal(other.response.statusCode, 403, 'only listed types are upgraded');
  t.equal(await metric('envoy_http_downstream_rq_ws_on_non_ws_route', HCM), before + 2);
});

t.test('the upgrade type matches case-insensitively', async (t) => {
  const ws = upgraded(await connectWebSocket(listenerPort, '/ws?id=case', { upgrade: 'WebSocket' }));
  ws.socket.destroy();
  t.pass('upgraded');
});

t.test('the upstream refuses the upgrade: its response is forwarded, then the connection closes', async (t) => {
  const { response, body } = refused(await connectWebSocket(listenerPort, '/ws/reject?id=reject'));
  t.equal(response.statusCode, 403);
  t.equal(response.headers['x-reason'], 'no websockets here');
  t.equal(response.headers.connection, 'close');
  t.equal(body, 'nope\n');
});

t.test('connect failure: 503 UF; no healthy host: 503 UH', async (t) => {
  const dead = refused(await connectWebSocket(listenerPort, '/dead'));
  t.equal(dead.response.statusCode, 503);
  t.equal(dead.response.headers['x-meshlet-response-flags'], 'UF');
  const unhealthy = refused(await connectWebSocket(listenerPort, '/unhealthy'));
  t.equal(unhealthy.response.statusCode, 503);
  t.equal(unhealthy.response.headers['x-meshlet-response-flags'], 'UH');
});

t.test('the route timeout bounds the upgrade, not the WebSocket', async (t) => {
  const slow = refused(await connectWebSocket(listenerPort, '/timed/slow?id=slow'));
  t.equal(slow.response.statusCode, 504);
  t.equal(slow.response.headers['x-meshlet-response-flags'], 'UT');
  const ws = upgraded(await connectWebSocket(listenerPort, '/timed?id=timed'));
  await new Promise((r) => setTimeout(r, 600));
  ws.send(TEXT, Buffer.from('still here'));
  t.equal((await ws.next()).payload.toString(), 'still here', 'open past the 300 ms route timeout');
  ws.socket.destroy();
});

t.test('stream_idle_timeout closes a WebSocket that carries nothing', async (t) => {
  const before = await metric('envoy_http_downstream_rq_idle_timeout', HCM);
  const ws = upgraded(await connectWebSocket(listenerPort, '/idle?id=idle'));
  await ws.closed;
  await echo.closed('idle');
  t.pass('both sides closed');
  const waiting = refused(await connectWebSocket(listenerPort, '/idle/slow?id=idle-slow'));
  t.equal(waiting.response.statusCode, 408, 'idle while waiting for the upstream: 408, as Envoy for a request not complete');
  t.equal(waiting.body, 'stream timeout\n');
  t.equal(await metric('envoy_http_downstream_rq_idle_timeout', HCM), before + 2);
});

t.test('upgrade counters, and the upstream request counted once', async (t) => {
  const cluster = { envoy_cluster_name: 'echo' };
  const read = async () => ({
    total: await metric('envoy_http_downstream_cx_upgrades_total', HCM),
    active: await metric('envoy_http_downstream_cx_upgrades_active', HCM),
    rq: await metric('envoy_cluster_upstream_rq_total', cluster),
    rq101: await metric('envoy_cluster_upstream_rq', { ...cluster, envoy_response_code: '101' }),
  });
  const before = await read();
  const ws = upgraded(await connectWebSocket(listenerPort, '/ws?id=counted'));
  ws.send(TEXT, Buffer.from('x'));
  await ws.next();
  const open = await read();
  t.same(open, { total: before.total + 1, active: before.active + 1, rq: before.rq + 1, rq101: before.rq101 + 1 });
  ws.send(CLOSE, Buffer.alloc(0));
  await ws.closed;
  let after = await read();
  for (let i = 0; i < 50 && after.active !== before.active; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = await read();
  }
  t.same(after, { total: before.total + 1, active: before.active, rq: before.rq + 1, rq101: before.rq101 + 1 });
});

t.test('h2c upgrade requests are served as HTTP/1.1, as Envoy does, and the connection stays usable', async (t) => {
  const socket = connect(listenerPort, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.write('GET /ws/h2c HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
  socket.write('GET /ws/after HTTP/1.1\r\nhost: x\r\n\r\n');
  for (let i = 0; i < 100 && (text.match(/HTTP\/1\.1 200/g) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal((text.match(/HTTP\/1\.1 200 OK/g) ?? []).length, 2, 'both requests answered on the same connection');
  t.notMatch(text, /"upgrade"|"http2-settings"/, 'the upstream saw no upgrade');
  t.match(text, /"url":"\/ws\/h2c"/);
  socket.destroy();
});

t.test('without upgrade_configs an upgrade is refused with 403, as Envoy (upgrade_failed)', async (t) => {
  const [adminPort, port] = [await freePort(), await freePort()];
  const plain = await startProxy(bootstrapYaml({ adminPort, listenerPort: port, virtualHosts: catchAllVirtualHost('echo'), clusters: staticCluster('echo', [{ port: echoPort }]) }), adminPort);
  t.teardown(() => plain.stop('SIGKILL'));
  const { response } = refused(await connectWebSocket(port, '/ws?id=disabled'));
  t.equal(response.statusCode, 403);
  t.equal(response.headers.connection, 'close');
  t.notOk(echo.requests.has('disabled'), 'nothing went upstream');
  const ok = await request(`http://127.0.0.1:${port}/plain`);
  t.equal(ok.statusCode, 200, 'plain requests are unaffected');
  await ok.body.dump();
});

t.test('drain (SIGTERM): an open WebSocket goes on for the drain time, is then closed, and the proxy exits', async (t) => {
  const [adminPort, port] = [await freePort(), await freePort()];
  const draining = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort: port,
      hcmExtra: '          upgrade_configs: [{upgrade_type: websocket}]',
      virtualHosts: catchAllVirtualHost('echo'),
      clusters: staticCluster('echo', [{ port: echoPort }]),
    }),
    adminPort,
    ['--drain-time-s', '1'],
  );
  t.teardown(() => draining.stop('SIGKILL'));
  const ws = upgraded(await connectWebSocket(port, '/ws?id=drained'));
  draining.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  ws.send(TEXT, Buffer.from('during the drain'));
  t.equal((await ws.next()).payload.toString(), 'during the drain');
  await ws.closed;
  await echo.closed('drained');
  t.pass('both sides closed at the end of the drain');
  t.equal(await draining.exited(), 0);
});
