/**
 * The xDS connection authenticated with mutual TLS: `meshlet control-plane --tls-cert --tls-key
 * --client-ca` as a real process, `meshlet proxy` processes whose bootstrap ADS cluster has an
 * UpstreamTlsContext, and raw ADS clients with their own TLS credentials. A proxy is only served
 * (and issued a certificate) as the identity its client certificate proves; a stream without a
 * certificate of the client CA never gets past the handshake; a proxy refuses a control plane
 * whose certificate does not have the SAN it expects.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, renameSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { saveCertificateAuthority } from '../../../certs/certificate-authority';
import { parseBootstrap } from '../../../proxy/config/bootstrap';
import { ConfigError } from '../../../xds/config-error';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane-process';
import { TestMeshCa, type CertFiles } from '../../helpers/mesh-certs';
import { adsBootstrap } from '../../helpers/ads-test-server';
import { freePort, MESHLET_BIN, startProxy, writeTempFile, type ProxyProcess } from '../../helpers/proxy-process';
import { AdsTestStream, TYPE } from './fixtures/ads-test-client';
import { metricValue } from './fixtures/control-plane-harness';

const WAIT_MS = 10_000;
const CONTROL_PLANE_ID = (ca: TestMeshCa) => ca.spiffeId('meshlet-control-plane');

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function eventually(condition: () => boolean | Promise<boolean>, ms = WAIT_MS): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(50);
  }
  return condition();
}

/** A bootstrap like `meshlet proxy --mode`'s, its ADS cluster over mTLS with `cert`, verifying the control plane's SAN. */
function tlsBootstrap(opts: { adminPort: number; xdsPort: number; nodeCluster: string; cert: CertFiles; controlPlaneSan?: string }): string {
  const { adminPort, xdsPort, nodeCluster, cert, controlPlaneSan } = opts;
  return adsBootstrap({ adminPort, xdsPort, nodeId: `${nodeCluster}-1`, nodeCluster, tls: { cert, san: controlPlaneSan } });
}

/** A proxy process that is not expected to become LIVE: its JSON log lines, and a way to stop it. */
function spawnProxy(bootstrap: string) {
  const file = writeTempFile('bootstrap.yaml', bootstrap);
  const child = spawn(process.execPath, [MESHLET_BIN, 'proxy', '--config', file, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    stderr: () => err,
    logs: (): any[] => err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The status a raw TLS ADS stream ends with: it sends one CDS request as `cluster`, and waits for a response or its end. */
async function rawStream(address: string, credentials: grpc.ChannelCredentials, cluster: string): Promise<{ response?: any; status?: grpc.StatusObject }> {
  const stream = new AdsTestStream(address, 'StreamAggregatedResources', credentials);
  try {
    stream.send({ type_url: TYPE.CDS, node: { id: `${cluster}-raw`, cluster }, resource_names: [], version_info: '', response_nonce: '' });
    const status = stream.status(WAIT_MS);
    const response = await Promise.race([stream.next(WAIT_MS), status.then(() => undefined)]).catch(() => undefined);
    return response === undefined ? { status: await status } : { response };
  } finally {
    stream.close();
  }
}

/** TLS credentials of a raw client: trusting `rootPem`, with `cert` as its client certificate (or none); the server's name is not checked. */
function clientCredentials(rootPem: string, cert?: CertFiles): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    Buffer.from(rootPem),
    cert && readFileSync(cert.keyFile),
    cert && readFileSync(cert.chainFile),
    { checkServerIdentity: () => undefined },
  );
}

async function metrics(cp: ControlPlaneProcess): Promise<string> {
  return (await fetch(`${cp.adminUrl}/stats/prometheus`)).text();
}

function writeMesh(file: string, mesh: unknown): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(mesh, null, 2));
  renameSync(`${file}.tmp`, file);
}

t.test('ADS over mutual TLS', async (t) => {
  const meshCa = new TestMeshCa('mesh.test');
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-ads-mtls-'));
  saveCertificateAuthority(meshCa.ca, join(dir, 'ca'));
  const serverCert = meshCa.issue('meshlet-control-plane');
  const webCert = meshCa.issue('web');
  const ports = {
    ads: await freePort(),
    admin: await freePort(),
    webOutbound: await freePort(),
    apiOutbound: await freePort(),
    apiInbound: await freePort(),
    shopOutbound: await freePort(),
  };
  const mesh = (webServiceAccount = 'web') => ({
    mtls: { mode: 'STRICT', trust_domain: 'mesh.test', ca_dir: './ca' },
    services: {
      web: { service_account: webServiceAccount, sidecar: { outbound_port: ports.webOutbound } },
      api: { endpoints: [{ address: '127.0.0.1', port: ports.apiInbound }], sidecar: { outbound_port: ports.apiOutbound } },
      shop: { sidecar: { outbound_port: ports.shopOutbound } },
    },
  });
  const meshFile = join(dir, 'mesh.yaml');
  writeMesh(meshFile, mesh());
  const cp = await startControlPlane(
    ['--config', meshFile, '--port', String(ports.ads), '--tls-cert', serverCert.chainFile, '--tls-key', serverCert.keyFile, '--client-ca', serverCert.rootFile],
    ports.admin,
  );
  const address = `127.0.0.1:${ports.ads}`;
  const stops: (() => Promise<unknown>)[] = [];
  t.teardown(async () => {
    for (const stop of stops) await stop();
    await cp.stop();
  });
  t.match(cp.logs().find((l) => l.msg === 'control plane serving ADS'), { transport: 'mtls' }, 'the control plane says it serves ADS over mTLS');

  await t.test('(a) a proxy with the certificate of the service it claims gets its config and its certificate', async (t) => {
    const adminPort = await freePort();
    let proxy: ProxyProcess;
    try {
      proxy = await startProxy(tlsBootstrap({ adminPort, xdsPort: ports.ads, nodeCluster: 'web', cert: webCert, controlPlaneSan: CONTROL_PLANE_ID(meshCa) }), adminPort);
    } catch (err) {
      t.fail(`the proxy did not become LIVE: ${(err as Error).message}`, { controlPlane: cp.stderr().slice(-3000) });
      return;
    }
    stops.push(() => proxy.stop('SIGKILL'));
    const dump = (await (await fetch(`${proxy.adminUrl}/config_dump`)).json()) as any;
    const clusters = dump.configs.flatMap((c: any) => c.dynamic_active_clusters ?? []).map((c: any) => c.cluster.name);
    t.ok(clusters.includes('api'), `the proxy has the mesh’s clusters (CDS over the mTLS stream): ${clusters}`);
    const secretAcked = await eventually(async () => /meshlet_xds_last_ack_version\{type_url="[^"]*Secret"/.test(await (await fetch(`${proxy.adminUrl}/stats/prometheus`)).text()));
    t.ok(secretAcked, 'the proxy ACKed its SDS secrets');
    const nodes = ((await (await fetch(`${cp.adminUrl}/config_dump`)).json()) as any).nodes as any[];
    const web = nodes.find((n) => n.node_cluster === 'web');
    t.equal(web?.certificate?.spiffe_id, meshCa.spiffeId('web'), 'the certificate issued over SDS is the authenticated identity');
  });

  await t.test('meshlet proxy --mode sidecar with --xds-ca/--xds-cert/--xds-key/--xds-san connects over mTLS', async (t) => {
    const shopCert = meshCa.issue('shop');
    const adminPort = await freePort();
    const args = ['--mode', 'sidecar', '--service', 'shop', '--xds-address', address, '--admin-port', String(adminPort), '--health-port', '0'];
    const tlsArgs = ['--xds-ca', shopCert.rootFile, '--xds-cert', shopCert.chainFile, '--xds-key', shopCert.keyFile, '--xds-san', CONTROL_PLANE_ID(meshCa)];
    const child = spawn(process.execPath, [MESHLET_BIN, 'proxy', ...args, ...tlsArgs, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    stops.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    const live = await eventually(async () => {
      const text = await fetch(`http://127.0.0.1:${adminPort}/ready`).then((r) => r.text(), () => '');
      return text.startsWith('LIVE');
    });
    t.ok(live, 'the sidecar becomes LIVE', { stderr: stderr.slice(-2000) });
    const nodes = ((await (await fetch(`${cp.adminUrl}/config_dump`)).json()) as any).nodes as any[];
    t.ok(await eventually(async () => {
      const n = ((await (await fetch(`${cp.adminUrl}/config_dump`)).json()) as any).nodes as any[];
      return n.some((node) => node.node_cluster === 'shop' && node.certificate?.spiffe_id === meshCa.spiffeId('shop'));
    }), 'and is issued the shop identity', { nodes });
  });

  await t.test('(b) the same certificate claiming another service is refused with PERMISSION_DENIED, logged and counted', async (t) => {
    const before = metricValue(await metrics(cp), 'meshlet_control_plane_rejected_streams_total{reason="identity_mismatch"}') ?? 0;
    const adminPort = await freePort();
    const proxy = spawnProxy(tlsBootstrap({ adminPort, xdsPort: ports.ads, nodeCluster: 'api', cert: webCert, controlPlaneSan: CONTROL_PLANE_ID(meshCa) }));
    stops.push(proxy.stop);
    const ended = await eventually(() => proxy.logs().some((l) => l.msg === 'ADS stream ended; reconnecting' && l.code === grpc.status.PERMISSION_DENIED));
    t.ok(ended, 'the proxy’s stream ends with PERMISSION_DENIED', { stderr: proxy.stderr().slice(-2000) });
    const refusal = cp.logs().find((l) => String(l.msg).startsWith('ADS stream refused') && l.node_cluster === 'api');
    t.match(refusal, { reason: 'identity_mismatch', presented_spiffe_ids: [meshCa.spiffeId('web')], expected_spiffe_id: meshCa.spiffeId('api') }, 'logged: the claimed cluster and the presented ID');
    t.match(refusal?.msg, `node.cluster "api"`);
    t.match(refusal?.msg, meshCa.spiffeId('web'));
    const after = metricValue(await metrics(cp), 'meshlet_control_plane_rejected_streams_total{reason="identity_mismatch"}') ?? 0;
    t.ok(after > before, `counted (${before} → ${after})`);
    t.notOk(proxy.logs().some((l) => l.msg === 'xDS update accepted'), 'the proxy got nothing');
    const nodes = ((await (await fetch(`${cp.adminUrl}/config_dump`)).json()) as any).nodes as any[];
    t.notOk(nodes.some((n) => n.node_cluster === 'api'), 'no stream for api is held, and no certificate was issued for it');
    // The raw view: the exact status a client sees.
    const raw = await rawStream(address, clientCredentials(webCert.rootCertPem, webCert), 'api');
    t.equal(raw.status?.code, grpc.status.PERMISSION_DENIED);
    t.match(raw.status?.details, `node.cluster "api" is served to ${meshCa.spiffeId('api')} only`);
    // It would keep retrying (and being refused, and counted).
    await proxy.stop();
  });

  await t.test('a node of no role (a proxyless client) is served with any certificate of the client CA', async (t) => {
    const raw = await rawStream(address, clientCredentials(webCert.rootCertPem, webCert), 'some-tool');
    t.equal(raw.response?.type_url, TYPE.CDS, 'it gets the mesh’s clusters');
  });

  await t.test('(c) without a client certificate, or with one of another CA, the TLS handshake fails', async (t) => {
    const before = await metrics(cp);
    const none = await rawStream(address, clientCredentials(webCert.rootCertPem), 'web');
    t.equal(none.status?.code, grpc.status.UNAVAILABLE, `no client certificate: ${none.status?.details}`);
    const foreign = new TestMeshCa('mesh.test').issue('web');
    const other = await rawStream(address, clientCredentials(webCert.rootCertPem, foreign), 'web');
    t.equal(other.status?.code, grpc.status.UNAVAILABLE, `another CA’s certificate for the same SPIFFE ID: ${other.status?.details}`);
    const plain = await rawStream(address, grpc.credentials.createInsecure(), 'web');
    t.equal(plain.status?.code, grpc.status.UNAVAILABLE, `plaintext: ${plain.status?.details}`);
    const after = await metrics(cp);
    const rejected = (text: string) => text.split('\n').filter((l) => l.startsWith('meshlet_control_plane_rejected_streams_total{')).join('\n');
    t.equal(rejected(after), rejected(before), 'no stream was ever opened to refuse');

    // And a proxy with a foreign certificate never gets a stream.
    const adminPort = await freePort();
    const proxy = spawnProxy(tlsBootstrap({ adminPort, xdsPort: ports.ads, nodeCluster: 'web', cert: { ...foreign, rootFile: webCert.rootFile }, controlPlaneSan: CONTROL_PLANE_ID(meshCa) }));
    stops.push(proxy.stop);
    const ended = await eventually(() => proxy.logs().some((l) => l.msg === 'ADS stream ended; reconnecting' && l.code === grpc.status.UNAVAILABLE));
    t.ok(ended, 'the proxy’s stream fails (UNAVAILABLE)', { stderr: proxy.stderr().slice(-2000) });
    t.notOk(proxy.logs().some((l) => l.msg === 'xDS update accepted'), 'the proxy got nothing');
    await proxy.stop();
  });

  await t.test('(d) a proxy verifying the control plane’s SAN refuses one presenting another identity', async (t) => {
    const before = metricValue(await metrics(cp), 'meshlet_control_plane_connected_proxies{protocol="sotw"}') ?? 0;
    const adminPort = await freePort();
    const expected = meshCa.spiffeId('the-real-control-plane');
    const proxy = spawnProxy(tlsBootstrap({ adminPort, xdsPort: ports.ads, nodeCluster: 'web', cert: webCert, controlPlaneSan: expected }));
    stops.push(proxy.stop);
    const refused = await eventually(() => proxy.logs().some((l) => String(l.msg).startsWith('control plane TLS peer refused') && l.reason === 'san_mismatch'));
    t.ok(refused, 'the proxy logs the SAN mismatch', { stderr: proxy.stderr().slice(-2000) });
    const line = proxy.logs().find((l) => String(l.msg).startsWith('control plane TLS peer refused'));
    t.same(line?.peerSans, [CONTROL_PLANE_ID(meshCa)], 'naming the identity presented');
    t.ok(await eventually(() => proxy.logs().some((l) => l.msg === 'ADS stream ended; reconnecting' && l.code === grpc.status.UNAVAILABLE)), 'its stream never comes up');
    t.notOk(proxy.logs().some((l) => l.msg === 'xDS update accepted'), 'the proxy took nothing from it');
    t.equal(metricValue(await metrics(cp), 'meshlet_control_plane_connected_proxies{protocol="sotw"}') ?? 0, before, 'the control plane saw no new stream');
  });

  await t.test('a mesh change that moves the claimed service to another identity ends the stream', async (t) => {
    const adminPort = await freePort();
    let proxy: ProxyProcess;
    try {
      proxy = await startProxy(tlsBootstrap({ adminPort, xdsPort: ports.ads, nodeCluster: 'web', cert: webCert, controlPlaneSan: CONTROL_PLANE_ID(meshCa) }), adminPort, ['--log-level', 'info']);
    } catch (err) {
      t.fail(`the proxy did not become LIVE: ${(err as Error).message}`);
      return;
    }
    stops.push(() => proxy.stop('SIGKILL'));
    writeMesh(meshFile, mesh('web-v2'));
    const ended = await eventually(() => proxy.stderr().includes('"code":7'));
    t.ok(ended, 'the stream ends with PERMISSION_DENIED once web is served to another identity', { stderr: proxy.stderr().slice(-2000) });
    t.ok(
      cp.logs().some((l) => String(l.msg).startsWith('ADS stream refused') && l.node_cluster === 'web' && l.expected_spiffe_id === meshCa.spiffeId('web-v2')),
      'the control plane logs why',
    );
  });
});

t.test('the ADS cluster’s TLS is checked when the bootstrap is parsed', async (t) => {
  const meshCa = new TestMeshCa('mesh.test');
  const cert = meshCa.issue('web');
  const issuesOf = (bootstrap: string): string[] => {
    try {
      parseBootstrap(parseYaml(bootstrap));
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.issues.map((i) => `${i.path}: ${i.message}`);
    }
  };
  const base = tlsBootstrap({ adminPort: 9901, xdsPort: 18000, nodeCluster: 'web', cert, controlPlaneSan: CONTROL_PLANE_ID(meshCa) });
  t.same(issuesOf(base), [], 'certificate files, trusted_ca and a SAN matcher are accepted');
  t.ok(parseBootstrap(parseYaml(base)).adsTls?.certificate, 'and resolved for the ADS channel');

  const sds = base.replace(/common_tls_context: .*/, 'common_tls_context: {tls_certificate_sds_secret_configs: [{name: default, sds_config: {ads: {}, resource_api_version: V3}}], validation_context: {trusted_ca: {filename: ' + cert.rootFile + '}}}');
  t.match(issuesOf(sds), [/^static_resources\.clusters\[0\]\.transport_socket\.typed_config\.common_tls_context\.tls_certificate_sds_secret_configs\[0\]\.sds_config: .*cannot come over SDS/]);

  const noCa = base.replace(/common_tls_context: .*/, `common_tls_context: {tls_certificates: [{certificate_chain: {filename: ${cert.chainFile}}, private_key: {filename: ${cert.keyFile}}}]}`);
  t.match(issuesOf(noCa), [/transport_socket\.typed_config\.common_tls_context: .*needs validation_context\.trusted_ca/]);

  const alpn = base.replace(/common_tls_context: \{/, 'common_tls_context: {alpn_protocols: [http/1.1], ');
  t.match(issuesOf(alpn), [/common_tls_context\.alpn_protocols: gRPC .* h2 only/]);

  const unknown = base.replace(/common_tls_context: \{/, 'common_tls_context: {tls_certificate_provider_instance: {instance_name: x}, ');
  t.match(issuesOf(unknown), [/common_tls_context\.tls_certificate_provider_instance/], 'unsupported fields are rejected by path');

  const plain = base.replace(/ {4}transport_socket:[\s\S]*?(?= {4}load_assignment)/, '');
  t.equal(parseBootstrap(parseYaml(plain)).adsTls, undefined, 'no transport_socket: plaintext');
});

t.test('control-plane TLS flags are checked', async (t) => {
  const run = (...args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [MESHLET_BIN, 'control-plane', '--config', '/nonexistent.yaml', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
  t.match(await run('--tls-cert', '/x.pem'), { code: 2, stderr: /--tls-cert and --tls-key go together/ });
  t.match(await run('--client-ca', '/ca.pem'), { code: 2, stderr: /--client-ca needs --tls-cert/ });
  const cert = new TestMeshCa('mesh.test').issue('cp');
  const other = new TestMeshCa('mesh.test').issue('cp');
  t.match(await run('--tls-cert', cert.chainFile, '--tls-key', other.keyFile), { code: 1, stderr: /--tls-key .*: not the key of the certificate/ });
  t.match(await run('--tls-cert', cert.chainFile, '--tls-key', cert.keyFile, '--client-ca', '/nonexistent-ca.pem'), { code: 1, stderr: /cannot read \/nonexistent-ca\.pem: ENOENT/ });
});

t.test('--mode: --xds-* flags put the TLS transport socket on the ADS cluster', async (t) => {
  const { resolveModeOptions } = await import('../../../cli/modes/mode-options');
  const { modeBootstrap } = await import('../../../cli/modes/mode-bootstrap');
  const base = { service: 'web', 'xds-address': '127.0.0.1:18000' };
  t.match(resolveModeOptions('sidecar', { ...base, 'xds-cert': '/c.pem', 'xds-key': '/k.pem' }, {}, 'h'), { error: /--xds-ca is required/ });
  t.match(resolveModeOptions('sidecar', { ...base, 'xds-ca': '/ca.pem', 'xds-cert': '/c.pem' }, {}, 'h'), { error: '--xds-cert and --xds-key go together' });
  const plain = resolveModeOptions('sidecar', base, {}, 'h');
  t.notOk('error' in plain && plain.error);
  if ('error' in plain) return;
  t.equal(parseBootstrap(modeBootstrap(plain)).adsTls, undefined, 'without them: plaintext, as before');

  const cert = new TestMeshCa('mesh.test').issue('web');
  const env = { MESHLET_XDS_CA: cert.rootFile, MESHLET_XDS_CERT: cert.chainFile, MESHLET_XDS_KEY: cert.keyFile, MESHLET_XDS_SAN: 'spiffe://mesh.test/ns/x/sa/cp' };
  const options = resolveModeOptions('sidecar', base, env, 'h');
  if ('error' in options) return t.fail(options.error);
  const parsed = parseBootstrap(modeBootstrap(options)).adsTls;
  t.equal(parsed?.certificate?.certChainPem, cert.certChainPem, 'the certificate (from the environment) is the ADS channel’s');
  t.equal(parsed?.trustedCaPem, cert.rootCertPem);
  t.equal(parsed?.sanMatchers.length, 1);
  t.ok(parsed?.sanMatchers[0]!.matcher.matches('spiffe://mesh.test/ns/x/sa/cp'));
});
