import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createCertificateAuthority, saveCertificateAuthority } from '../../../certs/certificate-authority';
import { freePort, writeTempFile } from '../../helpers/proxy-process';

const RUN = join(__dirname, 'fixtures', 'run-control-plane.js');
const EXAMPLE = join(__dirname, '..', '..', '..', '..', 'examples', 'mesh.yaml');

function controlPlane(...args: string[]) {
  const r = spawnSync(process.execPath, [RUN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('--help describes the command and its flags', async (t) => {
  const r = controlPlane('--help');
  t.equal(r.code, 0);
  for (const flag of ['--config', '--port', '--admin-port', '--address', '--validate', '--log-level']) t.match(r.stdout, flag);
});

t.test('--validate accepts the example mesh', async (t) => {
  const r = controlPlane('--config', EXAMPLE, '--validate');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${EXAMPLE}: valid (1 services, 1 gateways, 3 node roles)\n`);
});

t.test('--validate prints every problem with its path and exits 1, without a stack trace', async (t) => {
  const file = writeTempFile('mesh.yaml', 'services:\n  web:\n    lb_policy: FASTEST\n    endpoints:\n      - {address: web.local, port: 80}\n');
  const r = controlPlane('--config', file, '--validate');
  t.equal(r.code, 1);
  t.match(r.stderr, `meshlet: ${file}: 2 problems`);
  t.match(r.stderr, 'services.web.lb_policy: expected one of ROUND_ROBIN');
  t.match(r.stderr, 'services.web.endpoints[0].address: expected an IP address');
  t.notMatch(r.stderr, /\n\s+at /);
  t.match(controlPlane('--config', '/nonexistent/mesh.yaml', '--validate').stderr, 'cannot read /nonexistent/mesh.yaml: ENOENT');
});

t.test('--validate loads mtls.ca_dir (relative to the mesh file) and names what is wrong with it', async (t) => {
  const file = writeTempFile('mesh.yaml', 'mtls: {mode: STRICT, ca_dir: ./ca}\nservices: {web: {}}\n');
  const missing = controlPlane('--config', file, '--validate');
  t.equal(missing.code, 1);
  t.match(missing.stderr, `mtls.ca_dir: cannot load the CA: ${join(dirname(file), 'ca')}: no such directory`);

  saveCertificateAuthority(createCertificateAuthority({ trustDomain: 'example.org' }), join(dirname(file), 'ca'));
  const otherDomain = controlPlane('--config', file, '--validate');
  t.equal(otherDomain.code, 1);
  t.match(otherDomain.stderr, 'mtls.trust_domain: is "cluster.local", but the CA in');
  t.match(otherDomain.stderr, 'signs for "example.org" (set trust_domain: example.org)');

  writeFileSync(file, 'mtls: {mode: STRICT, trust_domain: example.org, ca_dir: ./ca}\nservices: {web: {}}\n');
  const valid = controlPlane('--config', file, '--validate');
  t.equal(valid.code, 0, valid.stderr);
  t.match(valid.stdout, 'valid (1 services, 0 gateways, 2 node roles)');
});

t.test('bad arguments exit 2 with the usage', async (t) => {
  t.equal(controlPlane().code, 2);
  t.equal(controlPlane('--config', EXAMPLE, '--port', 'x').code, 2);
  const r = controlPlane('--config', EXAMPLE, '--bogus');
  t.equal(r.code, 2);
  t.match(r.stderr, 'Usage: meshlet control-plane');
});

t.test('an invalid mesh file does not start', async (t) => {
  const file = writeTempFile('mesh.yaml', 'services: {web: {port: 0}}\n');
  const r = controlPlane('--config', file, '--port', String(await freePort()));
  t.equal(r.code, 1);
  t.match(r.stderr, 'services.web.port');
});

t.test('serves until SIGTERM: /ready once the first snapshot is built, exit 0 on SIGTERM', async (t) => {
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [RUN, '--config', EXAMPLE, '--port', String(port), '--admin-port', String(adminPort), '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 15_000;
  let ready: Response | undefined;
  while (Date.now() < deadline && child.exitCode === null) {
    ready = await fetch(`http://127.0.0.1:${adminPort}/ready`).catch(() => undefined);
    if (ready?.status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(ready?.status, 200, stderr);
  t.equal(await ready?.text(), 'LIVE\n');
  const started = stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg === 'control plane serving ADS');
  t.match(started, { port, admin_port: adminPort, services: 1, gateways: 1, roles: 3 });
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});
