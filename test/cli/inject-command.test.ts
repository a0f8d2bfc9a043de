import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MESHLET_BIN, writeTempFile } from '../helpers/proxy-process';

function meshlet(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000, input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const POD = 'kind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec: {containers: [{name: web, image: web:1}]}\n';

t.test('-f - reads stdin and writes stdout; --image and --xds-address reach the containers', async (t) => {
  const r = meshlet(['inject', '-f', '-', '--image', 'my/meshlet:dev', '--xds-address', 'cp.mesh:18000'], POD);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, '  - name: meshlet-proxy\n    image: my/meshlet:dev\n');
  t.match(r.stdout, '      value: cp.mesh:18000\n');
  t.match(r.stdout, '  - name: meshlet-init\n    image: my/meshlet:dev\n');
  t.equal(r.stderr, '');
});

t.test('--register reaches the sidecar; a bad URL is a usage error; a pod with nothing to register gets its note', async (t) => {
  const app = 'kind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec: {containers: [{name: web, image: web:1, ports: [{containerPort: 8080}]}]}\n';
  const r = meshlet(['inject', '-f', '-', '--register', 'etcd://etcd-0.etcd:2379,etcd-1.etcd:2379'], app);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, '    - name: MESHLET_REGISTER\n      value: etcd://etcd-0.etcd:2379,etcd-1.etcd:2379\n');
  t.match(r.stdout, '    - name: MESHLET_REGISTER_PORT\n      value: "8080"\n');
  t.equal(r.stderr, '');
  const noPort = meshlet(['inject', '-f', '-', '--register', 'etcd://etcd:2379'], POD);
  t.equal(noPort.code, 0);
  t.notMatch(noPort.stdout, 'MESHLET_REGISTER');
  t.match(noPort.stderr, 'meshlet inject: Pod/web: not registered: the app container "web" lists no TCP containerPort');
  for (const [url, message] of [
    ['http://etcd:2379', '--register: "http://etcd:2379" is not etcd://HOST:PORT[,HOST:PORT...]'],
    ['etcd://etcd', '--register: "etcd" is not HOST:PORT'],
  ]) {
    const bad = meshlet(['inject', '-f', '-', '--register', url!], app);
    t.equal(bad.code, 2, url);
    t.equal(bad.stdout, '');
    t.match(bad.stderr, `meshlet inject: ${message}`);
  }
});

t.test('-o writes the file; a Job gets its note on stderr', async (t) => {
  const input = writeTempFile('job.yaml', 'kind: Job\nmetadata: {name: once}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: a, image: a}]}}}\n');
  const output = join(dirname(input), 'job.injected.yaml');
  const r = meshlet(['inject', '-f', input, '-o', output]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '');
  t.match(readFileSync(output, 'utf8'), 'meshlet.io/injected: "true"');
  t.match(r.stderr, "meshlet inject: Job/once: its pod runs to completion: when done, the app must stop the sidecar with 'curl -XPOST http://127.0.0.1:15000/quitquitquit'");
});

t.test('invalid YAML: a clear error, exit 1, nothing written', async (t) => {
  const input = writeTempFile('broken.yaml', `${POD}---\nkind: Service\nmetadata:\n  name: [unclosed\n`);
  const r = meshlet(['inject', '-f', input]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, new RegExp(`^meshlet inject: ${input}: document 2 is not valid YAML: .*line \\d+, column \\d+`));
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('missing input and usage errors', async (t) => {
  const missing = meshlet(['inject', '-f', '/nonexistent/app.yaml']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, 'meshlet inject: cannot read /nonexistent/app.yaml: ENOENT');
  const noFile = meshlet(['inject']);
  t.equal(noFile.code, 2);
  t.match(noFile.stderr, '-f <file> is required (- for stdin)');
  const badXds = meshlet(['inject', '-f', '-', '--xds-address', 'cp'], POD);
  t.equal(badXds.code, 2);
  t.match(badXds.stderr, '--xds-address: "cp" is not HOST:PORT');
  const help = meshlet(['inject', '--help']);
  t.equal(help.code, 0);
  for (const text of ['--filename', '--output', '--image', '--xds-address', 'quitquitquit', 'meshlet.io/inject', 'meshlet.io/exclude-outbound-ports', '--register', 'meshlet.io/register-port', 'meshlet.io/register: "false"']) t.match(help.stdout, text);
});
