import t, { type Test } from 'tap';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { Agent, request } from 'undici';
import { bootstrapYaml, freePort, startProxy, staticCluster } from '../helpers/proxy-process';

/** An upstream that can be made to fail: `flaky` answers 503 to every other request; `kill` stops it dead. */
async function upstream(name: string) {
  const port = await freePort();
  let flaky = false;
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    count++;
    if (flaky && count % 2 === 0) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      return res.end(`${name} failing\n`);
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${name}\n`);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    port,
    makeFlaky: () => (flaky = true),
    kill: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

const RESILIENT_ROUTE = `
                  retry_policy:
                    retry_on: 5xx,connect-failure,reset
                    num_retries: 3
                    retry_host_predicate:
                    - name: envoy.retry_host_predicates.previous_hosts
                      typed_config: {"@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate}
                    host_selection_retry_max_attempts: 5`;
const RESILIENT_CLUSTER = `    outlier_detection: {consecutive_5xx: 3, interval: 0.5s, base_ejection_time: 10s, max_ejection_percent: 100}
    circuit_breakers: {thresholds: [{max_retries: 100}]}`;

/**
 * Three upstreams under a steady bounded load (4 clients, 3 s): after 0.5 s one is killed and
 * another starts answering 503 to every other request. Returns how many requests were sent
 * and how many failed as the client saw them.
 */
async function chaos(t: Test, resilient: boolean): Promise<{ sent: number; failed: number }> {
  const hosts = [await upstream('a'), await upstream('b'), await upstream('c')];
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: `            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /}
                route:
                  cluster: svc
                  timeout: 5s${resilient ? RESILIENT_ROUTE : ''}`,
      clusters: staticCluster('svc', hosts.map((h) => ({ port: h.port })), resilient ? RESILIENT_CLUSTER : ''),
    }),
    adminPort,
  );
  const agent = new Agent({ connections: 8 });
  t.teardown(async () => {
    await proxy.stop();
    await agent.close();
    for (const h of hosts) h.kill();
  });
  let sent = 0;
  let failed = 0;
  const until = Date.now() + 3000;
  const client = async () => {
    while (Date.now() < until && sent < 20_000) {
      sent++;
      try {
        const res = await request(`http://127.0.0.1:${listenerPort}/`, { dispatcher: agent });
        await res.body.text();
        if (res.statusCode !== 200) failed++;
      } catch {
        failed++;
      }
    }
  };
  const load = Promise.all([client(), client(), client(), client()]);
  await new Promise((r) => setTimeout(r, 500));
  hosts[0]!.kill();
  hosts[1]!.makeFlaky();
  await load;
  return { sent, failed };
}

t.test('with retries and outlier detection the client sees no failure', async (t) => {
  const { sent, failed } = await chaos(t, true);
  t.ok(sent > 100, `${sent} requests sent`);
  t.equal(failed, 0, `0 of ${sent} requests failed`);
});

t.test('without them, the same chaos reaches the client', async (t) => {
  const { sent, failed } = await chaos(t, false);
  t.ok(failed > 0, `${failed} of ${sent} requests failed`);
});
