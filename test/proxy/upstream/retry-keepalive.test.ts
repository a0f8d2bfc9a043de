import t from 'tap';
import { Pool, request } from 'undici';
import { FaultyUpstream, Metrics } from '../../helpers/faulty-upstream';
import { bootstrapYaml, freePort, startProxy, staticCluster, type ProxyProcess } from '../../helpers/proxy-process';

// The keep-alive race: an upstream closes an idle keep-alive connection just as the proxy
// writes the next request on it. The request fails before any response byte; the upstream
// never saw it. meshlet sends such a request (idempotent, no body) once more on a new
// connection — with no retry policy on the route — so no 5xx reaches the client.
let proxy: ProxyProcess;
let base: string;
let racy: FaultyUpstream;
let stale: FaultyUpstream;

t.before(async () => {
  // Closes a connection 50 ms after its last response, without a Keep-Alive hint: clients keep reusing it.
  racy = await FaultyUpstream.start('racy', { idleCloseMs: 50 });
  // Deterministic: every request that arrives on a connection that already carried one is dropped
  // unanswered, as if the upstream had closed that connection the instant before.
  stale = await FaultyUpstream.start('stale');
  stale.behave((r) => (r.previousOnConnection > 0 ? { reset: 'before-response' } : { status: 200 }));
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${listenerPort}`;
  proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: `            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /racy}
                route: {cluster: racy}
              - match: {prefix: /stale}
                route: {cluster: stale}`,
      // The proxy's own idle timeout (4 s default) is longer than the upstream's 50 ms: the race is on.
      clusters: [staticCluster('racy', [{ port: racy.port }]), staticCluster('stale', [{ port: stale.port }])].join('\n'),
    }),
    adminPort,
  );
});

t.teardown(async () => {
  await proxy?.stop();
  await racy?.close();
  await stale?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a request dropped on a reused connection is sent again on a new one: the client sees 200', async (t) => {
  const before = await Metrics.scrape(proxy.adminUrl);
  const N = 20;
  const statuses: number[] = [];
  for (let i = 0; i < N; i++) {
    const res = await request(`${base}/stale`);
    await res.body.text();
    statuses.push(res.statusCode);
  }
  const after = await Metrics.scrape(proxy.adminUrl);
  const delta = (name: string) => after.cluster(name, 'stale') - before.cluster(name, 'stale');
  t.same(statuses, Array(N).fill(200), 'no 5xx');
  const dropped = stale.seen.filter((r) => r.previousOnConnection > 0);
  t.ok(dropped.length >= N / 2 - 1, `${dropped.length} requests were dropped on reused connections`);
  t.equal(stale.seen.length, N + dropped.length, 'each dropped request was sent exactly once more');
  t.equal(delta('upstream_rq_rx_reset'), dropped.length);
  t.equal(delta('upstream_rq_total'), N + dropped.length, 'the resend is an upstream attempt');
  t.equal(delta('upstream_rq_retry'), 0, 'not a retry of a policy (the route has none)');
  // Each drop is followed by its resend, which is a first request on a new connection.
  for (const d of dropped) {
    const resend = stale.seen[d.n]!;
    t.equal(resend.previousOnConnection, 0, `request #${d.n} resent as #${resend.n} on connection ${resend.connection} (new)`);
    t.not(resend.connection, d.connection);
  }
});

t.test('not for a non-idempotent request, nor one with a body', async (t) => {
  for (const method of ['POST', 'PUT'] as const) {
    // Until a GET was served on a new pooled connection (not a close-after resend), which then idles in the pool.
    for (let i = 0; i < 4; i++) {
      await (await request(`${base}/stale`)).body.text();
      const last = stale.seen[stale.seen.length - 1]!;
      if (last.previousOnConnection === 0 && last.headers.connection === 'keep-alive') break;
    }
    const res = await request(`${base}/stale`, { method, body: method === 'PUT' ? 'payload' : undefined });
    await res.body.text();
    t.equal(res.statusCode, 502, `${method}${method === 'PUT' ? ' with a body' : ''}: the reset goes to the client`);
    t.equal(res.headers['x-meshlet-response-flags'], 'UC');
  }
});

t.test('the natural race: upstream idle timeout 50 ms, a request every ~50 ms, no 5xx', async (t) => {
  const N = 100;
  const run = async (send: () => Promise<number>) => {
    const errors: string[] = [];
    for (let i = 0; i < N; i++) {
      try {
        const status = await send();
        if (status >= 500) errors.push(String(status));
      } catch (err) {
        errors.push((err as Error).message);
      }
      // 44–56 ms between requests, around the upstream's 50 ms idle close.
      await sleep(44 + (i % 13));
    }
    return errors;
  };

  // Control: a plain keep-alive client straight to the upstream meets the race.
  const direct = new Pool(`http://127.0.0.1:${racy.port}`, { connections: 1, keepAliveTimeout: 4000, keepAliveMaxTimeout: 4000 });
  const directErrors = await run(async () => {
    const res = await direct.request({ path: '/', method: 'GET' });
    await res.body.text();
    return res.statusCode;
  });
  await direct.close();
  t.comment(`straight to the upstream: ${directErrors.length} of ${N} requests failed (${[...new Set(directErrors)].join('; ')})`);

  const before = await Metrics.scrape(proxy.adminUrl);
  const proxied = await run(async () => {
    const res = await request(`${base}/racy`);
    await res.body.text();
    return res.statusCode;
  });
  const after = await Metrics.scrape(proxy.adminUrl);
  const resends = after.cluster('upstream_rq_total', 'racy') - before.cluster('upstream_rq_total', 'racy') - N;
  t.comment(`through the proxy: ${resends} requests met the race upstream and were sent again`);
  t.same(proxied, [], 'no 5xx and no error reached the client');
  t.equal(after.cluster('upstream_rq_rx_reset', 'racy') - before.cluster('upstream_rq_rx_reset', 'racy'), resends, 'every reset was resent');
});
