import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  forwardedClientCert,
  type ClientCertFields,
  type ForwardClientCertDetails,
} from '../../../proxy/http-filter/client-cert-header';
import { peerIdentity, type PeerIdentity } from '../../../proxy/tls/peer-identity';
import { OpensslCertificates } from '../tls/fixtures/openssl-certificates';

const HASH = 'ab'.repeat(32);

function identity(overrides: Partial<PeerIdentity> = {}): PeerIdentity {
  return {
    uriSans: [],
    dnsSans: [],
    subject: '',
    sha256: HASH,
    certPem: '-----BEGIN CERTIFICATE-----\nMII+/=\n-----END CERTIFICATE-----\n',
    chainPem: '',
    ...overrides,
  };
}

const proxy = identity({ uriSans: ['spiffe://td/ns/mesh/sa/proxy'], sha256: 'cd'.repeat(32) });
const client = identity({
  uriSans: ['spiffe://td/ns/a/sa/client', 'spiffe://td/ns/a/sa/second'],
  dnsSans: ['client.example', 'alt.example'],
  subject: 'CN=client,O=Acme\\, Inc \\"West\\",C=US',
  chainPem: '-----BEGIN CERTIFICATE-----\nCA==\n-----END CERTIFICATE-----\n',
});

const NO_FIELDS: ClientCertFields = { subject: false, cert: false, chain: false, dns: false, uri: false };
const ALL_FIELDS: ClientCertFields = { subject: true, cert: true, chain: true, dns: true, uri: true };
const ELEMENT = `By=spiffe://td/ns/mesh/sa/proxy;Hash=${HASH}`;
const EXISTING = `By=spiffe://td/ns/edge/sa/gw;Hash=${'ef'.repeat(32)}`;

const element = (fields: Partial<ClientCertFields>, peer = client, local = proxy) =>
  forwardedClientCert(undefined, 'SANITIZE_SET', { ...NO_FIELDS, ...fields }, local, peer);

t.test('each mode, with and without mTLS, with and without an incoming header', async (t) => {
  const cases: [mode: ForwardClientCertDetails, mtls: boolean, existing: string | undefined, expected: string | undefined][] = [
    ['SANITIZE', true, EXISTING, undefined],
    ['SANITIZE', true, undefined, undefined],
    ['SANITIZE', false, EXISTING, undefined],
    ['FORWARD_ONLY', true, EXISTING, EXISTING],
    ['FORWARD_ONLY', true, undefined, undefined],
    ['FORWARD_ONLY', false, EXISTING, undefined],
    ['ALWAYS_FORWARD_ONLY', true, EXISTING, EXISTING],
    ['ALWAYS_FORWARD_ONLY', false, EXISTING, EXISTING],
    ['ALWAYS_FORWARD_ONLY', false, undefined, undefined],
    ['APPEND_FORWARD', true, EXISTING, `${EXISTING},${ELEMENT}`],
    ['APPEND_FORWARD', true, undefined, ELEMENT],
    ['APPEND_FORWARD', true, '', ELEMENT],
    ['APPEND_FORWARD', false, EXISTING, undefined],
    ['SANITIZE_SET', true, EXISTING, ELEMENT],
    ['SANITIZE_SET', true, undefined, ELEMENT],
    ['SANITIZE_SET', false, EXISTING, undefined],
  ];
  for (const [mode, mtls, existing, expected] of cases) {
    const actual = forwardedClientCert(existing, mode, NO_FIELDS, proxy, mtls ? client : undefined);
    t.equal(actual, expected, `${mode}, ${mtls ? 'mTLS' : 'plaintext'}, ${existing === undefined ? 'no header' : JSON.stringify(existing)}`);
  }
});

t.test('appending keeps every earlier hop', async (t) => {
  const once = forwardedClientCert(undefined, 'APPEND_FORWARD', NO_FIELDS, proxy, client);
  const twice = forwardedClientCert(once, 'APPEND_FORWARD', { ...NO_FIELDS, uri: true }, proxy, client);
  t.equal(twice, `${ELEMENT},${ELEMENT};URI=spiffe://td/ns/a/sa/client`);
});

t.test('By is the first URI SAN of this proxy, omitted without one; Hash is always there', async (t) => {
  t.equal(element({}), ELEMENT);
  t.equal(element({}, client, identity({ uriSans: ['spiffe://a', 'spiffe://b'] })), `By=spiffe://a;Hash=${HASH}`);
  t.equal(element({}, client, identity({ dnsSans: ['proxy.example'] })), `Hash=${HASH}`);
  t.equal(forwardedClientCert(undefined, 'SANITIZE_SET', NO_FIELDS, undefined, client), `Hash=${HASH}`, 'no local certificate');
});

t.test('each field', async (t) => {
  const cases: [field: keyof ClientCertFields, expected: string][] = [
    ['cert', 'Cert="-----BEGIN%20CERTIFICATE-----%0AMII%2B%2F%3D%0A-----END%20CERTIFICATE-----%0A"'],
    [
      'chain',
      'Chain="-----BEGIN%20CERTIFICATE-----%0AMII%2B%2F%3D%0A-----END%20CERTIFICATE-----%0A' +
        '-----BEGIN%20CERTIFICATE-----%0ACA%3D%3D%0A-----END%20CERTIFICATE-----%0A"',
    ],
    ['subject', 'Subject="CN=client,O=Acme\\, Inc \\"West\\",C=US"'],
    ['uri', 'URI=spiffe://td/ns/a/sa/client'],
    ['dns', 'DNS=client.example;DNS=alt.example'],
  ];
  for (const [field, expected] of cases) t.equal(element({ [field]: true }), `${ELEMENT};${expected}`, field);
});

t.test("all fields, in Envoy's order", async (t) => {
  const all = element(ALL_FIELDS)!;
  t.same(
    all.split(';').map((pair) => pair.slice(0, pair.indexOf('='))),
    ['By', 'Hash', 'Cert', 'Chain', 'Subject', 'URI', 'DNS', 'DNS'],
  );
});

t.test('a peer without SANs or subject: URI and Subject keys stay, DNS keys go (as Envoy does)', async (t) => {
  const bare = identity();
  t.equal(element({ subject: true, uri: true, dns: true }, bare), `${ELEMENT};Subject="";URI=`);
  t.equal(element({ chain: true }, bare), `${ELEMENT};Chain="-----BEGIN%20CERTIFICATE-----%0AMII%2B%2F%3D%0A-----END%20CERTIFICATE-----%0A"`, 'the chain is the leaf alone');
});

t.test('values holding a separator are quoted, their quotes escaped', async (t) => {
  const odd = identity({ uriSans: ['http://x.example/?a=1,b="2"'], dnsSans: ['semi;colon.example'] });
  t.equal(
    element({ uri: true, dns: true }, odd, identity({ uriSans: ['urn:x=y'] })),
    `By="urn:x=y";Hash=${HASH};URI="http://x.example/?a=1,b=\\"2\\"";DNS="semi;colon.example"`,
  );
});

t.test('from real certificates: Hash, and Cert and Chain decode back to the PEM', async (t) => {
  const certs = new OpensslCertificates();
  t.teardown(() => certs.remove());
  const ca = certs.issue('ca', { subject: '/CN=Root' });
  const leaf = certs.issue('leaf', { subject: '/O=Acme/CN=client', altNames: ['URI.1 = spiffe://td/ns/a/sa/client'], issuer: 'ca' });
  const peer = peerIdentity(leaf, [ca]);
  const value = forwardedClientCert(undefined, 'SANITIZE_SET', ALL_FIELDS, proxy, peer)!;
  const pairs = new Map(value.split(';').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
  const unquote = (quoted: string) => quoted.replace(/^"|"$/g, '');
  const leafPem = readFileSync(certs.pemFile('leaf'), 'utf8');
  t.equal(pairs.get('Hash'), peer.sha256);
  t.match(unquote(pairs.get('Cert')!), /^[A-Za-z0-9%-]+$/, 'only the URL-encoded alphabet');
  t.equal(decodeURIComponent(unquote(pairs.get('Cert')!)), leafPem);
  t.equal(decodeURIComponent(unquote(pairs.get('Chain')!)), leafPem + readFileSync(certs.pemFile('ca'), 'utf8'));
  t.equal(pairs.get('Subject'), '"CN=client,O=Acme"');
  t.equal(pairs.get('URI'), 'spiffe://td/ns/a/sa/client');
});
