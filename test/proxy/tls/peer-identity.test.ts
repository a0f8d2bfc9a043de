import t from 'tap';
import { readFileSync } from 'node:fs';
import { peerIdentity, principalName } from '../../../proxy/tls/peer-identity';
import { OpensslCertificates } from './fixtures/openssl-certificates';

const certs = new OpensslCertificates();
t.teardown(() => certs.remove());

const ca = certs.issue('ca', { subject: '/O=Acme/CN=Acme Root CA' });
const leaf = certs.issue('leaf', {
  subject: '/C=US/O=Acme/CN=foo',
  altNames: ['URI.1 = spiffe://td/ns/a/sa/b', 'DNS.1 = foo.example', 'URI.2 = spiffe://td/ns/a/sa/c', 'DNS.2 = bar.example'],
  issuer: 'ca',
});

/** openssl's own RFC 2253 rendering, which is what Envoy (BoringSSL, XN_FLAG_RFC2253) prints. */
function opensslSubject(name: string): string {
  return certs.openssl(['x509', '-in', certs.pemFile(name), '-noout', '-subject', '-nameopt', 'RFC2253']).replace(/^subject=/, '').replace(/\n$/, '');
}

t.test('SANs in certificate order, by type', async (t) => {
  const peer = peerIdentity(leaf);
  t.same(peer.uriSans, ['spiffe://td/ns/a/sa/b', 'spiffe://td/ns/a/sa/c']);
  t.same(peer.dnsSans, ['foo.example', 'bar.example']);
});

t.test('the subject in RFC 2253 order: most specific first', async (t) => {
  t.equal(peerIdentity(leaf).subject, 'CN=foo,O=Acme,C=US');
  t.equal(peerIdentity(leaf).subject, opensslSubject('leaf'));
});

t.test('subjects that need escaping come out as openssl prints RFC 2253', async (t) => {
  const subjects = [
    '/O=Acme, Inc. "West"/CN=a<b>;c',
    '/OU=ops+CN=multi valued/O=x',
    '/CN=Zoë 東京/O=\\#leading hash',
    '/CN= padded ',
    '/CN=back\\\\slash/emailAddress=a@b.example',
  ];
  subjects.forEach((subject, i) => {
    const name = `subject-${i}`;
    const cert = certs.issue(name, { subject });
    t.equal(peerIdentity(cert).subject, opensslSubject(name), subject);
  });
});

t.test('SAN values with commas or quotes, which node prints as JSON strings', async (t) => {
  const cert = certs.issue('quoted-sans', {
    subject: '/CN=quoted',
    altNames: ['URI.1 = "http://x.example/?a=1,b=2"', 'DNS.1 = plain.example', 'IP.1 = 10.0.0.1', 'email.1 = a@b.example'],
  });
  t.match(cert.subjectAltName, /URI:"http/, 'node quoted the value');
  const peer = peerIdentity(cert);
  t.same(peer.uriSans, ['http://x.example/?a=1,b=2']);
  t.same(peer.dnsSans, ['plain.example'], 'IP and email SANs are neither URI nor DNS');
});

t.test('a certificate without SANs', async (t) => {
  const peer = peerIdentity(ca);
  t.same(peer.uriSans, []);
  t.same(peer.dnsSans, []);
  t.equal(peer.subject, 'CN=Acme Root CA,O=Acme');
});

t.test('sha256 is the lowercase hex digest of the DER, as openssl fingerprints it', async (t) => {
  const fingerprint = certs.openssl(['x509', '-in', certs.pemFile('leaf'), '-noout', '-fingerprint', '-sha256']);
  const expected = fingerprint.trim().replace(/^.*=/, '').replace(/:/g, '').toLowerCase();
  t.equal(peerIdentity(leaf).sha256, expected);
  t.match(expected, /^[0-9a-f]{64}$/);
});

t.test('the leaf PEM, and the chain the peer sent after it', async (t) => {
  const alone = peerIdentity(leaf);
  t.equal(alone.certPem, readFileSync(certs.pemFile('leaf'), 'utf8'));
  t.equal(alone.chainPem, '');
  const withChain = peerIdentity(leaf, [ca]);
  t.equal(withChain.certPem, alone.certPem);
  t.equal(withChain.chainPem, readFileSync(certs.pemFile('ca'), 'utf8'));
});

t.test('principalName: the first URI SAN, else the first DNS SAN, else the subject', async (t) => {
  t.equal(principalName(peerIdentity(leaf)), 'spiffe://td/ns/a/sa/b');
  const dnsOnly = certs.issue('dns-only', { subject: '/CN=dns', altNames: ['DNS.1 = one.example', 'DNS.2 = two.example'] });
  t.equal(principalName(peerIdentity(dnsOnly)), 'one.example');
  t.equal(principalName(peerIdentity(ca)), 'CN=Acme Root CA,O=Acme');
});
