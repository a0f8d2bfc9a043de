import t, { type Test } from 'tap';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, saveCertificateAuthority } from '../../../certs/certificate-authority';
import { parseSecret } from '../../../proxy/tls/secret';
import type { ConfigIssue } from '../../../xds/config-error';
import { decodeAny } from '../../../xds/proto-json';
import { AdsTestStream, TYPE } from './fixtures/ads-test-client';
import { metricValue, startHarness, type Harness } from './fixtures/control-plane-harness';

const MESH = {
  mtls: { mode: 'STRICT' },
  services: {
    web: { endpoints: [{ address: '127.0.0.1', port: 15006 }], sidecar: { app_port: 8080 } },
    api: {
      mtls: 'PERMISSIVE',
      namespace: 'backend',
      endpoints: [{ address: '127.0.0.1', port: 15106 }],
      sidecar: { app_port: 9000, inbound_port: 15106 },
      authorization: { allow_from: ['web'] },
    },
  },
  gateways: { edge: { port: 18080, namespace: 'ingress', routes: [{ to: { service: 'web' } }] } },
};

const SECRET_NAMES = ['default', 'ROOTCA'];
const sotwRequest = (typeUrl: string, extra: object = {}) => ({ type_url: typeUrl, resource_names: [], version_info: '', response_nonce: '', ...extra });
const ack = (response: any, extra: object = {}) => sotwRequest(response.type_url, { version_info: response.version_info, response_nonce: response.nonce, ...extra });
const byName = (resources: any[]) => Object.fromEntries(resources.map((r) => [r.name, r]));
const decoded = (response: any) => byName(response.resources.map((any: any) => decodeAny(any)));

/** Opens a SotW stream as `node` and returns its first SDS response's secrets, by name (ACKed). */
async function sotwSecrets(h: Harness, streams: AdsTestStream[], node: { id: string; cluster: string }) {
  const stream = new AdsTestStream(h.address, 'StreamAggregatedResources');
  streams.push(stream);
  stream.send(sotwRequest(TYPE.SDS, { node, resource_names: SECRET_NAMES }));
  const response = await stream.next(10_000);
  stream.send(ack(response, { resource_names: SECRET_NAMES }));
  return { stream, response, secrets: decoded(response) };
}

function certificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));
}

/** The node's leaf certificate, checked: the proxy's own Secret parser accepts both secrets, the key is the leaf's, the chain ends at ROOTCA. */
function checkedLeaf(t: Test, secrets: Record<string, any>): X509Certificate {
  const issues: ConfigIssue[] = [];
  for (const secret of Object.values(secrets)) parseSecret(secret, `Secret "${secret.name}"`, issues);
  t.same(issues, [], 'the proxy parses both secrets');
  const { certificate_chain, private_key } = secrets.default.tls_certificate;
  const [leaf, intermediate] = certificates(certificate_chain.inline_string);
  const [root] = certificates(secrets.ROOTCA.validation_context.trusted_ca.inline_string);
  t.ok(leaf.checkPrivateKey(createPrivateKey(private_key.inline_string)), 'the key is the certificate’s');
  t.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey), 'the leaf is signed by the intermediate in the chain');
  t.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey), 'which ROOTCA signed');
  return leaf;
}

async function metrics(h: Harness): Promise<string> {
  return (await fetch(`${h.adminUrl}/stats/prometheus`)).text();
}

async function eventually(condition: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return condition();
}

t.test('mTLS STRICT mesh over ADS', async (t) => {
  const h = await startHarness(MESH);
  const streams: AdsTestStream[] = [];
  t.teardown(async () => {
    for (const s of streams) s.close();
    await h.stop();
  });
  t.match(h.logs.find((l) => l.level === 40 && /CA in memory/.test(l.msg)), { trust_domain: 'cluster.local', msg: /replicas must share a ca_dir/ });

  let web1: Awaited<ReturnType<typeof sotwSecrets>>;
  let webKey: string;

  await t.test("a sidecar gets Secret 'default', a certificate for its SPIFFE ID that chains to 'ROOTCA'", async (t) => {
    web1 = await sotwSecrets(h, streams, { id: 'web-1', cluster: 'web' });
    t.same(Object.keys(web1.secrets).sort(), ['ROOTCA', 'default']);
    const leaf = checkedLeaf(t, web1.secrets);
    t.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/web');
    t.ok(new Date(leaf.validTo).getTime() > Date.now() + 30 * 60_000, 'valid for about cert_ttl (1h by default)');
    webKey = web1.secrets.default.tls_certificate.private_key.inline_string;
    t.equal(await web1.stream.maybeNext(300), undefined, 'an ACK gets no response');
  });

  await t.test('another node of the same service (over Delta) gets the same identity with its own key', async (t) => {
    const web2 = new AdsTestStream(h.address, 'DeltaAggregatedResources');
    streams.push(web2);
    web2.send({ node: { id: 'web-2', cluster: 'web' }, type_url: TYPE.SDS, resource_names_subscribe: SECRET_NAMES, resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '' });
    const response = await web2.next(10_000);
    web2.send({ type_url: TYPE.SDS, response_nonce: response.nonce });
    t.same(response.resources.map((r: any) => r.name).sort(), ['ROOTCA', 'default']);
    const secrets = byName(response.resources.map((r: any) => decodeAny(r.resource)));
    const leaf = checkedLeaf(t, secrets);
    t.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/web');
    t.not(secrets.default.tls_certificate.private_key.inline_string, webKey, 'keys are not shared between replicas');
    t.not(leaf.serialNumber, certificates(web1.secrets.default.tls_certificate.certificate_chain.inline_string)[0].serialNumber);
    t.same(secrets.ROOTCA, web1.secrets.ROOTCA, 'one trust bundle');
  });

  await t.test("the service's clusters carry an UpstreamTlsContext that checks its SPIFFE ID", async (t) => {
    web1.stream.send(sotwRequest(TYPE.CDS));
    const cds = await web1.stream.next();
    web1.stream.send(ack(cds));
    const clusters = decoded(cds);
    for (const [name, sni, id] of [['web', 'web', 'spiffe://cluster.local/ns/default/sa/web'], ['api', 'api', 'spiffe://cluster.local/ns/backend/sa/api']]) {
      t.match(clusters[name].transport_socket, {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          common_tls_context: {
            tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {} } }],
            combined_validation_context: {
              default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: id } }] },
              validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: { ads: {} } },
            },
          },
          sni,
        },
      }, name);
    }
    t.equal(clusters['inbound|web'].transport_socket, undefined, 'the local app is reached in plaintext');
  });

  await t.test('STRICT: the inbound listener requires a client certificate; PERMISSIVE: TLS inspector and two chains, authorization', async (t) => {
    web1.stream.send(sotwRequest(TYPE.LDS));
    const lds = await web1.stream.next();
    web1.stream.send(ack(lds));
    const strict = decoded(lds).inbound;
    t.equal(strict.filter_chains.length, 1);
    t.match(strict.filter_chains[0].transport_socket.typed_config, {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      require_client_certificate: true,
      common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default' }], validation_context_sds_secret_config: { name: 'ROOTCA' } },
    });
    t.match(strict.filter_chains[0].filters[0].typed_config, { forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { uri: true } });
    t.equal(decoded(lds).outbound.filter_chains[0].transport_socket, undefined, 'the app talks to its sidecar in plaintext');

    const api = new AdsTestStream(h.address, 'StreamAggregatedResources');
    streams.push(api);
    api.send(sotwRequest(TYPE.LDS, { node: { id: 'api-1', cluster: 'api' } }));
    const apiLds = await api.next();
    api.send(ack(apiLds));
    const permissive = decoded(apiLds).inbound;
    t.match(permissive.listener_filters, [{ name: 'envoy.filters.listener.tls_inspector' }]);
    t.match(permissive.filter_chains, [
      { filter_chain_match: { transport_protocol: 'tls' }, transport_socket: { typed_config: { require_client_certificate: true } } },
      { filter_chain_match: { transport_protocol: 'raw_buffer' } },
    ]);
    t.equal(permissive.filter_chains[1].transport_socket, undefined);
    for (const chain of permissive.filter_chains) {
      t.match(chain.filters[0].typed_config.http_filters, [
        { name: 'envoy.filters.http.rbac', typed_config: { rules: { action: 'ALLOW', policies: { 'allow-from': { principals: [{ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/default/sa/web' } } }] } } } } },
        { name: 'envoy.filters.http.router' },
      ]);
    }
  });

  await t.test('a gateway gets a certificate for its own identity', async (t) => {
    const { secrets } = await sotwSecrets(h, streams, { id: 'edge-1', cluster: 'edge' });
    t.equal(checkedLeaf(t, secrets).subjectAltName, 'URI:spiffe://cluster.local/ns/ingress/sa/edge');
  });

  await t.test("a node without an identity in the mesh gets 'ROOTCA' only", async (t) => {
    const { secrets } = await sotwSecrets(h, streams, { id: 'tool-1', cluster: 'grpc-clients' });
    t.same(Object.keys(secrets), ['ROOTCA']);
  });

  await t.test('a mesh edit that changes the identity of a node issues its certificate again, pushed before the clusters', async (t) => {
    h.writeMesh({ ...MESH, services: { ...MESH.services, web: { ...MESH.services.web, service_account: 'frontend' } } });
    const sds = await web1.stream.next(2000);
    t.equal(sds.type_url, TYPE.SDS, 'secrets first: make before break');
    web1.stream.send(ack(sds, { resource_names: SECRET_NAMES }));
    t.same(Object.keys(decoded(sds)), ['default'], 'only the secret that changed is sent: the node keeps its ROOTCA');
    t.equal(checkedLeaf(t, { ...web1.secrets, ...decoded(sds) }).subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/frontend');
    t.not(sds.version_info, web1.response.version_info);
    const cds = await web1.stream.next(2000);
    t.equal(cds.type_url, TYPE.CDS);
    web1.stream.send(ack(cds));
    t.match(decoded(cds).web.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context, {
      match_typed_subject_alt_names: [{ matcher: { exact: 'spiffe://cluster.local/ns/default/sa/frontend' } }],
    });
  });

  await t.test('metrics count certificates; /config_dump shows them without keys', async (t) => {
    const text = await metrics(h);
    t.equal(metricValue(text, 'meshlet_control_plane_certificates_issued_total{reason="initial"}'), 5, 'web-1 (twice: new identity), web-2, edge-1, and none for tool-1');
    const earliest = metricValue(text, 'meshlet_control_plane_certificates_earliest_expiry_timestamp_seconds')!;
    t.ok(earliest > Date.now() / 1000 + 30 * 60, `earliest expiry ${earliest}`);
    const dump = await (await fetch(`${h.adminUrl}/config_dump`)).text();
    t.notMatch(dump, 'PRIVATE KEY');
    const nodes = JSON.parse(dump).nodes;
    t.match(nodes.find((n: any) => n.node_id === 'web-1'), { certificate: { spiffe_id: 'spiffe://cluster.local/ns/default/sa/frontend', not_after: String } });
    t.equal(nodes.find((n: any) => n.node_id === 'tool-1').certificate, undefined);
  });
});

t.test('certificates are renewed at half-life and pushed on the stream, until it ends', async (t) => {
  const h = await startHarness({ ...MESH, mtls: { mode: 'STRICT', cert_ttl: '2s' } });
  const streams: AdsTestStream[] = [];
  t.teardown(async () => {
    for (const s of streams) s.close();
    await h.stop();
  });
  const first = await sotwSecrets(h, streams, { id: 'web-1', cluster: 'web' });
  const firstLeaf = checkedLeaf(t, first.secrets);
  const renewed = await first.stream.next(10_000);
  first.stream.send(ack(renewed, { resource_names: SECRET_NAMES }));
  t.equal(renewed.type_url, TYPE.SDS);
  t.not(renewed.version_info, first.response.version_info);
  t.same(Object.keys(decoded(renewed)), ['default'], 'the trust bundle changes only with the CA, so it is not sent again');
  const secrets = { ...first.secrets, ...decoded(renewed) };
  const leaf = checkedLeaf(t, secrets);
  t.equal(leaf.subjectAltName, firstLeaf.subjectAltName);
  t.not(leaf.serialNumber, firstLeaf.serialNumber);
  t.not(secrets.default.tls_certificate.private_key.inline_string, first.secrets.default.tls_certificate.private_key.inline_string, 'a new key');
  t.ok(metricValue(await metrics(h), 'meshlet_control_plane_certificates_issued_total{reason="rotation"}')! >= 1);

  first.stream.close();
  const forgotten = await eventually(async () => metricValue(await metrics(h), 'meshlet_control_plane_certificates_earliest_expiry_timestamp_seconds') === 0);
  t.ok(forgotten, 'the closed stream holds no certificate');
  const rotations = metricValue(await metrics(h), 'meshlet_control_plane_certificates_issued_total{reason="rotation"}');
  // A 2 s certificate is renewed within a second: a timer left running would have renewed by now.
  await new Promise((r) => setTimeout(r, 2500));
  t.equal(metricValue(await metrics(h), 'meshlet_control_plane_certificates_issued_total{reason="rotation"}'), rotations, 'no renewal after the stream ended');
});

t.test("with ca_dir, the control plane signs with that CA and serves its root as 'ROOTCA'", async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'meshlet-ca-')), 'ca');
  const ca = createCertificateAuthority({ trustDomain: 'example.org' });
  saveCertificateAuthority(ca, dir);
  const h = await startHarness({ ...MESH, mtls: { mode: 'STRICT', trust_domain: 'example.org', ca_dir: dir } });
  const streams: AdsTestStream[] = [];
  t.teardown(async () => {
    for (const s of streams) s.close();
    await h.stop();
  });
  t.notOk(h.logs.some((l) => /CA in memory/.test(l.msg)));
  const { secrets } = await sotwSecrets(h, streams, { id: 'web-1', cluster: 'web' });
  t.equal(secrets.ROOTCA.validation_context.trusted_ca.inline_string, ca.rootCertPem);
  const leaf = checkedLeaf(t, secrets);
  t.equal(leaf.subjectAltName, 'URI:spiffe://example.org/ns/default/sa/web');
  t.ok(leaf.checkIssued(new X509Certificate(ca.signingCertPem)));
});

t.test('without mTLS, no CA is made and no secret is served', async (t) => {
  const h = await startHarness({ services: { web: MESH.services.web } });
  const streams: AdsTestStream[] = [];
  t.teardown(async () => {
    for (const s of streams) s.close();
    await h.stop();
  });
  t.notOk(h.logs.some((l) => /CA in memory/.test(l.msg)));
  const { secrets } = await sotwSecrets(h, streams, { id: 'web-1', cluster: 'web' });
  t.same(secrets, {});
});
