/**
 * The registry over TLS, with client certificates and etcd auth, as a production etcd runs:
 * a real etcd with --client-cert-auth and auth enabled (a user whose role may read and write
 * only the mesh's prefix). `meshlet mesh apply`, `meshlet register` and `meshlet control-plane`
 * get in with --etcd-cacert/--etcd-cert/--etcd-key/--etcd-user (password from the
 * environment); without them, or with the wrong password, they are refused with etcd's reason.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startEtcdProcesses, type EtcdProcesses } from '../../../bench/etcd-process';
import { createCertificateAuthority } from '../../../certs/certificate-authority';
import { issueWorkloadCertificate } from '../../../certs/workload-certificate';
import { generateRsaKeyPair, signCertificate, validityWindow } from '../../../certs/x509-signing';
import { ETCD_PASSWORD_ENV } from '../../../cli/registry-options';
import { startControlPlane } from '../../helpers/control-plane-process';
import { MESHLET_BIN, freePort, writeTempFile } from '../../helpers/proxy-process';
import { startRegister } from '../../helpers/register-process';

const HOUR_MS = 3_600_000;
const PASSWORD = 'mesh-secret';
const MESH = `# applied by etcd-tls.test
services:
  echo:
    endpoints: [{address: 127.0.0.1, port: 9001}]
`;

/** A CA, etcd's server certificate for 127.0.0.1 and a client certificate, as files. */
function certificates() {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-etcd-tls-'));
  const ca = createCertificateAuthority({ trustDomain: 'mesh.test' });
  const key = generateRsaKeyPair();
  const serverPem = signCertificate({
    subject: [{ shortName: 'CN', value: 'etcd' }],
    key,
    validity: validityWindow(HOUR_MS),
    extensions: [
      { name: 'basicConstraints', critical: true, cA: false },
      { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
    issuer: { certPem: ca.signingCertPem, keyPem: ca.signingKeyPem },
  });
  const client = issueWorkloadCertificate(ca, { spiffeId: 'spiffe://mesh.test/ns/meshlet/sa/control-plane', ttlMs: HOUR_MS });
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  return {
    caFile: file('ca.pem', ca.rootCertPem),
    server: { certFile: file('server.pem', `${serverPem.trim()}\n${ca.signingCertPem}`), keyFile: file('server-key.pem', key.privateKeyPem) },
    client: { certFile: file('client.pem', client.certChainPem), keyFile: file('client-key.pem', client.keyPem) },
    pems: { ca: ca.rootCertPem, cert: client.certChainPem, key: client.keyPem },
  };
}

function meshlet(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000, env }, (_err, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

const certs = certificates();
let etcd: EtcdProcesses;
let url: string;

t.before(async () => {
  etcd = await startEtcdProcesses({ label: 'meshlet-tls-test', tls: { ...certs.server, caFile: certs.caFile } });
  url = etcd.members[0]!.clientUrl;
  // Set up as an operator would: root, then a user whose role reaches only the mesh's prefix.
  const admin = new Etcd3({
    hosts: [url],
    credentials: { rootCertificate: Buffer.from(certs.pems.ca), certChain: Buffer.from(certs.pems.cert), privateKey: Buffer.from(certs.pems.key) },
  });
  try {
    await admin.user('root').create('root-secret');
    await admin.role('root').create().catch(() => undefined);
    await admin.user('root').addRole('root');
    await admin.role('mesh').create();
    await admin.role('mesh').grant({ permission: 'Readwrite', range: admin.range({ prefix: '/meshlet/' }) });
    await admin.user('meshlet').create(PASSWORD);
    await admin.user('meshlet').addRole('mesh');
    await admin.auth.authEnable({});
  } finally {
    admin.close();
  }
});
t.teardown(() => etcd?.stop());

const registry = () => ['--registry', etcd.registry];
const tls = () => ['--etcd-cacert', certs.caFile, '--etcd-cert', certs.client.certFile, '--etcd-key', certs.client.keyFile];
const withPassword = { ...process.env, [ETCD_PASSWORD_ENV]: PASSWORD };

t.test('without TLS, without a client certificate, or with the wrong password: refused with the reason, nothing stored', async (t) => {
  const file = writeTempFile('mesh.yaml', MESH);
  const plaintext = await meshlet(['mesh', 'apply', '-f', file, ...registry(), '--etcd-user', 'meshlet'], withPassword);
  t.equal(plaintext.code, 1, plaintext.stderr);
  t.match(plaintext.stderr, `etcd http://${etcd.members[0]!.clientAddress}`);
  const noCert = await meshlet(['mesh', 'apply', '-f', file, ...registry(), '--etcd-cacert', certs.caFile, '--etcd-user', 'meshlet'], withPassword);
  t.equal(noCert.code, 1, noCert.stderr);
  t.match(noCert.stderr, `etcd https://${etcd.members[0]!.clientAddress}`);
  const wrong = await meshlet(['mesh', 'apply', '-f', file, ...registry(), ...tls(), '--etcd-user', 'meshlet'], { ...process.env, [ETCD_PASSWORD_ENV]: 'nope' });
  t.equal(wrong.code, 1, wrong.stderr);
  t.match(wrong.stderr, /authentication failed|invalid auth/i);
  const noPassword = await meshlet(['mesh', 'get', ...registry(), ...tls(), '--etcd-user', 'meshlet'], { ...process.env, [ETCD_PASSWORD_ENV]: '' });
  t.equal(noPassword.code, 2);
  t.match(noPassword.stderr, `--etcd-user needs its password in ${ETCD_PASSWORD_ENV}`);
  const halfPair = await meshlet(['mesh', 'get', ...registry(), '--etcd-cacert', certs.caFile, '--etcd-cert', certs.client.certFile], withPassword);
  t.equal(halfPair.code, 2);
  t.match(halfPair.stderr, '--etcd-cert and --etcd-key go together');
  const missing = await meshlet(['mesh', 'get', ...registry(), '--etcd-cacert', '/nonexistent/ca.pem'], withPassword);
  t.equal(missing.code, 2);
  t.match(missing.stderr, '--etcd-cacert: cannot read /nonexistent/ca.pem: ENOENT');
});

t.test('with TLS, a client certificate and a user: mesh apply, a control plane and register all get in', async (t) => {
  const access = [...registry(), ...tls(), '--etcd-user', 'meshlet'];
  const applied = await meshlet(['mesh', 'apply', '-f', writeTempFile('mesh.yaml', MESH), ...access], withPassword);
  t.equal(applied.code, 0, applied.stderr);
  const got = await meshlet(['mesh', 'get', ...access], withPassword);
  t.equal(got.stdout, MESH, 'read back as written');

  // The children inherit the password from this process's environment.
  process.env[ETCD_PASSWORD_ENV] = PASSWORD;
  t.teardown(() => void delete process.env[ETCD_PASSWORD_ENV]);
  const plane = await startControlPlane([...access, '--port', String(await freePort())], await freePort());
  t.teardown(() => plane.stop());
  const registration = await startRegister([...access, '--service', 'echo', '--address', '127.0.0.2', '--port', '9002', '--ttl', '5s']);
  t.teardown(() => registration.stop('SIGKILL'));

  const endpoints = async () => {
    const dump = (await (await fetch(`${plane.adminUrl}/config_dump`)).json()) as any;
    const assignment = dump.snapshots.client.EDS.find((r: any) => r.name === 'echo')?.resource;
    return (assignment?.endpoints ?? []).flatMap((l: any) => l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.port_value));
  };
  const deadline = Date.now() + 10_000;
  let ports: number[] = [];
  while (Date.now() < deadline && !(ports = await endpoints()).includes(9002)) await new Promise((r) => setTimeout(r, 100));
  t.same(ports.sort(), [9001, 9002], 'the registered endpoint reached the control plane over TLS with auth');
  t.notOk(plane.logs().some((l) => l.level >= 50), 'the control plane logged no error');
  t.equal(await registration.stop('SIGTERM'), 0, 'register deregisters and exits cleanly');
});
