/**
 * `meshlet proxy --mode` as a real process, following a real control plane (in this process):
 * a sidecar becomes ready once the control plane serves it, and routes its service; a gateway
 * over Delta xDS reaches the control plane by a DNS name. Then the flags' edges: the printed
 * bootstrap, --validate, and the usage errors.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { request } from 'undici';
import { parse } from 'yaml';
import { startEchoServer } from '../../cli/echo-server';
import { createLogger } from '../../proxy/log';
import { ControlPlane } from '../../xds/control-plane/control-plane';
import { FileRegistry } from '../../xds/control-plane/registry/file-registry';
import { MESHLET_BIN, freePort, writeTempFile } from '../helpers/proxy-process';

function meshlet(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `meshlet proxy ...args` in the background, killed when the test ends. */
function startModeProxy(t: Test, args: string[]) {
  const child = spawn(process.execPath, [MESHLET_BIN, 'proxy', '--log-level', 'warn', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  return { child, stderr: () => stderr };
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await request(url, { headers });
  return { status: res.statusCode, text: await res.body.text() };
}

/** Polls `url` until it answers 200, within `timeoutMs`; the statuses seen on the way. */
async function waitFor200(url: string, timeoutMs = 15_000): Promise<Set<number | string>> {
  const seen = new Set<number | string>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await get(url).then((r) => r.status, (err: Error & { code?: string }) => err.code ?? 'error');
    seen.add(status);
    if (status === 200) return seen;
    if (Date.now() > deadline) throw new Error(`${url} not 200 within ${timeoutMs} ms (seen ${[...seen].join(', ')})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function meshSetup(t: Test) {
  const [echoPort, outboundPort, gatewayPort, xdsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const echo: Server = await startEchoServer('echo-1', echoPort);
  t.teardown(() => void echo.close());
  const meshFile = writeTempFile('mesh.yaml', `
services:
  echo:
    endpoints: [{address: 127.0.0.1, port: ${echoPort}}]
    sidecar: {outbound_port: ${outboundPort}}
gateways:
  edge:
    port: ${gatewayPort}
    routes: [{name: all, match: {prefix: /}, to: {service: echo}}]
`);
  const startPlane = async () => {
    const plane = await ControlPlane.start({ registry: new FileRegistry(meshFile), address: '127.0.0.1', port: xdsPort, log: createLogger('silent') });
    t.teardown(() => plane.stop());
    return plane;
  };
  return { outboundPort, gatewayPort, xdsPort, startPlane };
}

t.test('--mode sidecar turns ready once the control plane has served it, and routes its mesh', async (t) => {
  const mesh = await meshSetup(t);
  const [adminPort, healthPort] = [await freePort(), await freePort()];
  const admin = `http://127.0.0.1:${adminPort}`;
  // The control plane is not there yet: the proxy waits for it, not ready.
  const proxy = startModeProxy(t, ['--mode', 'sidecar', '--xds-address', `127.0.0.1:${mesh.xdsPort}`, '--service', 'echo', '--admin-port', String(adminPort), '--health-port', String(healthPort)]);
  await waitFor200(`${admin}/server_info`);
  t.same(await get(`${admin}/ready`), { status: 503, text: 'INITIALIZING\n' }, 'not ready without a control plane');

  const plane = await mesh.startPlane();
  await waitFor200(`${admin}/ready`);
  t.same(await get(`${admin}/ready`), { status: 200, text: 'LIVE\n' });
  t.equal(proxy.child.exitCode, null, 'the proxy runs', { stderr: proxy.stderr() });

  const echo = await get(`http://127.0.0.1:${mesh.outboundPort}/hello`, { host: 'echo' });
  t.equal(echo.status, 200, 'the outbound listener came from the control plane');
  t.match(JSON.parse(echo.text), { server: 'echo-1', url: '/hello' });

  const info = JSON.parse((await get(`${admin}/server_info`)).text);
  t.same(info.node, { id: `echo-${hostname()}`, cluster: 'echo' }, 'node id defaults to <service>-<hostname>');
  const nodes = (plane.configDump() as { nodes: { node_id: string; protocol: string }[] }).nodes;
  t.same(nodes.map((n) => [n.node_id, n.protocol]), [[`echo-${hostname()}`, 'sotw']]);

  const health = `http://127.0.0.1:${healthPort}`;
  t.same(await get(`${health}/ready`), { status: 200, text: 'LIVE\n' }, 'the health port answers /ready');
  t.equal((await get(`${health}/server_info`)).status, 404, 'and nothing else of admin');
  t.equal((await request(`${health}/quitquitquit`, { method: 'POST' }).then(async (r) => (await r.body.text(), r.statusCode))), 404, 'in particular not /quitquitquit');
  t.equal((await get(`${admin}/ready`)).status, 200, 'still running');
});

t.test('--mode gateway --delta follows a control plane named by DNS (STRICT_DNS)', async (t) => {
  const mesh = await meshSetup(t);
  const plane = await mesh.startPlane();
  const adminPort = await freePort();
  startModeProxy(t, ['--mode', 'gateway', '--delta', '--xds-address', `localhost:${mesh.xdsPort}`, '--service', 'edge', '--node-id', 'edge-1', '--admin-address', '127.0.0.1', '--admin-port', String(adminPort)]);
  await waitFor200(`http://127.0.0.1:${adminPort}/ready`);
  const res = await get(`http://127.0.0.1:${mesh.gatewayPort}/x`);
  t.equal(res.status, 200);
  t.match(JSON.parse(res.text), { server: 'echo-1' });
  const nodes = (plane.configDump() as { nodes: { node_id: string; protocol: string }[] }).nodes;
  t.same(nodes.map((n) => [n.node_id, n.protocol]), [['edge-1', 'delta']]);
});

t.test('--print-bootstrap prints the generated bootstrap as YAML, which --config accepts', async (t) => {
  const env = { MESHLET_XDS_ADDRESS: 'meshlet-control-plane.meshlet-system.svc:18000', MESHLET_SERVICE: 'echo', MESHLET_NODE_ID: 'echo-abc.default' };
  const printed = meshlet(['proxy', '--mode', 'sidecar', '--print-bootstrap'], env);
  t.equal(printed.code, 0, printed.stderr);
  const bootstrap = parse(printed.stdout);
  t.same(bootstrap.node, { id: 'echo-abc.default', cluster: 'echo' }, 'from the environment');
  t.equal(bootstrap.static_resources.clusters[0].type, 'STRICT_DNS');
  t.notMatch(printed.stdout, /[&*]a\d/, 'no YAML anchors or aliases');
  const file = writeTempFile('printed.yaml', printed.stdout);
  const validated = meshlet(['proxy', '--config', file, '--validate']);
  t.equal(validated.code, 0, validated.stderr);
});

t.test('--validate with --mode checks the generated bootstrap', async (t) => {
  const r = meshlet(['proxy', '--mode', 'gateway', '--xds-address', '127.0.0.1:18000', '--service', 'ingress', '--validate']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '--mode gateway: valid (0 listeners, 1 clusters)\n');
});

t.test('usage errors exit 2 and say what to do', async (t) => {
  const cases: [string[], string][] = [
    [['--mode', 'sidecar', '--config', 'x.yaml'], '--config and --mode are alternatives'],
    [['--service', 'echo', '--config', 'x.yaml'], '--service goes with --mode'],
    [[], '--config or --mode is required'],
    [['--mode', 'sidecar', '--xds-address', '127.0.0.1:18000'], '--service (or MESHLET_SERVICE) is required'],
    [['--mode', 'mesh', '--service', 'x', '--xds-address', '127.0.0.1:1'], '--mode must be one of sidecar, gateway'],
  ];
  for (const [args, message] of cases) {
    const r = meshlet(['proxy', ...args], { MESHLET_SERVICE: '', MESHLET_XDS_ADDRESS: '' });
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, message);
  }
  const help = meshlet(['proxy', '--help']);
  for (const flag of ['--mode', '--xds-address', '--service', '--node-id', '--admin-port', '--admin-address', '--health-port', '--zone', '--region', '--delta', '--print-bootstrap']) {
    t.match(help.stdout, flag);
  }
});
