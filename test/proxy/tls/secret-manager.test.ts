import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server } from 'node:tls';
import pino from 'pino';
import t from 'tap';
import type { ConfigIssue } from '../../../xds/config-error';
import { decodeJson } from '../../../xds/proto-json';
import { SECRET, type XdsUpdate } from '../../../xds/xds-resource-types';
import { verifyPeer } from '../../../proxy/tls/peer-verification';
import { parseValidationContext, type Secret } from '../../../proxy/tls/secret';
import { SecretManager } from '../../../proxy/tls/secret-manager';
import type { DownstreamTlsConfig, UpstreamTlsConfig, ValidationContext } from '../../../proxy/tls/tls-config';
import { TlsMaterial, type ResolvedTls } from '../../../proxy/tls/tls-material';
import { TestMeshCa, type CertFiles } from '../../helpers/mesh-certs';

/**
 * SecretManager and TlsMaterial together, as a listener or cluster uses them: a TLS context
 * naming SDS secrets warms until they arrive, rebuilds when they rotate, and keeps what it has
 * when an update is rejected.
 */

const log = pino({ level: 'silent' });
const mesh = new TestMeshCa();
const certs: CertFiles[] = [];
function issue(serviceAccount: string): CertFiles {
  const cert = mesh.issue(serviceAccount);
  certs.push(cert);
  return cert;
}
const serverV1 = issue('server');
const serverV2 = issue('server');
const other = issue('other');
t.teardown(() => {
  for (const cert of certs) rmSync(cert.dir, { recursive: true, force: true });
});

const SECRET_MESSAGE = 'envoy.extensions.transport_sockets.tls.v3.Secret';

const certificateSecret = (name: string, cert: { certChainPem: string; keyPem: string }) => ({
  name,
  tls_certificate: { certificate_chain: { inline_string: cert.certChainPem }, private_key: { inline_string: cert.keyPem } },
});
const validationSecret = (name: string, context: object) => ({ name, validation_context: context });

/** An SDS update as the xDS client hands it over: decoded Secrets, with bytes that differ per version. */
function sdsUpdate(version: string, secrets: object[]): XdsUpdate {
  return {
    type: SECRET,
    version,
    resources: secrets.map((secret: any) => ({
      name: secret.name,
      version,
      value: decodeJson(SECRET_MESSAGE, secret),
      bytes: new TextEncoder().encode(`${secret.name}@${version}`),
    })),
    removed: [],
  };
}

function downstream(overrides: Partial<DownstreamTlsConfig>): DownstreamTlsConfig {
  return {
    side: 'downstream',
    requireClientCertificate: false,
    certificate: undefined,
    validation: undefined,
    defaultValidation: undefined,
    alpnProtocols: [],
    minVersion: 'TLSv1.2',
    maxVersion: undefined,
    ...overrides,
  };
}

function upstream(overrides: Partial<UpstreamTlsConfig>): UpstreamTlsConfig {
  return {
    side: 'upstream',
    sni: undefined,
    certificate: undefined,
    validation: undefined,
    defaultValidation: undefined,
    alpnProtocols: [],
    minVersion: 'TLSv1.2',
    maxVersion: undefined,
    ...overrides,
  };
}

const sds = (name: string) => ({ kind: 'secret' as const, name, sds: true });

/** Whether `promise` has settled once everything already queued has run (no clock involved). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

function serialOf(tls: ResolvedTls | undefined): string | undefined {
  return tls?.certificate && new X509Certificate(tls.certificate.certChainPem).serialNumber;
}

function sha256Of(certChainPem: string): string {
  return new X509Certificate(certChainPem).fingerprint256.replace(/:/g, '').toLowerCase();
}

t.test('a context naming SDS secrets warms until applySecrets delivers every one', async (t) => {
  const secrets = new SecretManager(new Map(), log);
  const material = new TlsMaterial(downstream({ certificate: sds('default'), validation: sds('ROOTCA'), requireClientCertificate: true }), secrets);
  t.teardown(() => material.close());
  const ready = material.ready();
  t.equal(material.current, undefined);
  t.equal(await settled(ready), false, 'not ready before SDS');

  t.equal(secrets.applySecrets(sdsUpdate('1', [certificateSecret('default', serverV1)])), undefined);
  t.equal(material.current, undefined, 'still waiting for the trust bundle');
  t.equal(await settled(ready), false);

  // A secret of the other kind under the awaited name does not count.
  t.equal(secrets.applySecrets(sdsUpdate('1', [certificateSecret('ROOTCA', other)])), undefined);
  t.equal(material.current, undefined, 'a tls_certificate is no validation context');

  t.equal(secrets.applySecrets(sdsUpdate('2', [validationSecret('ROOTCA', { trusted_ca: { inline_string: serverV1.rootCertPem } })])), undefined);
  t.equal(await settled(ready), true, 'ready once both arrived');
  const current = material.current;
  t.ok(current?.secureContext, 'a secure context');
  t.same(current?.requirement, { required: true, verifyChain: true, sanMatchers: [] });
  t.same(current?.certificate, { certChainPem: serverV1.certChainPem, keyPem: serverV1.keyPem });
  t.equal(current?.contextOptions.ca, serverV1.rootCertPem);
  t.same(current?.localIdentity?.uriSans, [mesh.spiffeId('server')]);
  t.equal(current?.localIdentity?.sha256, sha256Of(serverV1.certChainPem));
  await material.ready(); // resolves at once now
});

t.test('static secrets resolve at once and are not subscribed to', async (t) => {
  const staticSecrets = new Map<string, Secret>([
    ['server-cert', { kind: 'tls_certificate', name: 'server-cert', value: { certChainPem: serverV1.certChainPem, keyPem: serverV1.keyPem } }],
  ]);
  const secrets = new SecretManager(staticSecrets, log);
  const subscriptions: string[][] = [];
  secrets.subscribe = (names) => subscriptions.push([...names]);
  const material = new TlsMaterial(downstream({ certificate: { kind: 'secret', name: 'server-cert', sds: false } }), secrets);
  t.equal(await settled(material.ready()), true);
  t.equal(serialOf(material.current), new X509Certificate(serverV1.certChainPem).serialNumber);
  t.same(material.current?.requirement, { required: false, verifyChain: false, sanMatchers: [] });
  t.same(subscriptions, []);
  t.same(secrets.names(), new Set());
  material.close();
  t.same(subscriptions, []);
});

t.test('subscribe is called with the watched names when they change, and again when a watcher goes', async (t) => {
  const secrets = new SecretManager(new Map(), log);
  const subscriptions: string[][] = [];
  secrets.subscribe = (names) => subscriptions.push([...names].sort());

  const listener = new TlsMaterial(downstream({ certificate: sds('default'), validation: sds('ROOTCA') }), secrets);
  t.same(subscriptions, [['default'], ['ROOTCA', 'default']]);
  const cluster = new TlsMaterial(upstream({ certificate: sds('default'), validation: sds('ROOTCA') }), secrets);
  t.same(subscriptions.length, 2, 'names already watched: no new subscription');
  const another = new TlsMaterial(upstream({ certificate: sds('other-cert') }), secrets);
  t.same(subscriptions.at(-1), ['ROOTCA', 'default', 'other-cert']);

  secrets.applySecrets(sdsUpdate('1', [certificateSecret('default', serverV1), certificateSecret('other-cert', other)]));
  t.ok(secrets.get(sds('default')));

  cluster.close();
  t.same(subscriptions.length, 3, 'the listener still watches both');
  another.close();
  t.same(subscriptions.at(-1), ['ROOTCA', 'default']);
  t.equal(secrets.get(sds('other-cert')), undefined, 'a secret nobody watches is dropped');
  listener.close();
  t.same(subscriptions.slice(3), [['ROOTCA', 'default'], ['ROOTCA'], []]);
  t.same(secrets.names(), new Set());
  t.equal(secrets.get(sds('default')), undefined);
});

t.test('a new version of a secret: onChange with a new secure context and local identity', async (t) => {
  const secrets = new SecretManager(new Map(), log);
  const material = new TlsMaterial(downstream({ certificate: sds('default') }), secrets);
  t.teardown(() => material.close());
  const changes: ResolvedTls[] = [];
  const stop = material.onChange((tls) => changes.push(tls));

  secrets.applySecrets(sdsUpdate('1', [certificateSecret('default', serverV1)]));
  t.equal(changes.length, 1);
  const first = material.current!;
  t.equal(serialOf(first), new X509Certificate(serverV1.certChainPem).serialNumber);

  // SotW repeats unchanged resources: the same bytes change nothing.
  secrets.applySecrets(sdsUpdate('1', [certificateSecret('default', serverV1)]));
  t.equal(changes.length, 1, 'the same bytes again: no change');
  t.equal(material.current, first);

  secrets.applySecrets(sdsUpdate('2', [certificateSecret('default', serverV2)]));
  t.equal(changes.length, 2);
  const second = material.current!;
  t.equal(changes[1], second);
  t.not(second.secureContext, first.secureContext);
  t.equal(serialOf(second), new X509Certificate(serverV2.certChainPem).serialNumber);
  t.not(serialOf(second), serialOf(first));
  t.equal(second.localIdentity?.sha256, sha256Of(serverV2.certChainPem));
  t.not(second.localIdentity?.sha256, first.localIdentity?.sha256);
  t.same(second.localIdentity?.uriSans, first.localIdentity?.uriSans, 'the same identity, a new certificate');
  t.same(secrets.dump().dynamic.map((s) => [s.name, s.version]), [['default', '2']]);

  stop();
  secrets.applySecrets(sdsUpdate('3', [certificateSecret('default', serverV1)]));
  t.equal(changes.length, 2, 'no more calls once the listener stopped');
  t.equal(serialOf(material.current), new X509Certificate(serverV1.certChainPem).serialNumber);
});

t.test('new handshakes get the rotated certificate', async (t) => {
  const secrets = new SecretManager(new Map(), log);
  const material = new TlsMaterial(downstream({ certificate: sds('default') }), secrets);
  t.teardown(() => material.close());
  secrets.applySecrets(sdsUpdate('1', [certificateSecret('default', serverV1)]));
  const server: Server = createServer(material.current!.contextOptions, (socket) => socket.end());
  material.onChange((tls) => server.setSecureContext(tls.contextOptions));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;

  const peerSerial = () =>
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: serverV1.rootCertPem, checkServerIdentity: () => undefined }, () => {
        const serial = socket.getPeerX509Certificate()?.serialNumber ?? '(none)';
        socket.destroy();
        resolve(serial);
      });
      socket.on('error', reject);
    });

  t.equal(await peerSerial(), new X509Certificate(serverV1.certChainPem).serialNumber);
  secrets.applySecrets(sdsUpdate('2', [certificateSecret('default', serverV2)]));
  t.equal(await peerSerial(), new X509Certificate(serverV2.certChainPem).serialNumber);
});

t.test('an invalid secret is rejected, naming the secret and the field; the previous one stays current', async (t) => {
  const secrets = new SecretManager(new Map(), log);
  const material = new TlsMaterial(downstream({ certificate: sds('default'), validation: sds('ROOTCA') }), secrets);
  t.teardown(() => material.close());
  let changes = 0;
  material.onChange(() => changes++);
  t.equal(
    secrets.applySecrets(sdsUpdate('1', [certificateSecret('default', serverV1), validationSecret('ROOTCA', { trusted_ca: { inline_string: serverV1.rootCertPem } })])),
    undefined,
  );
  const before = material.current;
  t.equal(changes, 1);

  // serverV2's chain with other's key.
  const mismatched = certificateSecret('default', { certChainPem: serverV2.certChainPem, keyPem: other.keyPem });
  t.equal(
    secrets.applySecrets(sdsUpdate('2', [mismatched])),
    'Secret "default": tls_certificate.private_key: does not match the certificate (the first in certificate_chain)',
  );
  t.equal(material.current, before, 'the context is unchanged');
  t.equal(changes, 1, "no onChange for a rejected update");
  t.same(secrets.get(sds('default')), { kind: 'tls_certificate', name: 'default', value: { certChainPem: serverV1.certChainPem, keyPem: serverV1.keyPem } });

  // All or nothing: a good secret next to a bad one is not applied either; every problem is named.
  const error = secrets.applySecrets(
    sdsUpdate('3', [
      certificateSecret('default', serverV2),
      validationSecret('ROOTCA', { trusted_ca: { inline_string: 'not PEM' }, match_typed_subject_alt_names: [{ san_type: 'EMAIL', matcher: { exact: 'a@b' } }] }),
    ]),
  );
  t.equal(
    error,
    [
      'Secret "ROOTCA": validation_context.trusted_ca: no PEM certificate found',
      'Secret "ROOTCA": validation_context.match_typed_subject_alt_names[0].san_type: EMAIL is not supported (supported: URI, DNS)',
    ].join('\n'),
  );
  t.equal(material.current, before);
  t.equal(serialOf(material.current), new X509Certificate(serverV1.certChainPem).serialNumber, 'the good certificate of a rejected update is not taken');
  t.same(secrets.dump().dynamic.map((s) => [s.name, s.version]).sort(), [['ROOTCA', '1'], ['default', '1']]);

  // The next good update applies.
  t.equal(secrets.applySecrets(sdsUpdate('4', [certificateSecret('default', serverV2)])), undefined);
  t.equal(serialOf(material.current), new X509Certificate(serverV2.certChainPem).serialNumber);
  t.equal(changes, 2);
});

function validationContext(config: object): ValidationContext {
  const issues: ConfigIssue[] = [];
  const decoded = decodeJson('envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext', config);
  const context = parseValidationContext(decoded, 'default_validation_context', issues);
  if (context === undefined) throw new Error(JSON.stringify(issues));
  return context;
}

t.test('combined validation: the default SAN matchers and the SDS trust bundle and matchers merge', async (t) => {
  const secrets = new SecretManager(new Map(), log);
  const clientId = mesh.spiffeId('client');
  const material = new TlsMaterial(
    downstream({
      certificate: sds('default'),
      validation: sds('ROOTCA'),
      defaultValidation: validationContext({ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: clientId } }] }),
      requireClientCertificate: true,
    }),
    secrets,
  );
  t.teardown(() => material.close());
  secrets.applySecrets(
    sdsUpdate('1', [
      certificateSecret('default', serverV1),
      validationSecret('ROOTCA', {
        trusted_ca: { inline_string: serverV1.rootCertPem },
        match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'legacy.mesh.test' } }],
      }),
    ]),
  );
  const requirement = material.current!.requirement;
  t.equal(material.current?.contextOptions.ca, serverV1.rootCertPem, 'the trust bundle from SDS');
  t.same(
    requirement.sanMatchers.map((m) => m.type),
    ['URI', 'DNS'],
    "the default's matchers, then SDS's",
  );
  t.same(
    { required: requirement.required, verifyChain: requirement.verifyChain },
    { required: true, verifyChain: true },
  );
  const peer = (uriSans: string[], dnsSans: string[]) => ({ hasCertificate: true, verifyError: undefined, uriSans, dnsSans });
  t.same(verifyPeer(peer([clientId], []), requirement), { ok: true });
  t.same(verifyPeer(peer([], ['legacy.mesh.test']), requirement), { ok: true });
  t.match(verifyPeer(peer([mesh.spiffeId('intruder')], []), requirement), { ok: false, reason: 'san_mismatch' });

  // A rotated trust bundle keeps the default matchers.
  secrets.applySecrets(sdsUpdate('2', [validationSecret('ROOTCA', { trusted_ca: { inline_string: other.rootCertPem + serverV1.rootCertPem } })]));
  t.equal(material.current?.contextOptions.ca, other.rootCertPem + serverV1.rootCertPem);
  t.same(
    material.current?.requirement.sanMatchers.map((m) => m.type),
    ['URI'],
  );
});

t.test('combined validation: without a trust bundle from SDS, the default one applies', async (t) => {
  const secrets = new SecretManager(new Map(), log);
  const material = new TlsMaterial(
    upstream({
      validation: sds('ROOTCA'),
      defaultValidation: validationContext({ trusted_ca: { inline_string: serverV1.rootCertPem } }),
    }),
    secrets,
  );
  t.teardown(() => material.close());
  t.equal(material.current, undefined, 'waits for the SDS part even with a default');
  secrets.applySecrets(sdsUpdate('1', [validationSecret('ROOTCA', { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://mesh.test/' } }] })]));
  t.equal(material.current?.contextOptions.ca, serverV1.rootCertPem);
  t.same(
    { required: material.current?.requirement.required, verifyChain: material.current?.requirement.verifyChain },
    { required: true, verifyChain: true },
    'an upstream with a trusted CA requires and verifies the certificate',
  );
  t.equal(material.current?.requirement.sanMatchers.length, 1);
});
