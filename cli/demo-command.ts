import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../xds/config-error';
import { loadBootstrapFile } from '../proxy/config/bootstrap';
import { createLogger, type LogLevel } from '../proxy/log';
import { ProxyServer } from '../proxy/server';
import { startEchoServer } from './echo-server';
import { formatConfigError } from './format-config-error';

const DEMO_BOOTSTRAP = join(__dirname, '..', '..', 'examples', 'demo-bootstrap.yaml');

const USAGE = `Usage: meshlet demo [--log-level <level>]

Starts, on loopback, the echo services named in examples/demo-bootstrap.yaml
(weights 1/2/7) and the proxy in front of them, then prints what to try.
`;

export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { 'log-level': { type: 'string', default: 'warn' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let bootstrap;
  try {
    bootstrap = loadBootstrapFile(DEMO_BOOTSTRAP);
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(formatConfigError(DEMO_BOOTSTRAP, err));
    throw err;
  }
  const upstreams = bootstrap.clusters.flatMap((c) => c.endpoints.map((e, i) => ({ name: `${c.name}-${i + 1}`, ...e })));
  const servers = await Promise.all(upstreams.map((u) => startEchoServer(u.name, u.port, u.address)));
  const proxy = new ProxyServer(bootstrap, createLogger(values['log-level'] as LogLevel), { drainTimeMs: 2000 });
  const stop = () =>
    void proxy.shutdown('demo stopped').then(() => {
      for (const s of servers) s.close();
      process.exit(0);
    });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await proxy.start();

  const listener = bootstrap.listeners[0]!;
  const base = `http://${listener.address}:${listener.port}`;
  const admin = `http://${bootstrap.admin!.address}:${bootstrap.admin!.port}`;
  process.stderr.write(`
meshlet demo is running (Ctrl-C to stop). Upstreams: ${upstreams.map((u) => `${u.name}@${u.port} weight ${u.weight}`).join(', ')}

Try:
  curl ${base}/echo/hello                       # routed, weighted 1/2/7: see "server"
  for i in $(seq 20); do curl -s ${base}/ | grep -o '"server":"[^"]*"'; done | sort | uniq -c
  curl -i ${base}/healthz                       # direct_response
  curl -i ${base}/v1/hello                      # redirect
  curl ${admin}/ready                           # LIVE once config is applied
  curl ${admin}/clusters                        # hosts, weights, health
  curl -s ${admin}/stats/prometheus | grep meshlet_request_   # S_total / S_overhead / S_grid
  curl ${admin}/config_dump
Access logs (JSON) follow on stdout.

`);
  return 0;
}
