/**
 * `meshlet mesh apply / get` and `meshlet control-plane --registry` as real processes against a
 * real etcd: an applied document is served over ADS (and a new apply pushed), an invalid one is
 * refused with its paths and nothing stored; then the flags' edges.
 */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { controlPlaneCommand } from '../../../cli/control-plane-command';
import { meshCommand } from '../../../cli/mesh-command';
import { registerCommand } from '../../../cli/register-command';
import { decodeAny } from '../../../xds/proto-json';
import { startEtcd, type EtcdCluster } from '../../helpers/etcd';
import { MESHLET_BIN, freePort, writeTempFile } from '../../helpers/proxy-process';
import { AdsTestStream, TYPE } from './fixtures/ads-test-client';

const MESH = `# applied by etcd-mesh-command.test
services:
  echo:
    endpoints: [{address: 127.0.0.1, port: 9001, version: v1}]
    routes:
      - to: [{version: v1, weight: 90}, {version: v2, weight: 10}]
gateways:
  edge:
    port: 18999
    routes: [{match: {prefix: /}, to: {service: echo}}]
`;

function meshlet(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000 }, (_err, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

/** A command's usage errors, run in this process (each returns before touching etcd). */
async function inProcess(command: (args: string[]) => Promise<number>, args: readonly string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: await command([...args]), stderr };
  } finally {
    process.stderr.write = write;
  }
}

let etcd: EtcdCluster;
t.before(async () => {
  etcd = await startEtcd();
});
t.teardown(() => etcd.stop());

t.test('mesh apply refuses an invalid document with every path, and stores nothing', async (t) => {
  const file = writeTempFile('mesh.yaml', 'services:\n  echo:\n    lb_policy: FASTEST\n    routes: [{to: {service: nope}}]\n');
  const r = await meshlet('mesh', 'apply', '-f', file, '--registry', etcd.registry, '--prefix', '/bad');
  t.equal(r.code, 1);
  t.match(r.stderr, `meshlet: ${file}: 2 problems`);
  t.match(r.stderr, 'services.echo.lb_policy: expected one of ROUND_ROBIN');
  t.match(r.stderr, 'services.echo.routes[0].to.service: unknown service "nope"');
  t.equal(await etcd.client.get('/bad/mesh').string(), null, 'nothing was written');
  const get = await meshlet('mesh', 'get', '--registry', etcd.registry, '--prefix', '/bad');
  t.equal(get.code, 1);
  t.match(get.stderr, 'no mesh document at /bad/mesh');
});

t.test('mesh apply stores the document as written; a control plane serves it and pushes the next apply', async (t) => {
  const file = writeTempFile('mesh.yaml', MESH);
  const applied = await meshlet('mesh', 'apply', '-f', file, '--registry', etcd.registry);
  t.equal(applied.code, 0, applied.stderr);
  t.match(applied.stdout, /applied to \/meshlet\/mesh \(revision \d+\)/);
  const [get, validate] = await Promise.all([meshlet('mesh', 'get', '--registry', etcd.registry), meshlet('control-plane', '--registry', etcd.registry, '--validate')]);
  t.equal(get.stdout, MESH, 'get prints it back byte for byte, comments included');
  t.equal(validate.code, 0, validate.stderr);
  t.equal(validate.stdout, `${etcd.registry}/meshlet/mesh: valid (1 services, 1 gateways, 3 node roles)\n`);

  const port = await freePort();
  const child = spawn(process.execPath, [MESHLET_BIN, 'control-plane', '--registry', etcd.registry, '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  const deadline = Date.now() + 15_000;
  while (!stderr.includes('control plane serving ADS')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the control plane did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.match(JSON.parse(stderr.split('\n').find((l) => l.includes('control plane serving ADS'))!), { registry: etcd.registry, key: '/meshlet/mesh', services: 1, gateways: 1 });

  const ads = new AdsTestStream(`127.0.0.1:${port}`, 'StreamAggregatedResources');
  t.teardown(() => ads.close());
  ads.send({ type_url: TYPE.CDS, node: { id: 'edge-1', cluster: 'edge' } });
  const cds = await ads.next(5000);
  const clusters = (response: any) => response.resources.map((any: any) => decodeAny(any).name);
  t.same(clusters(cds), ['echo', 'echo/v1', 'echo/v2'], "v2 has a cluster though no endpoint has it yet: instances of it may register");
  ads.send({ type_url: TYPE.CDS, version_info: cds.version_info, response_nonce: cds.nonce });

  const start = performance.now();
  const next = writeTempFile('mesh.yaml', `${MESH.replace('services:\n', 'services:\n  web: {}\n')}`);
  t.equal((await meshlet('mesh', 'apply', '-f', next, '--registry', etcd.registry)).code, 0);
  const push = await ads.next(3000);
  t.comment(`apply to CDS push: ${Math.round(performance.now() - start)} ms (including the apply process)`);
  t.same(clusters(push), ['web', 'echo', 'echo/v1', 'echo/v2']);

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops it with 0');
});

t.test('mesh get --endpoints lists the registered endpoints, as comments after the document', async (t) => {
  await etcd.client.put('/listed/mesh').value(MESH);
  const lease = etcd.client.lease(30);
  t.teardown(() => lease.revoke());
  await lease.put('/listed/endpoints/echo/127.0.0.1:9002').value('{"address":"127.0.0.1","port":9002,"version":"v2"}');
  const leaseId = BigInt(await lease.grant()).toString(16);
  const [r, none] = await Promise.all([
    meshlet('mesh', 'get', '--endpoints', '--registry', etcd.registry, '--prefix', '/listed'),
    meshlet('mesh', 'get', '--endpoints', '--registry', etcd.registry, '--prefix', '/none'),
  ]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${MESH}# registered endpoints (/listed/endpoints/):\n#   echo 127.0.0.1:9002 {"address":"127.0.0.1","port":9002,"version":"v2"} lease ${leaseId}\n`);
  t.match(none.stdout, '# registered endpoints (/none/endpoints/): none');
});

t.test('bad flags exit 2 with the usage; an unreachable etcd exits 1 naming it', async (t) => {
  const file = writeTempFile('mesh.yaml', MESH);
  const cases = [
    [controlPlaneCommand, ['--config', file, '--registry', etcd.registry], 'exactly one of --config and --registry is required'],
    [controlPlaneCommand, ['--registry', 'http://127.0.0.1:2379'], '--registry: "http://127.0.0.1:2379" is not etcd://HOST:PORT'],
    [controlPlaneCommand, ['--registry', etcd.registry, '--prefix', 'meshlet/'], '--prefix: "meshlet/" is not a key prefix'],
    [meshCommand, ['apply', '--registry', etcd.registry], 'apply: -f <file> is required'],
    [meshCommand, ['get'], 'get: --registry is required'],
    [meshCommand, ['delete'], 'unknown subcommand "delete"'],
    [registerCommand, ['--registry', etcd.registry, '--service', 'echo'], '--address, --port required'],
    [registerCommand, ['--registry', etcd.registry, '--service', 'Echo', '--address', 'x', '--port', '0'], '--service: expected a lowercase DNS-style name'],
    [registerCommand, ['--registry', etcd.registry, '--service', 'echo', '--address', '127.0.0.1', '--port', '80', '--ttl', '1.5s'], '--ttl: "1.5s" is not a whole number of seconds'],
  ] as const;
  for (const [command, args, message] of cases) {
    const r = await inProcess(command, args);
    t.equal(r.code, 2, `${command.name} ${args.join(' ')}: ${r.stderr.split('\n')[0]}`);
    t.match(r.stderr, message);
  }
  const weights = await inProcess(registerCommand, ['--registry', etcd.registry, '--service', 'echo', '--address', 'x', '--port', '0', '--weight', '0']);
  t.match(weights.stderr, '--address: expected an IP address');
  t.match(weights.stderr, '--port: expected an integer from 1 to 65535, got 0');
  t.match(weights.stderr, '--weight: expected an integer from 1 to 1000000, got 0');

  const unreachable = `etcd://127.0.0.1:${await freePort()}`;
  const [apply, start] = await Promise.all([
    meshlet('mesh', 'apply', '-f', file, '--registry', unreachable),
    meshlet('control-plane', '--registry', unreachable, '--port', String(await freePort())),
  ]);
  t.equal(apply.code, 1);
  t.match(apply.stderr, /meshlet mesh apply: etcd http:\/\/127\.0\.0\.1:\d+: .*UNAVAILABLE/);
  t.equal(start.code, 1);
  t.match(start.stderr, /cannot read the mesh from etcd:\/\/127\.0\.0\.1:\d+: .*UNAVAILABLE/);
});
