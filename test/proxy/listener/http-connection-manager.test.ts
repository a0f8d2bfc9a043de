import t from 'tap';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { request } from 'undici';
import { startEchoServer } from '../../../cli/echo-server';
import { bootstrapYaml, freePort, startProxy, staticCluster, type ProxyProcess } from '../../helpers/proxy-process';

// One real proxy process in front of real echo servers; every subtest talks to it over loopback.
let proxy: ProxyProcess;
let base: string;
const servers: Server[] = [];

t.before(async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const [adminPort, listenerPort, a, b, c, dead] = ports as [number, number, number, number, number, number];
  servers.push(await startEchoServer('a', a), await startEchoServer('b', b), await startEchoServer('c', c));
  base = `http://127.0.0.1:${listenerPort}`;
  proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      hcmExtra: `          access_log:
          - name: envoy.access_loggers.stdout
            typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}`,
      routeConfigExtra: '            internal_only_headers: [x-internal]',
      virtualHosts: `            - name: api
              domains: ["api.example.com", "api.example.com:*"]
              request_headers_to_add:
              - header: {key: x-vhost, value: api}
              routes:
              - match: {prefix: /api}
                route: {cluster: single}
            - name: default
              domains: ["*"]
              response_headers_to_add:
              - header: {key: x-resp, value: added}
              response_headers_to_remove: [x-served-by]
              routes:
              - name: weighted
                match: {prefix: /weighted}
                route: {cluster: weighted}
              - name: rewrite
                match: {prefix: /old/}
                route: {cluster: single, prefix_rewrite: /new/, host_rewrite_literal: rewritten.internal}
                request_headers_to_add:
                - header: {key: x-route, value: rewrite}
                request_headers_to_remove: [x-drop-me]
              - name: split
                match: {prefix: /split}
                route:
                  weighted_clusters:
                    clusters:
                    - {name: single, weight: 0}
                    - {name: weighted, weight: 100}
              - name: hdr
                match:
                  prefix: /hdr
                  headers: [{name: x-tenant, string_match: {exact: blue}}]
                direct_response: {status: 200, body: {inline_string: "blue tenant\\n"}}
              - name: redirect
                match: {prefix: /go}
                redirect: {host_redirect: example.org, path_redirect: /landing}
              - name: nohost
                match: {prefix: /unhealthy}
                route: {cluster: unhealthy}
              - name: dead
                match: {prefix: /dead}
                route: {cluster: dead}
              - name: slow
                match: {prefix: /delay}
                route: {cluster: single, timeout: 0.2s}
              - name: default
                match: {prefix: /}
                route: {cluster: single}`,
      clusters: [
        staticCluster('weighted', [{ port: a, weight: 1 }, { port: b, weight: 2 }, { port: c, weight: 7 }], '    lb_policy: ROUND_ROBIN'),
        staticCluster('single', [{ port: a }]),
        // Panic threshold 0: with every host unhealthy Envoy would otherwise balance over all of them (panic).
        staticCluster('unhealthy', [{ port: a, health: 'UNHEALTHY' }], '    common_lb_config: {healthy_panic_threshold: {value: 0}}'),
        staticCluster('dead', [{ port: dead }]),
      ].join('\n'),
    }),
    adminPort,
  );
});

t.teardown(async () => {
  await proxy?.stop();
  for (const s of servers) s.close();
});

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${base}${path}`, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

t.test('weighted round robin 1/2/7 over 1000 requests gives 100/200/700 ± 1', async (t) => {
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 1000; i++) counts[(await get('/weighted')).json().server]++;
  t.ok(Math.abs(counts.a! - 100) <= 1, `a=${counts.a}`);
  t.ok(Math.abs(counts.b! - 200) <= 1, `b=${counts.b}`);
  t.ok(Math.abs(counts.c! - 700) <= 1, `c=${counts.c}`);
});

t.test('weighted_clusters sends everything to the cluster with all the weight', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add((await get('/split')).json().server);
  t.same([...seen].sort(), ['a', 'b', 'c'], 'all three hosts of "weighted", none of them only "single"');
});

t.test('virtual host selection by Host, with the port stripped by the wildcard domain', async (t) => {
  const r = await get('/api/x', { host: 'api.example.com:8080' });
  t.equal(r.json().headers['x-vhost'], 'api');
  const other = await get('/api/x', { host: 'other.example.com' });
  t.equal(other.json().headers['x-vhost'], undefined);
});

t.test('prefix rewrite, host rewrite, header add and remove', async (t) => {
  const r = await get('/old/thing?q=1', { 'x-drop-me': 'secret', 'x-keep': 'yes' });
  const seen = r.json();
  t.equal(seen.url, '/new/thing?q=1', 'path rewritten, query kept');
  t.equal(seen.headers.host, 'rewritten.internal');
  t.equal(seen.headers['x-route'], 'rewrite');
  t.equal(seen.headers['x-drop-me'], undefined);
  t.equal(seen.headers['x-keep'], 'yes');
  t.equal(r.headers['x-resp'], 'added', 'vhost response header added');
  t.equal(r.headers['x-served-by'], undefined, 'vhost response header removed');
});

t.test('forwarding headers: x-request-id generated, x-forwarded-proto set, given request id kept', async (t) => {
  const seen = (await get('/')).json();
  t.match(seen.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  const kept = (await get('/', { 'x-request-id': 'abc-123' })).json();
  t.equal(kept.headers['x-request-id'], 'abc-123');
});

t.test('internal_only_headers are removed only when the trusted client is external', async (t) => {
  const internal = (await get('/', { 'x-internal': '1' })).json();
  t.equal(internal.headers['x-internal'], '1', 'loopback client is internal');
  // Without use_remote_address the trusted client is the rightmost XFF entry.
  const external = (await get('/', { 'x-internal': '1', 'x-forwarded-for': '10.0.0.1, 203.0.113.5' })).json();
  t.equal(external.headers['x-internal'], undefined, 'external client loses it');
});

t.test('hop-by-hop headers are not forwarded, nor those Connection names', async (t) => {
  // A raw request, so the hop-by-hop headers reach the proxy exactly as written.
  const port = Number(new URL(base).port);
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(
        'GET /hop HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-private\r\nx-private: 1\r\nKeep-Alive: timeout=5\r\n' +
          'TE: gzip\r\nProxy-Connection: keep-alive\r\nUpgrade: foo\r\nx-end-to-end: 2\r\n\r\n',
      ),
    );
    let data = '';
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\r\n\r\n') && data.includes('}')) {
        socket.end();
        resolve(data);
      }
    });
    socket.on('error', reject);
  });
  const seen = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1));
  for (const h of ['x-private', 'keep-alive', 'te', 'proxy-connection', 'upgrade']) t.equal(seen.headers[h], undefined, `${h} stripped`);
  t.equal(seen.headers['x-end-to-end'], '2');
});

t.test('route match on a header, direct response and redirect', async (t) => {
  const blue = await get('/hdr', { 'x-tenant': 'blue' });
  t.equal(blue.status, 200);
  t.equal(blue.text, 'blue tenant\n');
  const other = await get('/hdr', { 'x-tenant': 'red' });
  t.equal(other.json().server, 'a', 'falls through to the default route');
  const redirect = await get('/go/somewhere');
  t.equal(redirect.status, 301);
  t.equal(redirect.headers.location, 'http://example.org/landing');
});

t.test('503 UH when no healthy endpoint, with the reason', async (t) => {
  const r = await get('/unhealthy');
  t.equal(r.status, 503);
  t.equal(r.headers['x-meshlet-response-flags'], 'UH');
  t.match(r.text, /no healthy upstream/);
});

t.test('503 UF when the upstream refuses connections', async (t) => {
  const r = await get('/dead');
  t.equal(r.status, 503);
  t.equal(r.headers['x-meshlet-response-flags'], 'UF');
  t.match(r.text, /connect/);
});

t.test('504 UT when the route timeout fires', async (t) => {
  const r = await get('/delay/2000');
  t.equal(r.status, 504);
  t.equal(r.headers['x-meshlet-response-flags'], 'UT');
});

t.test('502 UC when the upstream resets the connection', async (t) => {
  const r = await get('/reset');
  t.equal(r.status, 502);
  t.equal(r.headers['x-meshlet-response-flags'], 'UC');
});

t.test('404 NR when no route of the selected virtual host matches', async (t) => {
  const r = await get('/elsewhere', { host: 'api.example.com' });
  t.equal(r.status, 404);
  t.equal(r.headers['x-meshlet-response-flags'], 'NR');
});

t.test('access log lines are JSON with the response flag and S_* timings', async (t) => {
  await get('/unhealthy');
  await new Promise((r) => setTimeout(r, 200));
  const lines = proxy.stdout().trim().split('\n').map((l) => JSON.parse(l));
  const uh = lines.find((l) => l.response_flags === 'UH');
  t.ok(uh, 'a UH line');
  t.equal(uh.response_code, 503);
  t.equal(uh.route_name, 'nohost');
  t.type(uh.s_total_ms, 'number');
});

t.test('metrics: the S_* identity holds (sums agree) and Envoy counters count', async (t) => {
  const text = await (await request(`${proxy.adminUrl}/stats/prometheus`)).body.text();
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}_sum{`))
      .reduce((acc, l) => acc + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const total = sum('meshlet_request_total_seconds');
  const overhead = sum('meshlet_request_overhead_seconds');
  const grid = sum('meshlet_request_grid_seconds');
  t.ok(total > 0, 'some time recorded');
  t.ok(grid > 0 && overhead > 0, 'both parts positive');
  t.ok(Math.abs(total - overhead - grid) < 1e-6, `total ${total} = overhead ${overhead} + grid ${grid}`);
  t.match(text, /envoy_cluster_upstream_rq_total\{envoy_cluster_name="weighted"\} \d+/);
  t.match(text, /envoy_cluster_upstream_rq\{envoy_response_code="200",envoy_cluster_name="weighted"\} \d+/);
  t.match(text, /envoy_http_downstream_rq_total\{envoy_http_conn_manager_prefix="main_http"\} \d+/);
  t.match(text, /meshlet_request_total_seconds_bucket\{listener="main",route="weighted",cluster="weighted",code_class="2xx",le="0.001"\}/);
  t.match(text, /meshlet_http_downstream_rq_response_flag_total\{response_flag="UH",envoy_http_conn_manager_prefix="main_http"\} [1-9]/);
  t.match(text, /envoy_cluster_upstream_cx_connect_fail\{envoy_cluster_name="dead"\} [1-9]/);
  t.match(text, /envoy_cluster_upstream_rq_timeout\{envoy_cluster_name="single"\} [1-9]/);
});
