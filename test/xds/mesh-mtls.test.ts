/**
 * The mTLS mesh end to end, driven by the real control plane: a STRICT mesh with a 2 s cert_ttl,
 * an echo app behind the `backend` sidecar, and the `frontend` and `intruder` sidecars as
 * clients, all `meshlet proxy` processes taking their listeners, clusters and certificates (SDS)
 * over ADS. The frontend reaches the app over mTLS with its identity forwarded, plaintext and
 * callers the backend does not authorize are refused, and a steady load crosses several
 * certificate rotations without a failed request.
 */
import { X509Certificate } from 'node:crypto';
import type { Server } from 'node:http';
import { connect } from 'node:tls';
import t from 'tap';
import { request } from 'undici';
import { startEchoServer } from '../../cli/echo-server';
import { adsBootstrap, httpGet } from '../helpers/ads-test-server';
import { freePort, startProxy, type ProxyProcess } from '../helpers/proxy-process';
import { startHarness } from './control-plane/fixtures/control-plane-harness';

const SPIFFE = (sa: string) => `spiffe://mesh.test/ns/default/sa/${sa}`;
const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
const LOAD_CLIENTS = 4;
const LOAD_MS = 5000;
const LOAD_MAX_REQUESTS = 20_000;
const SAMPLE_EVERY_MS = 200;
const WAIT_MS = 5000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A request to a sidecar's outbound listener for `service`, as the local app sends it. */
async function viaSidecar(outboundPort: number, service: string, path = '/'): Promise<{ status: number; text: string }> {
  const res = await request(`http://127.0.0.1:${outboundPort}${path}`, { headers: { host: service }, headersTimeout: WAIT_MS, bodyTimeout: WAIT_MS });
  return { status: res.statusCode, text: await res.body.text() };
}

/**
 * The certificate a TLS server presents, read on the client side once the handshake is done.
 * No client certificate is offered, so a STRICT listener refuses the connection right after (and
 * counts it as no_cert): this resolves once it has, and fails if it does not within WAIT_MS.
 */
function presentedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    // Its SAN is a SPIFFE ID, not 127.0.0.1: the test checks it itself.
    const socket = connect({ host: '127.0.0.1', port, servername: 'backend', rejectUnauthorized: false });
    let certificate: X509Certificate | undefined;
    let failure: Error | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, WAIT_MS);
    socket.once('secureConnect', () => (certificate = socket.getPeerX509Certificate()));
    // The refusal may come as a reset: only an error before the handshake matters.
    socket.on('error', (err) => (failure ??= err));
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`port ${port} kept a connection without a client certificate open for ${WAIT_MS} ms`));
      else if (certificate === undefined) reject(failure ?? new Error(`port ${port} presented no certificate`));
      else resolve(certificate);
    });
  });
}

/** The Secret version the proxy last ACKed, from meshlet_xds_last_ack_version (undefined before any). */
async function secretAckVersion(adminUrl: string): Promise<string | undefined> {
  const metrics = (await httpGet(`${adminUrl}/stats/prometheus`)).text;
  const sample = new RegExp(`^meshlet_xds_last_ack_version\\{type_url="${SECRET_TYPE.replace(/\./g, '\\.')}",version="([^"]*)"\\}`, 'm');
  return sample.exec(metrics)?.[1];
}

/** The non-comment /stats/prometheus lines of `family`. */
async function samples(adminUrl: string, family: string): Promise<string[]> {
  return (await httpGet(`${adminUrl}/stats/prometheus`)).text.split('\n').filter((l) => l.startsWith(`${family}{`) || l.startsWith(`${family} `));
}

t.test('a STRICT mTLS mesh from the control plane: identity, refusal, and rotation under load', async (t) => {
  const ports = {
    app: await freePort(),
    backendInbound: await freePort(),
    backendOutbound: await freePort(),
    frontendOutbound: await freePort(),
    intruderOutbound: await freePort(),
  };
  const app: Server = await startEchoServer('backend-app', ports.app);
  t.teardown(() => {
    app.close();
    app.closeAllConnections();
  });

  const cp = await startHarness({
    mtls: { mode: 'STRICT', trust_domain: 'mesh.test', cert_ttl: '2s' },
    services: {
      backend: {
        endpoints: [{ address: '127.0.0.1', port: ports.backendInbound }],
        sidecar: { inbound_port: ports.backendInbound, app_port: ports.app, outbound_port: ports.backendOutbound },
        authorization: { allow_from: ['frontend'] },
      },
      frontend: { sidecar: { outbound_port: ports.frontendOutbound } },
      // A sidecar of the mesh, with a certificate from its CA, but not one backend allows.
      intruder: { sidecar: { outbound_port: ports.intruderOutbound } },
    },
  });
  const proxies: Record<string, ProxyProcess> = {};
  t.teardown(async () => {
    for (const proxy of Object.values(proxies)) await proxy.stop('SIGKILL');
    await cp.stop();
  });
  // Settled, not all: a proxy still starting when another fails must be in `proxies` for the teardown.
  const started = await Promise.allSettled(
    ['backend', 'frontend', 'intruder'].map(async (service) => {
      const adminPort = await freePort();
      const bootstrap = adsBootstrap({ adminPort, xdsPort: cp.plane.port, nodeId: `${service}-1`, nodeCluster: service });
      // info: stderr then records every xDS update and secret rotation, for the diagnostics.
      proxies[service] = await startProxy(bootstrap, adminPort, ['--log-level', 'info']);
    }),
  );
  for (const result of started) if (result.status === 'rejected') throw result.reason;
  const { backend, frontend } = proxies as Record<'backend' | 'frontend', ProxyProcess>;
  const diagnostics = () => ({
    backendStderr: backend.stderr().slice(-3000),
    frontendStderr: frontend.stderr().slice(-3000),
    controlPlaneProblems: cp.logs.filter((l) => l.level >= 40).slice(-20),
  });

  // 1. The app is reached over mTLS, and learns who called.
  const first = await viaSidecar(ports.frontendOutbound, 'backend', '/hello');
  t.equal(first.status, 200, `frontend → backend: ${first.text}`, diagnostics());
  const seen = first.status === 200 ? JSON.parse(first.text) : { headers: {} };
  t.equal(seen.server, 'backend-app');
  t.match(seen.headers['x-forwarded-client-cert'], `URI=${SPIFFE('frontend')}`, 'the app sees the caller’s SPIFFE ID');

  // 2. STRICT: plaintext gets no HTTP answer; a mesh identity backend does not allow gets 403.
  const plain = await request(`http://127.0.0.1:${ports.backendInbound}/`, { headersTimeout: WAIT_MS, bodyTimeout: WAIT_MS }).then(
    async (res) => `HTTP ${res.statusCode} ${await res.body.text()}`,
    (err: Error) => `no answer (${err.message})`,
  );
  t.match(plain, /^no answer/, `plaintext to backend's inbound port: ${plain}`);
  const denied = await viaSidecar(ports.intruderOutbound, 'backend');
  t.equal(denied.status, 403, `intruder → backend: ${denied.text}`, diagnostics());

  // 3. Rotation under a steady load: 2 s certificates are renewed about every second.
  const certificateBefore = await presentedCertificate(ports.backendInbound);
  const secretVersions = { backend: new Set<string>(), frontend: new Set<string>() };
  const notReady: string[] = [];
  const deadline = Date.now() + LOAD_MS;
  let sent = 0;
  const failures: string[] = [];
  const load = Promise.all(
    Array.from({ length: LOAD_CLIENTS }, async () => {
      while (Date.now() < deadline && sent < LOAD_MAX_REQUESTS) {
        sent++;
        const at = new Date().toISOString();
        const res = await viaSidecar(ports.frontendOutbound, 'backend').catch((err: Error) => ({ status: 0, text: err.message }));
        if (res.status !== 200) failures.push(`${at}: ${res.status} ${res.text.slice(0, 200)}`);
      }
    }),
  );
  const watch = (async () => {
    while (Date.now() < deadline) {
      for (const name of ['backend', 'frontend'] as const) {
        const ready = await httpGet(`${proxies[name]!.adminUrl}/ready`).catch((err: Error) => ({ status: 0, text: err.message }));
        if (ready.status !== 200) notReady.push(`${name} at ${new Date().toISOString()}: ${ready.status} ${ready.text}`);
        const version = await secretAckVersion(proxies[name]!.adminUrl);
        if (version !== undefined) secretVersions[name].add(version);
      }
      await sleep(SAMPLE_EVERY_MS);
    }
  })();
  await Promise.all([load, watch]);
  const certificateAfter = await presentedCertificate(ports.backendInbound);

  t.comment(`steady load through the frontend sidecar: ${sent} requests, ${failures.length} failed`);
  t.ok(sent > 100, `the load ran: ${sent} requests`);
  t.same(failures.slice(0, 10), [], `no request failed during rotation (${failures.length} of ${sent})`, failures.length > 0 ? diagnostics() : {});
  for (const [name, versions] of Object.entries(secretVersions)) {
    // About five renewals fit in the load; a loaded machine may see fewer, but not under two.
    t.ok(versions.size >= 3, `${name} ACKed several SDS updates during the load: versions ${[...versions].join(', ')}`, diagnostics());
  }
  t.not(certificateAfter.serialNumber, certificateBefore.serialNumber, 'backend presents a renewed certificate');
  t.equal(certificateBefore.subjectAltName, `URI:${SPIFFE('backend')}`);
  t.equal(certificateAfter.subjectAltName, `URI:${SPIFFE('backend')}`);

  // 4. Nobody was ever unready, and no peer failed verification but the two certificate probes.
  t.same(notReady, [], '/ready stayed 200 on both sidecars');
  t.same(
    await samples(backend.adminUrl, 'meshlet_ssl_fail_verify_total'),
    [`meshlet_ssl_fail_verify_total{side="downstream",name="127.0.0.1_${ports.backendInbound}",reason="no_cert"} 2`],
    'backend refused only the probes without a client certificate',
  );
  t.same(await samples(frontend.adminUrl, 'meshlet_ssl_fail_verify_total'), [], 'frontend refused no backend certificate');
  for (const proxy of [backend, frontend]) {
    const rejected = (await httpGet(`${proxy.adminUrl}/stats/prometheus`)).text.split('\n').filter((l) => /^envoy_\w+_update_rejected(\{| )/.test(l) && !l.endsWith(' 0'));
    t.same(rejected, [], 'no xDS update was NACKed');
  }
  const cpProblems = cp.logs.filter((l) => l.level >= 40 && !/CA in memory/.test(l.msg));
  t.same(cpProblems, [], 'the control plane logged no warning or error beyond its in-memory CA');
});
