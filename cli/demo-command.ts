import type { Server } from 'node:http';
import { join } from 'node:path';
import { ConfigError } from '../xds/config-error';
import { ControlPlane, loadMesh } from '../xds/control-plane/control-plane';
import { FileRegistry } from '../xds/control-plane/registry/file-registry';
import { loadBootstrapFile, type BootstrapConfig } from '../proxy/config/bootstrap';
import { createLogger, type LogLevel } from '../proxy/log';
import { ProxyServer } from '../proxy/server';
import { commandLine, parseCommandArgs } from './command-args';
import { startEchoServer } from './echo-server';
import { formatConfigError } from './format-config-error';

const EXAMPLES = join(__dirname, '..', '..', 'examples');
const MESH_FILE = join(EXAMPLES, 'mesh.yaml');
const GATEWAY_BOOTSTRAP = join(EXAMPLES, 'gateway-bootstrap.yaml');
const STATIC_BOOTSTRAP = join(EXAMPLES, 'demo-bootstrap.yaml');
const CONTROL_PLANE_PORT = 18000;
const CONTROL_PLANE_ADMIN_PORT = 18001;

const USAGE = `Usage: meshlet demo [--static] [--log-level <level>]

Starts, on loopback, a small mesh: the echo services of examples/mesh.yaml (weights 1/2/7), the
control plane serving that file over xDS (:${CONTROL_PLANE_PORT}, admin :${CONTROL_PLANE_ADMIN_PORT}), and a meshlet
ingress gateway following it (examples/gateway-bootstrap.yaml: :10000, admin :9901).
Edit examples/mesh.yaml while it runs and the gateway follows within a second.

  --static   no control plane: the proxy runs from examples/demo-bootstrap.yaml alone
`;

const { help } = commandLine('demo', USAGE);

export async function demoCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, { static: { type: 'boolean', default: false }, 'log-level': { type: 'string', default: 'warn' } });
  // A flag parseArgs refuses is a failure (main prints it, exit 1), without the usage text.
  if (parsed.kind === 'error') throw new Error(parsed.message);
  if (parsed.kind === 'help') return help();
  const { values } = parsed;
  const log = createLogger(values['log-level'] as LogLevel);
  const bootstrapFile = values.static ? STATIC_BOOTSTRAP : GATEWAY_BOOTSTRAP;
  let bootstrap: BootstrapConfig;
  let upstreams: { name: string; address: string; port: number; weight: number }[];
  try {
    bootstrap = loadBootstrapFile(bootstrapFile);
    upstreams = values.static
      ? bootstrap.clusters.flatMap((c) => c.endpoints.map((e, i) => ({ name: `${c.name}-${i + 1}`, ...e })))
      : loadMesh(MESH_FILE).mesh.services.flatMap((s) => s.endpoints.map((e, i) => ({ name: `${s.name}-${i + 1}`, ...e })));
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(formatConfigError(values.static ? bootstrapFile : MESH_FILE, err));
    throw err;
  }

  const servers: Server[] = await Promise.all(upstreams.map((u) => startEchoServer(u.name, u.port, u.address)));
  const plane = values.static
    ? undefined
    : await ControlPlane.start({ registry: new FileRegistry(MESH_FILE), address: '127.0.0.1', port: CONTROL_PLANE_PORT, adminPort: CONTROL_PLANE_ADMIN_PORT, log });
  const proxy = new ProxyServer(bootstrap, log, { drainTimeMs: 2000 });
  const stop = () =>
    void proxy.shutdown('demo stopped').then(async () => {
      await plane?.stop();
      for (const s of servers) s.close();
      process.exit(0);
    });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await proxy.start();

  const base = 'http://127.0.0.1:10000';
  const admin = `http://${bootstrap.admin!.address}:${bootstrap.admin!.port}`;
  const followMesh = plane
    ? `
The gateway's config comes from the control plane. Edit examples/mesh.yaml (say, the endpoints'
weights, or add an endpoint) and watch the gateway follow:
  curl ${admin}/clusters                        # hosts and weights as the gateway has them now
  curl -s ${admin}/stats/prometheus | grep -E 'meshlet_xds_|update_success'   # versions and config age
  curl -s http://127.0.0.1:${CONTROL_PLANE_ADMIN_PORT}/config_dump            # what the control plane serves
`
    : '';
  process.stderr.write(`
meshlet demo is running (Ctrl-C to stop). Upstreams: ${upstreams.map((u) => `${u.name}@${u.port} weight ${u.weight}`).join(', ')}

Try:
  curl ${base}/echo/hello                       # routed, weighted 1/2/7: see "server"
  for i in $(seq 20); do curl -s ${base}/echo/ | grep -o '"server":"[^"]*"'; done | sort | uniq -c
  curl ${admin}/ready                           # LIVE once config is applied
  curl -s ${admin}/stats/prometheus | grep meshlet_request_   # S_total / S_overhead / S_grid
  curl ${admin}/config_dump
${followMesh}
`);
  return 0;
}
