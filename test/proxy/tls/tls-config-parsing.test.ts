import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { parseBootstrap, type BootstrapConfig } from '../../../proxy/config/bootstrap';
import { ConfigError } from '../../../xds/config-error';
import { adsBootstrap } from '../../helpers/ads-test-server';
import { TestMeshCa } from '../../helpers/mesh-certs';

/**
 * TLS transport sockets, Secrets, and listeners with several filter chains, as Envoy config
 * through parseBootstrap: what parses, and every rejection at the path of the offending field.
 */

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const TLS_INSPECTOR = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};

const mesh = new TestMeshCa();
const server = mesh.issue('server');
const other = mesh.issue('other');
t.teardown(() => {
  rmSync(server.dir, { recursive: true, force: true });
  rmSync(other.dir, { recursive: true, force: true });
});

const LISTENER0 = 'static_resources.listeners[0]';
const CHAIN0 = `${LISTENER0}.filter_chains[0]`;
const DOWNSTREAM0 = `${CHAIN0}.transport_socket.typed_config`;
const COMMON0 = `${DOWNSTREAM0}.common_tls_context`;

const inlineCertificate = (cert: { certChainPem: string; keyPem: string }) => ({
  certificate_chain: { inline_string: cert.certChainPem },
  private_key: { inline_string: cert.keyPem },
});
const fileCertificate = (cert: { chainFile: string; keyFile: string }) => ({
  certificate_chain: { filename: cert.chainFile },
  private_key: { filename: cert.keyFile },
});

function downstreamTls(common: object, extra: object = {}): object {
  return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: common, ...extra } };
}

function upstreamTls(common: object, extra: object = {}): object {
  return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS, common_tls_context: common, ...extra } };
}

function filterChain(options: { name?: string; transportSocket?: object; match?: object } = {}): object {
  return {
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.match === undefined ? {} : { filter_chain_match: options.match }),
    ...(options.transportSocket === undefined ? {} : { transport_socket: options.transportSocket }),
    filters: [
      {
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM_TYPE,
          stat_prefix: 'inbound',
          route_config: { virtual_hosts: [{ name: 'app', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }] },
          http_filters: [ROUTER],
        },
      },
    ],
  };
}

function listener(chains: object[], extra: object = {}): object {
  return { name: 'inbound', address: { socket_address: { address: '127.0.0.1', port_value: 15006 } }, filter_chains: chains, ...extra };
}

function cluster(name: string, extra: object = {}): object {
  return {
    name,
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }] },
    ...extra,
  };
}

/** A bootstrap with these resources (and the `app` cluster routes go to); with `ads`, an ADS stream too. */
function bootstrap(resources: { listeners?: object[]; clusters?: object[]; secrets?: object[]; ads?: boolean }): any {
  const doc: any = resources.ads ? parse(adsBootstrap({ adminPort: 9901, xdsPort: 18000 })) : { static_resources: { clusters: [] } };
  if (resources.ads) {
    // Listeners and clusters here are static: CDS would leave route clusters unchecked.
    delete doc.dynamic_resources.lds_config;
    delete doc.dynamic_resources.cds_config;
  }
  doc.static_resources.listeners = resources.listeners ?? [];
  doc.static_resources.clusters.push(cluster('app'), ...(resources.clusters ?? []));
  if (resources.secrets !== undefined) doc.static_resources.secrets = resources.secrets;
  return doc;
}

/** The `path: message` lines of a rejected bootstrap; fails the test when it is accepted. */
function problems(document: unknown): string[] {
  try {
    parseBootstrap(document);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return ['(accepted)'];
}

/** Just the paths of the issues. */
function problemPaths(document: unknown): string[] {
  return problems(document).map((line) => line.slice(0, line.indexOf(': ')));
}

function accepted(t: Test, document: unknown): BootstrapConfig | undefined {
  try {
    return parseBootstrap(document);
  } catch (err) {
    t.fail(`rejected: ${(err as Error).message}`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// DownstreamTlsContext

t.test('a listener with a DownstreamTlsContext: inline PEM (inline_string)', async (t) => {
  const doc = bootstrap({
    listeners: [
      listener([
        filterChain({
          transportSocket: downstreamTls(
            {
              tls_certificates: [inlineCertificate(server)],
              validation_context: { trusted_ca: { inline_string: server.rootCertPem } },
              alpn_protocols: ['http/1.1'],
              tls_params: { tls_minimum_protocol_version: 'TLSv1_3' },
            },
            { require_client_certificate: true },
          ),
        }),
      ]),
    ],
  });
  const config = accepted(t, doc);
  t.same(config?.listeners[0]?.chains[0]?.tls, {
    side: 'downstream',
    requireClientCertificate: true,
    certificate: { kind: 'inline', value: { certChainPem: server.certChainPem, keyPem: server.keyPem } },
    validation: { kind: 'inline', value: { trustedCaPem: server.rootCertPem, sanMatchers: [] } },
    defaultValidation: undefined,
    alpnProtocols: ['http/1.1'],
    minVersion: 'TLSv1.3',
    maxVersion: undefined,
  });
});

t.test('a listener with a DownstreamTlsContext: files (filename), read when the config is parsed', async (t) => {
  const doc = bootstrap({
    listeners: [
      listener([
        filterChain({
          transportSocket: downstreamTls({ tls_certificates: [fileCertificate(server)], validation_context: { trusted_ca: { filename: server.rootFile } } }),
        }),
      ]),
    ],
  });
  const tls = accepted(t, doc)?.listeners[0]?.chains[0]?.tls;
  t.match(tls, {
    side: 'downstream',
    requireClientCertificate: false,
    certificate: { kind: 'inline', value: { certChainPem: readFileSync(server.chainFile, 'utf8'), keyPem: readFileSync(server.keyFile, 'utf8') } },
    validation: { kind: 'inline', value: { trustedCaPem: readFileSync(server.rootFile, 'utf8') } },
    minVersion: 'TLSv1.2',
  });
  t.equal(tls?.certificate?.kind === 'inline' && tls.certificate.value.certChainPem, server.certChainPem);
});

t.test('require_client_certificate without a validation context is rejected at its path', async (t) => {
  const doc = bootstrap({
    listeners: [listener([filterChain({ transportSocket: downstreamTls({ tls_certificates: [inlineCertificate(server)] }, { require_client_certificate: true }) })])],
  });
  t.same(problems(doc), [`${DOWNSTREAM0}.require_client_certificate: needs a validation context (trusted_ca) to verify client certificates against`]);
});

t.test('a listener needs a certificate', async (t) => {
  const doc = bootstrap({
    listeners: [listener([filterChain({ transportSocket: downstreamTls({ validation_context: { trusted_ca: { inline_string: server.rootCertPem } } }) })])],
  });
  t.same(problems(doc), [`${COMMON0}: a listener needs a certificate: tls_certificates or tls_certificate_sds_secret_configs`]);
});

t.test('a private key that does not belong to the certificate: an issue at private_key', async (t) => {
  const doc = bootstrap({
    listeners: [
      listener([
        filterChain({
          transportSocket: downstreamTls({
            tls_certificates: [{ certificate_chain: { inline_string: server.certChainPem }, private_key: { inline_string: other.keyPem } }],
          }),
        }),
      ]),
    ],
  });
  const lines = problems(doc);
  t.ok(
    lines.includes(`${COMMON0}.tls_certificates[0].private_key: does not match the certificate (the first in certificate_chain)`),
    lines.join('\n'),
  );
  t.notOk(lines.some((l) => l.includes('certificate_chain:')), 'the chain itself is fine');
});

t.test('a missing certificate file: an issue naming the file and ENOENT', async (t) => {
  const missing = join(server.dir, 'no-such-chain.pem');
  const doc = bootstrap({
    listeners: [
      listener([
        filterChain({ transportSocket: downstreamTls({ tls_certificates: [{ certificate_chain: { filename: missing }, private_key: { filename: server.keyFile } }] }) }),
      ]),
    ],
  });
  const lines = problems(doc);
  t.ok(lines.includes(`${COMMON0}.tls_certificates[0].certificate_chain.filename: cannot read ${missing}: ENOENT`), lines.join('\n'));
});

t.test('an invalid certificate or validation context is reported once, not also as a missing one', async (t) => {
    const doc = bootstrap({
      listeners: [
        listener([
          filterChain({
            transportSocket: downstreamTls(
              {
                tls_certificates: [inlineCertificate(server)],
                validation_context: { trusted_ca: { inline_string: server.rootCertPem }, match_typed_subject_alt_names: [{ san_type: 'EMAIL', matcher: { exact: 'ops@mesh.test' } }] },
              },
              { require_client_certificate: true },
            ),
          }),
        ]),
      ],
    });
    const lines = problems(doc);
    t.ok(lines.includes(`${COMMON0}.validation_context.match_typed_subject_alt_names[0].san_type: EMAIL is not supported (supported: URI, DNS)`), lines.join('\n'));
    t.same(lines, [`${COMMON0}.validation_context.match_typed_subject_alt_names[0].san_type: EMAIL is not supported (supported: URI, DNS)`], 'only the root cause');
});

t.test('a missing trusted_ca file on a cluster: exactly that issue', async (t) => {
  const missing = join(server.dir, 'no-such-root.pem');
  const doc = bootstrap({
    clusters: [cluster('backend', { transport_socket: upstreamTls({ validation_context: { trusted_ca: { filename: missing } } }) })],
  });
  t.same(problems(doc), [
    `static_resources.clusters[1].transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.filename: cannot read ${missing}: ENOENT`,
  ]);
});

t.test('PEM that is not PEM: an issue at the data source', async (t) => {
  const doc = bootstrap({
    clusters: [cluster('backend', { transport_socket: upstreamTls({ validation_context: { trusted_ca: { inline_string: 'not a certificate' } } }) })],
  });
  t.same(problems(doc), ['static_resources.clusters[1].transport_socket.typed_config.common_tls_context.validation_context.trusted_ca: no PEM certificate found']);
});

// ---------------------------------------------------------------------------------------------
// Transport sockets

t.test('a transport socket of an unknown type is rejected', async (t) => {
  // A type the decoder has no proto for.
  const unknown = {
    name: 'envoy.transport_sockets.raw_buffer',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' },
  };
  const lines = problems(bootstrap({ listeners: [listener([filterChain({ transportSocket: unknown })])] }));
  t.equal(lines.length, 1, lines.join('\n'));
  t.match(lines[0], `${CHAIN0}.transport_socket.typed_config.@type: `);
  t.match(lines[0], 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer');

  // A type meshlet decodes but does not run as a transport socket.
  const typedStruct = {
    name: 'envoy.transport_sockets.raw_buffer',
    typed_config: {
      '@type': 'type.googleapis.com/xds.type.v3.TypedStruct',
      type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer',
      value: {},
    },
  };
  t.same(problemPaths(bootstrap({ listeners: [listener([filterChain({ transportSocket: typedStruct })])] })), [`${CHAIN0}.transport_socket`]);
  t.same(problemPaths(bootstrap({ clusters: [cluster('backend', { transport_socket: typedStruct })] })), ['static_resources.clusters[1].transport_socket']);
});

t.test("a TLS context of the other side's type is rejected (UpstreamTlsContext on a listener, Downstream on a cluster)", async (t) => {
  const common = { tls_certificates: [inlineCertificate(server)] };
  t.same(problems(bootstrap({ listeners: [listener([filterChain({ transportSocket: upstreamTls(common) })])] })), [
    `${CHAIN0}.transport_socket: transport socket envoy.transport_sockets.tls (${UPSTREAM_TLS}) is not supported; meshlet has envoy.transport_sockets.tls with ${DOWNSTREAM_TLS}`,
  ]);
  t.same(problems(bootstrap({ clusters: [cluster('backend', { transport_socket: downstreamTls(common) })] })), [
    `static_resources.clusters[1].transport_socket: transport socket envoy.transport_sockets.tls (${DOWNSTREAM_TLS}) is not supported; meshlet has envoy.transport_sockets.tls with ${UPSTREAM_TLS}`,
  ]);
});

// ---------------------------------------------------------------------------------------------
// UpstreamTlsContext

t.test('a cluster UpstreamTlsContext with sni and match_typed_subject_alt_names', async (t) => {
  const serverId = mesh.spiffeId('server');
  const doc = bootstrap({
    clusters: [
      cluster('backend', {
        transport_socket: upstreamTls(
          {
            tls_certificates: [fileCertificate(other)],
            validation_context: {
              trusted_ca: { filename: other.rootFile },
              match_typed_subject_alt_names: [
                { san_type: 'URI', matcher: { exact: serverId } },
                { san_type: 'DNS', matcher: { suffix: '.mesh.test' } },
              ],
              match_subject_alt_names: [{ prefix: 'spiffe://mesh.test/ns/legacy/' }],
            },
          },
          { sni: 'backend.mesh.test' },
        ),
      }),
    ],
  });
  const backend = accepted(t, doc)?.clusters.find((c) => c.name === 'backend');
  const tls = backend?.tls;
  t.match(tls, {
    side: 'upstream',
    sni: 'backend.mesh.test',
    certificate: { kind: 'inline', value: { certChainPem: other.certChainPem, keyPem: other.keyPem } },
    validation: { kind: 'inline', value: { trustedCaPem: other.rootCertPem } },
  });
  const matchers = tls?.validation?.kind === 'inline' ? tls.validation.value.sanMatchers : [];
  t.same(
    matchers.map((m) => m.type),
    ['URI', 'DNS', undefined],
  );
  t.ok(matchers[0]?.matcher.matches(serverId));
  t.notOk(matchers[0]?.matcher.matches(mesh.spiffeId('other')));
  t.ok(matchers[1]?.matcher.matches('api.mesh.test'));
  t.notOk(matchers[1]?.matcher.matches('api.mesh.test.evil'));
  t.ok(matchers[2]?.matcher.matches('spiffe://mesh.test/ns/legacy/sa/x'));
});

t.test('an upstream without sni sends none; a cluster without a transport socket is plaintext', async (t) => {
  const doc = bootstrap({ clusters: [cluster('backend', { transport_socket: upstreamTls({ validation_context: { trusted_ca: { inline_string: server.rootCertPem } } }) })] });
  const config = accepted(t, doc);
  t.match(config?.clusters.find((c) => c.name === 'backend')?.tls, { side: 'upstream', sni: undefined, certificate: undefined });
  t.equal(config?.clusters.find((c) => c.name === 'app')?.tls, undefined);
});

t.test('an unsupported san_type (EMAIL) is rejected at its path', async (t) => {
  const doc = bootstrap({
    clusters: [
      cluster('backend', {
        transport_socket: upstreamTls({
          validation_context: {
            trusted_ca: { inline_string: server.rootCertPem },
            match_typed_subject_alt_names: [
              { san_type: 'URI', matcher: { exact: mesh.spiffeId('server') } },
              { san_type: 'EMAIL', matcher: { exact: 'ops@mesh.test' } },
            ],
          },
        }),
      }),
    ],
  });
  t.same(problems(doc), [
    'static_resources.clusters[1].transport_socket.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names[1].san_type: EMAIL is not supported (supported: URI, DNS)',
  ]);
});

// ---------------------------------------------------------------------------------------------
// Secrets: static and SDS

const serverSecret = { name: 'server-cert', tls_certificate: inlineCertificate(server) };
const caSecret = { name: 'mesh-ca', validation_context: { trusted_ca: { inline_string: server.rootCertPem } } };

t.test('tls_certificate_sds_secret_configs without sds_config names a static secret', async (t) => {
  const doc = bootstrap({
    secrets: [serverSecret, caSecret],
    listeners: [
      listener([
        filterChain({
          transportSocket: downstreamTls(
            { tls_certificate_sds_secret_configs: [{ name: 'server-cert' }], validation_context_sds_secret_config: { name: 'mesh-ca' } },
            { require_client_certificate: true },
          ),
        }),
      ]),
    ],
  });
  const config = accepted(t, doc);
  t.match(config?.listeners[0]?.chains[0]?.tls, {
    certificate: { kind: 'secret', name: 'server-cert', sds: false },
    validation: { kind: 'secret', name: 'mesh-ca', sds: false },
    requireClientCertificate: true,
  });
  t.same([...(config?.secrets.keys() ?? [])], ['server-cert', 'mesh-ca']);
  t.same(config?.secrets.get('server-cert'), { kind: 'tls_certificate', name: 'server-cert', value: { certChainPem: server.certChainPem, keyPem: server.keyPem } });
  t.same(config?.secrets.get('mesh-ca'), { kind: 'validation_context', name: 'mesh-ca', value: { trustedCaPem: server.rootCertPem, sanMatchers: [] } });
});

t.test('a static secret name that does not exist is rejected at .name', async (t) => {
  const doc = bootstrap({
    secrets: [serverSecret],
    clusters: [cluster('backend', { transport_socket: upstreamTls({ tls_certificate_sds_secret_configs: [{ name: 'nope' }] }) })],
  });
  t.same(problems(doc), [
    'static_resources.clusters[1].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name: no static secret "nope" in static_resources.secrets (or give sds_config to take it over ADS)',
  ]);
});

t.test('sds_config without ADS in the bootstrap is rejected; with ADS the secret comes over SDS', async (t) => {
  const sdsCert = { tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {}, resource_api_version: 'V3' } }] };
  t.same(problems(bootstrap({ clusters: [cluster('backend', { transport_socket: upstreamTls(sdsCert) })] })), [
    'static_resources.clusters[1].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.ads: needs dynamic_resources.ads_config in the bootstrap',
  ]);
  const withAds = accepted(t, bootstrap({ ads: true, clusters: [cluster('backend', { transport_socket: upstreamTls(sdsCert) })] }));
  t.match(withAds?.clusters.find((c) => c.name === 'backend')?.tls, { certificate: { kind: 'secret', name: 'default', sds: true } });
});

t.test('static_resources.secrets: a bad PEM is rejected at its path', async (t) => {
  const doc = bootstrap({
    secrets: [
      { name: 'bad-chain', tls_certificate: { certificate_chain: { inline_string: 'garbage' }, private_key: { inline_string: server.keyPem } } },
      { name: 'bad-key', tls_certificate: { certificate_chain: { inline_string: server.certChainPem }, private_key: { inline_string: 'garbage' } } },
      { name: 'bad-ca', validation_context: { trusted_ca: { inline_string: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } } },
    ],
  });
  const lines = problems(doc);
  t.same(problemPaths(doc), [
    'static_resources.secrets[0].tls_certificate.certificate_chain',
    'static_resources.secrets[1].tls_certificate.private_key',
    'static_resources.secrets[2].validation_context.trusted_ca',
  ]);
  t.match(lines[0], /no PEM certificate found$/);
  t.match(lines[1], /: not a PEM private key: /);
  t.match(lines[2], /: a certificate does not parse: /);
});

t.test('static_resources.secrets: a name is required, a name may not repeat, and a secret holds a certificate or a validation context', async (t) => {
  const doc = bootstrap({ secrets: [serverSecret, { ...caSecret, name: 'server-cert' }, { tls_certificate: inlineCertificate(server) }, { name: 'empty' }] });
  t.same(problems(doc), [
    'static_resources.secrets[1].name: duplicate secret name "server-cert"',
    'static_resources.secrets[2].name: required',
    'static_resources.secrets[3]: one of tls_certificate, validation_context is required (meshlet supports these two)',
  ]);
});

t.test('combined_validation_context: default SAN matchers with a static or SDS validation context', async (t) => {
  const combined = (sdsConfig?: object) => ({
    tls_certificates: [inlineCertificate(server)],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://mesh.test/' } }] },
      validation_context_sds_secret_config: { name: 'mesh-ca', ...(sdsConfig === undefined ? {} : { sds_config: sdsConfig }) },
    },
  });
  const config = accepted(
    t,
    bootstrap({
      secrets: [caSecret],
      listeners: [listener([filterChain({ transportSocket: downstreamTls(combined(), { require_client_certificate: true }) })])],
    }),
  );
  const tls = config?.listeners[0]?.chains[0]?.tls;
  t.match(tls, { requireClientCertificate: true, validation: { kind: 'secret', name: 'mesh-ca', sds: false }, defaultValidation: { trustedCaPem: undefined } });
  t.same(
    tls?.defaultValidation?.sanMatchers.map((m) => m.type),
    ['URI'],
  );
  t.ok(tls?.defaultValidation?.sanMatchers[0]?.matcher.matches(mesh.spiffeId('client')));

  const overAds = accepted(t, bootstrap({ ads: true, listeners: [listener([filterChain({ transportSocket: downstreamTls(combined({ ads: {} })) })])] }));
  t.match(overAds?.listeners[0]?.chains[0]?.tls, { validation: { kind: 'secret', name: 'mesh-ca', sds: true } });

  // validation_context_sds_secret_config is required in a combined context (the protos' validation rules say so).
  const missing = bootstrap({
    listeners: [
      listener([
        filterChain({
          transportSocket: downstreamTls({ tls_certificates: [inlineCertificate(server)], combined_validation_context: { default_validation_context: {} } }),
        }),
      ]),
    ],
  });
  t.same(problems(missing), [`${COMMON0}.combined_validation_context.validation_context_sds_secret_config: value is required`]);
});

// ---------------------------------------------------------------------------------------------
// Listeners: filter chains and listener filters

t.test('several filter chains with filter_chain_match, behind the tls_inspector', async (t) => {
  const doc = bootstrap({
    listeners: [
      listener(
        [
          filterChain({
            name: 'mtls',
            match: { transport_protocol: 'tls', server_names: ['API.mesh.test', '*.mesh.test'] },
            transportSocket: downstreamTls({ tls_certificates: [inlineCertificate(server)] }),
          }),
          filterChain({ name: 'plaintext', match: { transport_protocol: 'raw_buffer' } }),
          filterChain({}),
        ],
        { listener_filters: [TLS_INSPECTOR] },
      ),
    ],
  });
  const parsed = accepted(t, doc)?.listeners[0];
  t.equal(parsed?.tlsInspector, true);
  t.same(
    parsed?.chains.map((c) => ({ name: c.name, match: c.match, tls: c.tls?.side })),
    [
      { name: 'mtls', match: { transportProtocol: 'tls', serverNames: ['api.mesh.test', '*.mesh.test'] }, tls: 'downstream' },
      { name: 'plaintext', match: { transportProtocol: 'raw_buffer', serverNames: [] }, tls: undefined },
      { name: '2', match: { transportProtocol: undefined, serverNames: [] }, tls: undefined },
    ],
  );
});

t.test('listener_filters: an unknown listener filter is rejected at its index', async (t) => {
  const doc = bootstrap({
    listeners: [listener([filterChain()], { listener_filters: [TLS_INSPECTOR, { name: 'envoy.filters.listener.original_dst' }] })],
  });
  t.same(problems(doc), [
    `${LISTENER0}.listener_filters[1]: listener filter "envoy.filters.listener.original_dst" is not supported; meshlet has envoy.filters.listener.tls_inspector`,
  ]);
});

t.test('matching on transport_protocol tls or server_names needs the tls_inspector', async (t) => {
  const message = 'matching on transport_protocol "tls" or server_names needs the envoy.filters.listener.tls_inspector listener filter';
  const doc = bootstrap({
    listeners: [
      listener([
        filterChain({ match: { transport_protocol: 'tls' }, transportSocket: downstreamTls({ tls_certificates: [inlineCertificate(server)] }) }),
        filterChain({ match: { server_names: ['a.mesh.test'] } }),
        filterChain({ match: { transport_protocol: 'raw_buffer' } }),
      ]),
    ],
  });
  t.same(problems(doc), [`${LISTENER0}.filter_chains[0].filter_chain_match: ${message}`, `${LISTENER0}.filter_chains[1].filter_chain_match: ${message}`]);
});

t.test('a transport_protocol other than tls and raw_buffer is rejected', async (t) => {
  const doc = bootstrap({ listeners: [listener([filterChain({ match: { transport_protocol: 'quic' } })], { listener_filters: [TLS_INSPECTOR] })] });
  t.same(problems(doc), [`${LISTENER0}.filter_chains[0].filter_chain_match.transport_protocol: "quic" is not supported (tls, raw_buffer)`]);
});

t.test('two filter chains with the same match are rejected, naming the first; overlapping ones too', async (t) => {
  const doc = bootstrap({
    listeners: [
      listener(
        [
          filterChain({ match: { transport_protocol: 'tls', server_names: ['a.mesh.test', 'b.mesh.test'] }, transportSocket: downstreamTls({ tls_certificates: [inlineCertificate(server)] }) }),
          filterChain({ match: { transport_protocol: 'raw_buffer' } }),
          filterChain({ match: { server_names: ['B.mesh.test', 'a.mesh.test'], transport_protocol: 'tls' } }),
          filterChain(),
          filterChain({ match: {} }),
        ],
        { listener_filters: [TLS_INSPECTOR] },
      ),
    ],
  });
  t.same(problems(doc), [
    `${LISTENER0}.filter_chains[2].filter_chain_match: overlaps filter_chains[0]'s: a connection could match both, which Envoy rejects`,
    `${LISTENER0}.filter_chains[4].filter_chain_match: overlaps filter_chains[3]'s: a connection could match both, which Envoy rejects`,
  ]);

  // Envoy also rejects chains that merely overlap ("multiple filter chains with overlapping matching
  // rules are defined"): b.mesh.test is in both, with the same (unset) transport protocol.
  const overlapping = bootstrap({
    listeners: [
      listener([filterChain({ match: { server_names: ['a.mesh.test', 'b.mesh.test'] } }), filterChain({ match: { server_names: ['b.mesh.test'] } })], {
        listener_filters: [TLS_INSPECTOR],
      }),
    ],
  });
  t.same(problemPaths(overlapping), [`${LISTENER0}.filter_chains[1].filter_chain_match`], 'overlapping server names are rejected at the second chain');
});
