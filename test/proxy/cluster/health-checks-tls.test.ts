import { rmSync } from 'node:fs';
import t from 'tap';
import { TestMeshCa, commonTlsContext, type CertFiles } from '../../helpers/mesh-certs';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster } from '../../helpers/proxy-process';
import { ControllableUpstream } from './fixtures/controllable-upstream';
import { HTTP_CHECK, client, healthFlags, metric, text, until } from './fixtures/proxy-client';
import { sampleValue } from '../../../bench/prometheus-text';

/**
 * Active HTTP health checks on a cluster with a TLS transport socket, through a real
 * `meshlet proxy`: as in Envoy, the checks go through the cluster's transport socket — the same
 * connector as its requests, so the same client certificate (the upstreams here require it) and
 * the same verification of the upstream's certificate (CA, SPIFFE SAN). A host whose certificate
 * does not verify fails its checks, with the refusal counted and logged with its reason, and no
 * check request ever reaches it.
 */

const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

const mesh = new TestMeshCa();
const otherMesh = new TestMeshCa();
const certs = {
  proxy: mesh.issue('client'),
  server: mesh.issue('server'),
  // Same CA, another identity: the cluster expects spiffe://mesh.test/ns/default/sa/server.
  payments: mesh.issue('payments'),
  // The expected identity, from a CA the cluster does not trust.
  foreign: otherMesh.issue('server'),
};
t.teardown(() => {
  for (const c of Object.values(certs)) rmSync(c.dir, { recursive: true, force: true });
});

/** The cluster's UpstreamTlsContext: the proxy's mesh certificate, the mesh CA, the server's SPIFFE ID. */
const TLS_SOCKET = `    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": ${UPSTREAM_TLS}
        sni: server.default
        common_tls_context: ${commonTlsContext(certs.proxy, mesh.spiffeId('server'))}`;

/** An mTLS upstream: it presents `cert` and requires a client certificate from the mesh CA. */
function mtlsUpstream(name: string, cert: CertFiles): Promise<ControllableUpstream> {
  return ControllableUpstream.create(name, 0, {
    cert: cert.certChainPem,
    key: cert.keyPem,
    ca: mesh.ca.rootCertPem,
    requestCert: true,
    rejectUnauthorized: true,
  });
}

t.test('HTTP checks over mTLS: both hosts healthy; a host answering 503 leaves rotation, and comes back', async (t) => {
  const [a, b] = [await mtlsUpstream('a', certs.server), await mtlsUpstream('b', certs.server)];
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: catchAllVirtualHost('svc'),
      clusters: staticCluster('svc', [a, b].map((u) => ({ port: u.port })), `${TLS_SOCKET}\n${HTTP_CHECK}`),
    }),
    adminPort,
  );
  const http = client();
  t.teardown(async () => {
    await proxy.stop();
    await http.close();
    for (const u of [a, b]) await u.stop();
  });
  const url = `http://127.0.0.1:${listenerPort}/`;
  const flags = (u: ControllableUpstream) => healthFlags(proxy.adminUrl, 'svc', u.port);

  // LIVE: the first round of checks is done, over TLS with the proxy's certificate.
  t.equal(await flags(a), 'healthy');
  t.equal(await flags(b), 'healthy');
  t.ok(a.count('/healthz') >= 1 && b.count('/healthz') >= 1, 'both checked');
  for (const u of [a, b]) t.same([...u.clientSans], [`URI:${mesh.spiffeId('client')}`], `${u.name} saw the proxy's mesh certificate`);
  let scrape = await text(`${proxy.adminUrl}/stats/prometheus`);
  t.ok(metric(scrape, 'envoy_cluster_ssl_handshake', 'svc')! >= 2, 'the checks\' handshakes are the cluster\'s');
  t.equal(metric(scrape, 'envoy_cluster_health_check_healthy', 'svc'), 2);
  t.equal(metric(scrape, 'envoy_cluster_health_check_failure', 'svc'), 0);

  b.byPath.set('/healthz', { status: 503 });
  await until(async () => (await flags(b)) === '/failed_active_hc', 3000, 'b failed by its health check');
  for (let i = 0; i < 10; i++) {
    const reply = await http.get(url);
    t.equal(reply.status, 200);
    t.equal(reply.body, 'a\n', 'served by the healthy host');
  }
  t.equal(b.countExcept('/healthz'), 0, 'no request to the failed host');
  t.equal(a.countExcept('/healthz'), 10);
  scrape = await text(`${proxy.adminUrl}/stats/prometheus`);
  t.equal(metric(scrape, 'envoy_cluster_membership_healthy', 'svc'), 1);
  t.equal(metric(scrape, 'envoy_cluster_health_check_healthy', 'svc'), 1);
  t.ok(metric(scrape, 'envoy_cluster_health_check_failure', 'svc')! >= 1, "b's 503 counted as a failure");
  t.equal(metric(scrape, 'envoy_cluster_health_check_network_failure', 'svc'), 0, 'a 503 is not a network failure');
  t.equal(metric(scrape, 'envoy_cluster_ssl_fail_verify_san', 'svc'), 0);
  t.equal(metric(scrape, 'envoy_cluster_ssl_fail_verify_error', 'svc'), 0);

  b.byPath.set('/healthz', { status: 200 });
  await until(async () => (await flags(b)) === 'healthy', 3000, 'b healthy again');
  for (let i = 0; i < 10; i++) await http.get(url);
  t.ok(b.countExcept('/healthz') > 0, 'b serves again');
});

t.test('a host whose certificate does not verify (wrong SPIFFE SAN, foreign CA) fails its checks, counted with the reason', async (t) => {
  const [good1, wrongSan, good2, foreign] = [
    await mtlsUpstream('good1', certs.server),
    await mtlsUpstream('wrong-san', certs.payments),
    await mtlsUpstream('good2', certs.server),
    await mtlsUpstream('foreign', certs.foreign),
  ];
  // A plaintext server in a TLS cluster: the check must not fall back to plaintext.
  const plain = await ControllableUpstream.create('plain');
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const route = (prefix: string, cluster: string) => `              - match: {prefix: /${prefix}/}
                route: {cluster: ${cluster}, prefix_rewrite: /}`;
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: `            - name: all
              domains: ["*"]
              routes:
${route('san', 'san')}
${route('ca', 'ca')}
${route('plain', 'plain')}`,
      clusters: [
        staticCluster('san', [good1, wrongSan].map((u) => ({ port: u.port })), `${TLS_SOCKET}\n${HTTP_CHECK}`),
        staticCluster('ca', [good2, foreign].map((u) => ({ port: u.port })), `${TLS_SOCKET}\n${HTTP_CHECK}`),
        staticCluster('plain', [{ port: good1.port }, { port: plain.port }], `${TLS_SOCKET}\n${HTTP_CHECK}`),
      ].join('\n'),
    }),
    adminPort,
  );
  const http = client();
  t.teardown(async () => {
    await proxy.stop();
    await http.close();
    for (const u of [good1, wrongSan, good2, foreign, plain]) await u.stop();
  });

  // LIVE: every host had its first check; the refused ones failed it.
  t.equal(await healthFlags(proxy.adminUrl, 'san', good1.port), 'healthy');
  t.equal(await healthFlags(proxy.adminUrl, 'san', wrongSan.port), '/failed_active_hc', 'wrong SAN: unhealthy');
  t.equal(await healthFlags(proxy.adminUrl, 'ca', good2.port), 'healthy');
  t.equal(await healthFlags(proxy.adminUrl, 'ca', foreign.port), '/failed_active_hc', 'foreign CA: unhealthy');
  t.equal(await healthFlags(proxy.adminUrl, 'plain', plain.port), '/failed_active_hc', 'plaintext upstream: unhealthy');

  // Refused before any request is written: the connector destroys the connection at verification.
  t.equal(wrongSan.count(), 0, 'no check request reached the host with the wrong identity');
  t.equal(foreign.count(), 0, 'no check request reached the host of the foreign CA');
  t.equal(plain.count(), 0, 'no plaintext check request');
  t.ok(good1.count('/healthz') >= 1 && good2.count('/healthz') >= 1);

  // The refusals are counted by reason, as for the cluster's requests, and stay failed while they repeat.
  await until(async () => {
    const s = await text(`${proxy.adminUrl}/stats/prometheus`);
    return (metric(s, 'envoy_cluster_ssl_fail_verify_san', 'san') ?? 0) >= 2 && (metric(s, 'envoy_cluster_ssl_fail_verify_error', 'ca') ?? 0) >= 2;
  }, 3000, 'repeated refusals counted');
  const scrape = await text(`${proxy.adminUrl}/stats/prometheus`);
  t.ok(sampleValue(scrape, 'meshlet_ssl_fail_verify_total', { side: 'upstream', name: 'san', reason: 'san_mismatch' })! >= 2, 'san_mismatch');
  t.ok(sampleValue(scrape, 'meshlet_ssl_fail_verify_total', { side: 'upstream', name: 'ca', reason: 'untrusted_ca' })! >= 2, 'untrusted_ca');
  t.equal(sampleValue(scrape, 'meshlet_ssl_fail_verify_total', { side: 'upstream', name: 'san', reason: 'untrusted_ca' }), undefined, 'each for its own reason');
  t.ok(metric(scrape, 'envoy_cluster_ssl_connection_error', 'plain')! >= 1, 'the handshake with the plaintext server failed');
  for (const c of ['san', 'ca', 'plain']) {
    t.equal(metric(scrape, 'envoy_cluster_health_check_healthy', c), 1, `${c}: one healthy host`);
    t.equal(metric(scrape, 'envoy_cluster_membership_healthy', c), 1);
    t.ok(metric(scrape, 'envoy_cluster_health_check_network_failure', c)! >= 2, `${c}: refusals are network failures`);
  }
  t.match(proxy.stderr(), new RegExp(`upstream TLS peer refused: no subject alt name of the peer matches \\(peer has URI:${mesh.spiffeId('payments')}\\)`));
  t.match(proxy.stderr(), /"reason":"san_mismatch"/);
  t.match(proxy.stderr(), new RegExp(`"upstream":"127\\.0\\.0\\.1:${foreign.port}","reason":"untrusted_ca"`));

  // Traffic goes to the verified hosts only.
  for (const prefix of ['san', 'ca', 'plain']) {
    for (let i = 0; i < 4; i++) t.equal((await http.get(`http://127.0.0.1:${listenerPort}/${prefix}/x`)).status, 200, `${prefix}: served`);
  }
  t.equal(good1.countExcept('/healthz'), 8, 'san and plain: all to good1');
  t.equal(good2.countExcept('/healthz'), 4, 'ca: all to good2');
  t.equal(wrongSan.count() + foreign.count() + plain.count(), 0, 'nothing reached the refused hosts');
});

t.test('over TLS too: checks on a new connection each time (reuse_connection: false) and TCP checks', async (t) => {
  const [good, wrongSan] = [await mtlsUpstream('good', certs.server), await mtlsUpstream('wrong-san', certs.payments)];
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const noReuse = HTTP_CHECK.replace('      http_health_check:', '      reuse_connection: false\n      http_health_check:');
  const tcpCheck = HTTP_CHECK.replace('http_health_check: {path: /healthz}', 'tcp_health_check: {}');
  const ports = [good, wrongSan].map((u) => ({ port: u.port }));
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: catchAllVirtualHost('fresh'),
      clusters: [staticCluster('fresh', ports, `${TLS_SOCKET}\n${noReuse}`), staticCluster('tcp', ports, `${TLS_SOCKET}\n${tcpCheck}`)].join('\n'),
    }),
    adminPort,
  );
  t.teardown(async () => {
    await proxy.stop();
    for (const u of [good, wrongSan]) await u.stop();
  });
  for (const c of ['fresh', 'tcp']) {
    t.equal(await healthFlags(proxy.adminUrl, c, good.port), 'healthy', `${c}: the verified host passes`);
    t.equal(await healthFlags(proxy.adminUrl, c, wrongSan.port), '/failed_active_hc', `${c}: the wrong identity fails`);
  }
  const before = good.count('/healthz');
  await until(() => good.count('/healthz') >= before + 3, 3000, 'more checks');
  const scrape = await text(`${proxy.adminUrl}/stats/prometheus`);
  t.ok(metric(scrape, 'envoy_cluster_ssl_handshake', 'fresh')! >= 4, 'one handshake per check without reuse');
  t.ok(metric(scrape, 'envoy_cluster_ssl_fail_verify_san', 'tcp')! >= 1, 'a TCP check verifies the peer too');
  t.ok(metric(scrape, 'envoy_cluster_health_check_success', 'tcp')! >= 1, 'a TCP check passes once the TLS peer is verified');
  t.equal(wrongSan.count(), 0);
});
