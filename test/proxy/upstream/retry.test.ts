import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { FaultyUpstream, firstAttemptFails, Metrics } from '../../helpers/faulty-upstream';
import { bootstrapYaml, freePort, startProxy, staticCluster, type ProxyProcess } from '../../helpers/proxy-process';

// One proxy in front of programmable upstreams on 127.0.0.1; each mechanism has its own route
// and cluster, so its counters are its own.
let proxy: ProxyProcess;
let base: string;
const up: Record<string, FaultyUpstream> = {};
const dead: number[] = [];

const PREVIOUS_HOSTS = `
                    retry_host_predicate:
                    - name: envoy.retry_host_predicates.previous_hosts
                      typed_config: {"@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate}`;

/** A route (YAML indented for `routes:`) with a retry policy; `policy` lines are indented for it. */
function route(name: string, cluster: string, policy: string | undefined, extra = ''): string {
  const retry = policy === undefined ? '' : `\n                  retry_policy:\n${policy}`;
  return `              - name: ${name}
                match: {path: /${name}}${extra}
                route:
                  cluster: ${cluster}
                  timeout: 5s${retry}`;
}

const lines = (...l: string[]) => l.map((x) => `                    ${x}`).join('\n');

t.before(async () => {
  for (const name of ['f1', 'f2', 'live', 'r1', 'r2', 'codes', 'hdrs', 'pertry', 'cap', 'e1', 'e2', 'eReset', 'mid', 'backoff', 'post', 'hdr', 'cb', 'limited', 'leave']) {
    up[name] = await FaultyUpstream.start(name);
  }
  dead.push(await freePort(), await freePort(), await freePort());
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${listenerPort}`;
  const fastBackoff = 'retry_back_off: {base_interval: 0.001s}';
  const routes = [
    route('failover', 'failover', lines('retry_on: 5xx', 'num_retries: 1', fastBackoff, 'host_selection_retry_max_attempts: 20') + PREVIOUS_HOSTS),
    route('connect', 'connect', lines('retry_on: connect-failure', 'num_retries: 1', fastBackoff, 'host_selection_retry_max_attempts: 20') + PREVIOUS_HOSTS),
    route('reset', 'reset', lines('retry_on: reset', 'num_retries: 1', fastBackoff, 'host_selection_retry_max_attempts: 20') + PREVIOUS_HOSTS),
    route('codes', 'codes', lines('retry_on: retriable-status-codes', 'retriable_status_codes: [418]', 'num_retries: 1', fastBackoff)),
    route('headers', 'hdrs', lines('retry_on: retriable-headers', 'retriable_headers: [{name: x-retry-me, string_match: {exact: "yes"}}]', fastBackoff)),
    route('pertry', 'pertry', lines('retry_on: 5xx', 'num_retries: 1', 'per_try_timeout: 0.1s', fastBackoff)),
    route('cap', 'cap', lines('retry_on: 5xx', 'num_retries: 5', 'per_try_timeout: 0.2s', fastBackoff)).replace('timeout: 5s', 'timeout: 0.3s'),
    route('exhausted', 'exhausted', lines('retry_on: 5xx', 'num_retries: 2', fastBackoff)),
    route('deadonly', 'deadonly', lines('retry_on: connect-failure', 'num_retries: 1', fastBackoff)),
    route('resetonly', 'resetonly', lines('retry_on: reset', 'num_retries: 1', fastBackoff)),
    route('midbody', 'midbody', lines('retry_on: reset,5xx', 'num_retries: 2', fastBackoff)),
    route('backoff', 'backoff', lines('retry_on: 5xx', 'num_retries: 1', 'retry_back_off: {base_interval: 0.1s, max_interval: 0.1s}')),
    route('post-limited', 'post', lines('retry_on: 5xx', 'num_retries: 1', fastBackoff), '\n                per_request_buffer_limit_bytes: 1024'),
    route('post', 'post', lines('retry_on: 5xx', 'num_retries: 1', fastBackoff)),
    route('hdr-policy', 'hdr', lines('retry_on: 5xx', 'num_retries: 1', fastBackoff)),
    route('hdr-none', 'hdr', undefined),
    route('cb', 'cb', lines('retry_on: 5xx', 'num_retries: 1', fastBackoff)),
    route('limited', 'limited', undefined),
    route('leave', 'leave', lines('retry_on: 5xx', 'num_retries: 1', 'retry_back_off: {base_interval: 1s, max_interval: 1s}')),
  ];
  const p = (name: string) => ({ port: up[name]!.port });
  const random = '    lb_policy: RANDOM';
  proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      hcmExtra: `          access_log:
          - name: envoy.access_loggers.stdout
            typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}`,
      virtualHosts: `            - name: all
              domains: ["*"]
              routes:
${routes.join('\n')}`,
      clusters: [
        staticCluster('failover', [p('f1'), p('f2')], random),
        staticCluster('connect', [{ port: dead[0]! }, p('live')], random),
        staticCluster('reset', [p('r1'), p('r2')], random),
        staticCluster('codes', [p('codes')]),
        staticCluster('hdrs', [p('hdrs')]),
        staticCluster('pertry', [p('pertry')]),
        staticCluster('cap', [p('cap')]),
        staticCluster('exhausted', [p('e1'), p('e2')]),
        staticCluster('deadonly', [{ port: dead[1]! }, { port: dead[2]! }]),
        staticCluster('resetonly', [p('eReset')]),
        staticCluster('midbody', [p('mid')]),
        staticCluster('backoff', [p('backoff')]),
        staticCluster('post', [p('post')]),
        staticCluster('hdr', [p('hdr')]),
        staticCluster('cb', [p('cb')]),
        staticCluster('limited', [p('limited')], '    circuit_breakers: {thresholds: [{max_requests: 2}]}'),
        staticCluster('leave', [p('leave')]),
      ].join('\n'),
    }),
    adminPort,
  );
});

t.teardown(async () => {
  await proxy?.stop();
  await Promise.all(Object.values(up).map((u) => u.close()));
});

async function get(path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer | Readable } = {}) {
  const started = performance.now();
  const res = await request(`${base}${path}`, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - started };
}

const metrics = () => Metrics.scrape(proxy.adminUrl);

/** Counter deltas of one cluster around `fn`. */
async function counting<T>(cluster: string, fn: () => Promise<T>): Promise<{ result: T; delta: (name: string) => number }> {
  const before = await metrics();
  const result = await fn();
  const after = await metrics();
  return { result, delta: (name) => after.cluster(name, cluster) - before.cluster(name, cluster) };
}

async function accessLog(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 40; i++) {
    const found = proxy
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find(predicate);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

t.test('5xx is retried on another host (previous_hosts): every request succeeds', async (t) => {
  up.f1!.behave({ status: 503 });
  const N = 40;
  const { result, delta } = await counting('failover', async () => {
    const out = [];
    for (let i = 0; i < N; i++) out.push(await get('/failover'));
    return out;
  });
  t.same(result.map((r) => r.status), Array(N).fill(200), `all ${N} succeed with one retry each at most`);
  t.ok(result.every((r) => r.headers['x-upstream'] === 'f2'), 'every answer from the healthy host');
  t.ok(result.every((r) => r.headers['x-meshlet-response-flags'] === undefined), 'no response flag on a retried success');
  const failed = up.f1!.requests;
  t.ok(failed > 0, `the failing host was picked first ${failed} times (RANDOM over 2 hosts)`);
  t.equal(delta('upstream_rq_retry'), failed, 'one retry per 503');
  t.equal(delta('upstream_rq_retry_success'), failed, 'each retry succeeded');
  t.equal(delta('upstream_rq_retry_limit_exceeded'), 0);
  t.equal(delta('upstream_rq_total'), N + failed, 'attempts: requests plus retries');
  t.equal(up.f2!.requests, N, 'the retry never went back to the failing host');
});

t.test('connect-failure fails over to the live host', async (t) => {
  const N = 20;
  const { result, delta } = await counting('connect', async () => {
    const out = [];
    for (let i = 0; i < N; i++) out.push(await get('/connect'));
    return out;
  });
  t.same(result.map((r) => r.status), Array(N).fill(200));
  const failures = delta('upstream_cx_connect_fail');
  t.ok(failures > 0, `${failures} connect failures`);
  t.equal(delta('upstream_rq_retry'), failures, 'each connect failure retried');
  t.equal(delta('upstream_rq_retry_success'), failures);
  t.equal(up.live!.requests, N);
});

t.test('a reset before the response is retried on another host', async (t) => {
  up.r1!.behave({ reset: 'before-response' });
  const N = 20;
  const { result, delta } = await counting('reset', async () => {
    const out = [];
    for (let i = 0; i < N; i++) out.push(await get('/reset'));
    return out;
  });
  t.same(result.map((r) => r.status), Array(N).fill(200));
  const resets = up.r1!.requests;
  t.ok(resets > 0);
  t.equal(delta('upstream_rq_rx_reset'), resets);
  t.equal(delta('upstream_rq_retry'), resets);
  t.equal(up.r2!.requests, N);
});

t.test('retriable-status-codes: only the listed codes are retried', async (t) => {
  const u = up.codes!;
  u.next({ status: 418 }, { status: 200 });
  const { result: ok, delta } = await counting('codes', () => get('/codes'));
  t.equal(ok.status, 200);
  t.equal(delta('upstream_rq_retry'), 1);
  t.equal(delta('upstream_rq_retry_success'), 1);
  t.same(u.since(u.requests - 2).map((r) => r.n), [u.requests - 1, u.requests]);

  u.next({ status: 503 });
  const { result: passed, delta: d2 } = await counting('codes', () => get('/codes'));
  t.equal(passed.status, 503, 'a 503 is not in the list: passed through');
  t.equal(passed.headers['x-meshlet-response-flags'], undefined);
  t.equal(d2('upstream_rq_retry'), 0);
});

t.test('retriable-headers: a response carrying the header is retried, and not seen downstream', async (t) => {
  up.hdrs!.next({ status: 200, headers: { 'x-retry-me': 'yes' } }, { status: 200, headers: { 'x-retry-me': 'no' } });
  const { result, delta } = await counting('hdrs', () => get('/headers'));
  t.equal(result.status, 200);
  t.equal(result.headers['x-retry-me'], 'no', 'the second response went downstream');
  t.equal(delta('upstream_rq_retry'), 1);
});

t.test('per_try_timeout: a slow attempt is abandoned and retried; the retry succeeds', async (t) => {
  up.pertry!.next({ status: 200, delayMs: 2000 }, { status: 200, body: 'fast\n' });
  const { result, delta } = await counting('pertry', () => get('/pertry'));
  t.equal(result.status, 200);
  t.equal(result.text, 'fast\n');
  t.ok(result.ms < 1000, `answered in ${result.ms.toFixed(0)} ms, not after the slow 2 s`);
  t.equal(delta('upstream_rq_per_try_timeout'), 1);
  t.equal(delta('upstream_rq_retry'), 1);
  t.equal(delta('upstream_rq_retry_success'), 1);
});

t.test('per_try_timeout on every attempt: 504 UT,URX', async (t) => {
  up.pertry!.next({ status: 200, delayMs: 2000 }, { status: 200, delayMs: 2000 });
  const { result, delta } = await counting('pertry', () => get('/pertry'));
  t.equal(result.status, 504);
  t.equal(result.headers['x-meshlet-response-flags'], 'UT,URX', "the last failure's flag, then URX (Envoy's order)");
  t.equal(delta('upstream_rq_per_try_timeout'), 2);
  t.equal(delta('upstream_rq_retry_limit_exceeded'), 1);
});

t.test('the route timeout spans every attempt: retries stop at it (504 UT)', async (t) => {
  up.cap!.behave({ hang: true });
  const seen = up.cap!.requests;
  const { result, delta } = await counting('cap', () => get('/cap'));
  t.equal(result.status, 504);
  t.equal(result.headers['x-meshlet-response-flags'], 'UT', 'the route timeout, not a retry limit');
  t.ok(result.ms >= 280 && result.ms < 800, `${result.ms.toFixed(0)} ms ≈ the 300 ms route timeout, not 6 × 200 ms per try`);
  t.equal(up.cap!.requests - seen, 2, 'one per-try timeout (200 ms), then the retry cut by the route timeout');
  t.equal(delta('upstream_rq_per_try_timeout'), 1);
  t.equal(delta('upstream_rq_timeout'), 1);
  t.equal(delta('upstream_rq_retry_limit_exceeded'), 0);
});

t.test('num_retries exhausted: the last response goes downstream with URX', async (t) => {
  up.e1!.behave({ status: 503 });
  up.e2!.behave({ status: 503 });
  const before = (await metrics()).responseFlag('URX');
  const { result, delta } = await counting('exhausted', () => get('/exhausted', { headers: { 'x-request-id': 'urx-1' } }));
  t.equal(result.status, 503);
  t.match(result.text, /^e[12] 503 #\d+\n$/, "the upstream's own response body");
  t.equal(result.headers['x-meshlet-response-flags'], 'URX');
  t.equal(up.e1!.requests + up.e2!.requests, 3, 'first attempt and two retries');
  t.equal(delta('upstream_rq_retry'), 2);
  t.equal(delta('upstream_rq_retry_limit_exceeded'), 1);
  t.equal(delta('upstream_rq_retry_success'), 0);
  t.equal((await metrics()).responseFlag('URX') - before, 1, 'counted by response flag');
  const line = await accessLog((l) => l.request_id === 'urx-1');
  t.equal(line?.response_flags, 'URX', 'in the access log');
  t.equal(line?.response_code, 503);
});

t.test('retries exhausted on connect failures: 503 UF,URX', async (t) => {
  const { result, delta } = await counting('deadonly', () => get('/deadonly'));
  t.equal(result.status, 503);
  t.equal(result.headers['x-meshlet-response-flags'], 'UF,URX');
  t.equal(delta('upstream_cx_connect_fail'), 2);
  t.equal(delta('upstream_rq_retry_limit_exceeded'), 1);
});

t.test('retries exhausted on resets: 502 UC,URX', async (t) => {
  up.eReset!.behave({ reset: 'before-response' });
  const { result, delta } = await counting('resetonly', () => get('/resetonly'));
  t.equal(result.status, 502);
  t.equal(result.headers['x-meshlet-response-flags'], 'UC,URX');
  t.equal(delta('upstream_rq_rx_reset'), 2);
  t.equal(delta('upstream_rq_retry'), 1);
  t.equal(delta('upstream_rq_retry_limit_exceeded'), 1);
  t.equal(up.eReset!.requests, 2);
});

t.test('a reset after the response headers went downstream is not retried: the client sees a broken response', async (t) => {
  up.mid!.behave({ reset: 'mid-body' });
  const { result, delta } = await counting('midbody', async () => {
    try {
      const res = await request(`${base}/midbody`);
      await res.body.text();
      return 'complete';
    } catch (err) {
      return (err as Error).message;
    }
  });
  t.not(result, 'complete', `the client saw: ${result}`);
  t.equal(up.mid!.requests, 1);
  t.equal(delta('upstream_rq_retry'), 0);
  t.equal(delta('upstream_rq_rx_reset'), 1);
});

t.test('backoff between attempts counts in S_overhead, not in S_grid', async (t) => {
  // Every request: 503 after 30 ms, a backoff uniform in [0, 100 ms), then 200 after 30 ms.
  up.backoff!.behave((r) => ({ status: r.n % 2 === 1 ? 503 : 200, delayMs: 30 }));
  const N = 8;
  const before = await metrics();
  const first = up.backoff!.requests;
  for (let i = 0; i < N; i++) t.equal((await get('/backoff')).status, 200);
  const after = await metrics();
  const seen = up.backoff!.since(first);
  t.equal(seen.length, 2 * N);
  // The backoff: from the first response leaving the upstream to the retry arriving there.
  let backoffMs = 0;
  let upstreamMs = 0;
  for (let i = 0; i < N; i++) backoffMs += seen[2 * i + 1]!.receivedAt - seen[2 * i]!.respondedAt!;
  for (const r of seen) upstreamMs += r.respondedAt! - r.receivedAt;
  const grid = (after.histogramSum('meshlet_request_grid_seconds', 'backoff') - before.histogramSum('meshlet_request_grid_seconds', 'backoff')) * 1000;
  const overhead = (after.histogramSum('meshlet_request_overhead_seconds', 'backoff') - before.histogramSum('meshlet_request_overhead_seconds', 'backoff')) * 1000;
  t.comment(`backoff ≈ ${backoffMs.toFixed(1)} ms in total; S_overhead grew ${overhead.toFixed(1)} ms, S_grid ${grid.toFixed(1)} ms (upstream busy ${upstreamMs.toFixed(1)} ms)`);
  t.ok(grid >= upstreamMs && grid < upstreamMs + N * 15, `S_grid (${grid.toFixed(1)} ms) ≈ the time the upstream took: no backoff in it`);
  t.ok(overhead >= backoffMs - N * 3 && overhead <= backoffMs + N * 15, `S_overhead (${overhead.toFixed(1)} ms) ≈ the backoff (${backoffMs.toFixed(1)} ms)`);
});

t.test('POST bodies: replayed intact up to the buffer limit, streamed and not retried beyond it', async (t) => {
  const u = up.post!;
  const small = randomBytes(10 * 1024);
  u.next({ status: 503 }, { status: 200 });
  let from = u.requests;
  const { result: ok, delta } = await counting('post', () => get('/post', { method: 'POST', body: small }));
  t.equal(ok.status, 200, '10 KiB (≤ 16 KiB default limit): retried');
  t.equal(delta('upstream_rq_retry'), 1);
  const replays = u.since(from);
  t.equal(replays.length, 2);
  t.ok(replays.every((r) => r.body.equals(small)), 'both attempts carried the exact body');

  const large = randomBytes(20 * 1024);
  u.next({ status: 503 }, { status: 200 });
  from = u.requests;
  const { result: big, delta: d2 } = await counting('post', () => get('/post', { method: 'POST', body: large }));
  t.equal(big.status, 503, '20 KiB (> 16 KiB): streamed, not retried');
  t.equal(big.headers['x-meshlet-response-flags'], undefined);
  t.equal(d2('upstream_rq_retry'), 0);
  t.equal(u.since(from).length, 1);
  t.ok(u.since(from)[0]!.body.equals(large), 'streamed intact');
  u.reset();

  u.next({ status: 503 }, { status: 200 });
  from = u.requests;
  const chunked = await get('/post', { method: 'POST', body: Readable.from([small.subarray(0, 100), small.subarray(100, 200)]) });
  t.equal(chunked.status, 200, 'chunked (length unknown) within the limit: kept while it streamed, and retried');
  t.equal(u.since(from).length, 2);
  t.ok(u.since(from)[1]!.body.equals(small.subarray(0, 200)), 'the retry sends the whole body again');
  u.reset();

  u.next({ status: 503 }, { status: 200 });
  from = u.requests;
  t.equal((await get('/post-limited', { method: 'POST', body: small.subarray(0, 2048) })).status, 503, "2 KiB over the route's 1 KiB limit: not retried");
  u.reset();
  u.next({ status: 503 }, { status: 200 });
  t.equal((await get('/post-limited', { method: 'POST', body: small.subarray(0, 512) })).status, 200, '512 B within it: retried');
  t.equal(u.since(from).length, 3);
});

t.test('x-envoy-max-retries and x-envoy-retry-on from an internal client; ignored from an external one; never forwarded', async (t) => {
  const u = up.hdr!;
  u.next({ status: 503 }, { status: 503 }, { status: 503 }, { status: 200 });
  let from = u.requests;
  const more = await get('/hdr-policy', { headers: { 'x-envoy-max-retries': '3' } });
  t.equal(more.status, 200, 'three retries instead of the policy’s one');
  t.equal(u.since(from).length, 4);

  u.next({ status: 503 }, { status: 503 }, { status: 200 });
  from = u.requests;
  const policyOnly = await get('/hdr-policy');
  t.equal(policyOnly.status, 503, 'without the header: the policy’s one retry');
  t.equal(policyOnly.headers['x-meshlet-response-flags'], 'URX');
  u.reset();

  u.next({ status: 503 }, { status: 200 });
  from = u.requests;
  t.equal((await get('/hdr-none', { headers: { 'x-envoy-retry-on': '5xx' } })).status, 200, 'x-envoy-retry-on enables retries on a route without policy');
  t.equal(u.since(from).length, 2);
  u.reset();

  u.next({ status: 503 }, { status: 200 });
  from = u.requests;
  // Without use_remote_address, the trusted client is the rightmost x-forwarded-for entry.
  const external = await get('/hdr-none', { headers: { 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '3', 'x-forwarded-for': '203.0.113.7' } });
  t.equal(external.status, 503, 'an external client cannot turn retries on');
  t.equal(u.since(from).length, 1);
  u.reset();

  const leaked = u.seen.filter((r) => Object.keys(r.headers).some((h) => h.startsWith('x-envoy-retry') || h === 'x-envoy-max-retries'));
  t.same(leaked, [], 'no upstream ever saw the retry headers');
});

t.test('circuit breaker max_retries (default 3): the 4th and 5th concurrent retries are refused (UO)', async (t) => {
  const u = up.cb!;
  // The five first attempts fail at once; the retries then take 500 ms, holding their retry slots.
  u.behave(firstAttemptFails({ status: 503 }, { status: 200, delayMs: 500 }));
  const { result, delta } = await counting('cb', () => Promise.all(Array.from({ length: 5 }, (_, i) => get(`/cb?overflow=${i}`))));
  const statuses = result.map((r) => r.status).sort();
  t.same(statuses, [200, 200, 200, 503, 503]);
  t.same(result.filter((r) => r.status === 503).map((r) => r.headers['x-meshlet-response-flags']), ['UO', 'UO'], "Envoy's flag for a retry refused by the breaker");
  t.equal(delta('upstream_rq_retry'), 3);
  t.equal(delta('upstream_rq_retry_overflow'), 2);
  t.equal(delta('upstream_rq_retry_success'), 3);
});

t.test('retry slots are released exactly once: three concurrent retries fit again', async (t) => {
  const u = up.cb!;
  u.behave(firstAttemptFails({ status: 503 }, { status: 200, delayMs: 100 }));
  const { result, delta } = await counting('cb', () => Promise.all(Array.from({ length: 3 }, (_, i) => get(`/cb?fit=${i}`))));
  t.same(result.map((r) => r.status), [200, 200, 200]);
  t.equal(delta('upstream_rq_retry'), 3);
  t.equal(delta('upstream_rq_retry_overflow'), 0, 'no slot leaked by the earlier tests');
});

t.test('circuit breaker max_requests: a request beyond it gets 503 UO at once; slots come back', async (t) => {
  up.limited!.behave({ status: 200, delayMs: 300 });
  const { result, delta } = await counting('limited', () => Promise.all(Array.from({ length: 4 }, () => get('/limited'))));
  t.same(result.map((r) => r.status).sort(), [200, 200, 503, 503]);
  const refused = result.filter((r) => r.status === 503);
  t.same(refused.map((r) => r.headers['x-meshlet-response-flags']), ['UO', 'UO']);
  t.ok(refused.every((r) => r.ms < 200), `refused at once (${refused.map((r) => r.ms.toFixed(0)).join(', ')} ms)`);
  t.equal(delta('upstream_rq_pending_overflow'), 2);
  t.equal(delta('upstream_rq_total'), 2, 'refused requests never reached the upstream');
  const again = await Promise.all([get('/limited'), get('/limited')]);
  t.same(again.map((r) => r.status), [200, 200], 'both slots released');

  // Clients that go away mid-request give their slots back too.
  up.limited!.behave({ hang: true });
  const gone = await Promise.all(
    [0, 1].map(() => request(`${base}/limited`, { signal: AbortSignal.timeout(100) }).then(() => 'answered', (err: Error) => err.name)),
  );
  t.same(gone, ['TimeoutError', 'TimeoutError']);
  up.limited!.behave({ status: 200 });
  await new Promise((r) => setTimeout(r, 100));
  const after = await Promise.all([get('/limited'), get('/limited')]);
  t.same(after.map((r) => r.status), [200, 200], 'slots of abandoned requests released');
});

t.test('a client that leaves during the backoff: no retry is sent after, and its retry slot comes back', async (t) => {
  const u = up.leave!;
  u.behave({ status: 503 });
  // The backoff is jittered in [0, 1 s): rarely, the retry beats the client out; then try again.
  let left = false;
  for (let round = 0; round < 3 && !left; round++) {
    const from = u.requests;
    const controller = new AbortController();
    const outcome = request(`${base}/leave`, { signal: controller.signal }).then(
      (res) => res.body.text().then(() => 'answered'),
      (err: Error) => err.name,
    );
    for (let i = 0; i < 500 && u.since(from)[0]?.respondedAt === undefined; i++) await new Promise((r) => setTimeout(r, 2));
    const leftAt = performance.now();
    controller.abort();
    if ((await outcome) !== 'AbortError') continue;
    left = true;
    await new Promise((r) => setTimeout(r, 1100));
    const late = u.since(from).filter((r) => r.receivedAt > leftAt + 10);
    t.same(late.map((r) => r.n), [], `no attempt after the client left (${u.requests - from} in all)`);
  }
  t.ok(left, 'the client left during a backoff');
  // The breaker must be back to zero retries in flight: three retries fit.
  up.cb!.behave(firstAttemptFails({ status: 503 }, { status: 200, delayMs: 100 }));
  const { result, delta } = await counting('cb', () => Promise.all(Array.from({ length: 3 }, (_, i) => get(`/cb?after-leave=${i}`))));
  t.same(result.map((r) => r.status), [200, 200, 200]);
  t.equal(delta('upstream_rq_retry_overflow'), 0);
});
