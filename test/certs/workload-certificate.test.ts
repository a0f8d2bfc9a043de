import t from 'tap';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority } from '../../certs/certificate-authority';
import { issueWorkloadCertificate, saveWorkloadCertificate } from '../../certs/workload-certificate';

const HOUR = 3_600_000;
const SPIFFE_ID = 'spiffe://cluster.local/ns/default/sa/web';
const ca = createCertificateAuthority({ trustDomain: 'cluster.local' });
const issuedFrom = Date.now();
const cert = issueWorkloadCertificate(ca, { spiffeId: SPIFFE_ID, ttlMs: 24 * HOUR, dnsNames: ['web.default.svc', '*.web.example.com'] });

/** The PEM blocks of a chain, parsed. */
function certificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));
}

t.test('the leaf is an X.509-SVID: one URI SAN with the SPIFFE ID, not a CA, for both ends of TLS', async (t) => {
  const [leaf] = certificates(cert.certChainPem);
  t.equal(leaf.subjectAltName, `URI:${SPIFFE_ID}, DNS:web.default.svc, DNS:*.web.example.com`);
  t.equal(leaf.subject, 'O=cluster.local');
  t.notOk(leaf.ca);
  t.same(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'serverAuth and clientAuth');
  t.equal(cert.spiffeId, SPIFFE_ID);
  t.equal(cert.rootCertPem, ca.rootCertPem);
});

t.test('without DNS names the URI is the only SAN', async (t) => {
  const bare = issueWorkloadCertificate(ca, { spiffeId: SPIFFE_ID, ttlMs: HOUR });
  t.equal(certificates(bare.certChainPem)[0].subjectAltName, `URI:${SPIFFE_ID}`);
});

t.test('the chain is leaf then intermediate, and verifies up to the root', async (t) => {
  const chain = certificates(cert.certChainPem);
  const root = new X509Certificate(ca.rootCertPem);
  t.equal(chain.length, 2);
  const [leaf, intermediate] = chain;
  t.equal(intermediate.fingerprint256, new X509Certificate(ca.signingCertPem).fingerprint256);
  t.ok(leaf.checkIssued(intermediate));
  t.ok(leaf.verify(intermediate.publicKey));
  t.notOk(leaf.verify(root.publicKey), 'signed by the intermediate, not the root');
  t.ok(intermediate.verify(root.publicKey));
  t.match(leaf.toLegacyObject(), { bits: 2048 });
});

t.test('the key is the leaf certificate\'s', async (t) => {
  const [leaf] = certificates(cert.certChainPem);
  t.ok(leaf.checkPrivateKey(createPrivateKey(cert.keyPem)));
  const other = issueWorkloadCertificate(ca, { spiffeId: SPIFFE_ID, ttlMs: HOUR });
  t.notOk(leaf.checkPrivateKey(createPrivateKey(other.keyPem)));
});

t.test('serial numbers are random and positive', async (t) => {
  const serials = [cert, issueWorkloadCertificate(ca, { spiffeId: SPIFFE_ID, ttlMs: HOUR })].map((c) => certificates(c.certChainPem)[0].serialNumber);
  t.not(serials[0], serials[1]);
  for (const serial of serials) t.match(serial, /^[89A-F][0-9A-F]{31}$/, '128 bits, top bit set, encoded positive');
});

t.test('by default valid from a minute ago (clock skew) for the ttl', async (t) => {
  const [leaf] = certificates(cert.certChainPem);
  // Cut to whole seconds, so up to a second before the minute.
  t.ok(cert.notBefore.getTime() > issuedFrom - 61_000 && cert.notBefore.getTime() <= Date.now() - 60_000, cert.notBefore.toISOString());
  t.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 24 * HOUR);
  t.equal(Date.parse(leaf.validFrom), cert.notBefore.getTime(), 'the dates returned are the certificate\'s');
  t.equal(Date.parse(leaf.validTo), cert.notAfter.getTime());
});

t.test('an explicit notBefore is used exactly, even in the past or future', async (t) => {
  const inTwoDays = Date.now() + 48 * HOUR;
  for (const notBefore of [new Date('2020-02-03T04:05:06Z'), new Date(inTwoDays - (inTwoDays % 1000))]) {
    const issued = issueWorkloadCertificate(ca, { spiffeId: SPIFFE_ID, ttlMs: 90_000, notBefore });
    const [leaf] = certificates(issued.certChainPem);
    t.equal(Date.parse(leaf.validFrom), notBefore.getTime());
    t.equal(Date.parse(leaf.validTo), notBefore.getTime() + 90_000);
    t.same([issued.notBefore, issued.notAfter], [notBefore, new Date(notBefore.getTime() + 90_000)]);
  }
});

t.test('refuses what would not make a valid SVID, naming the reason', async (t) => {
  const issue = (spiffeId: string, extra: { ttlMs?: number; dnsNames?: string[] } = {}) => () =>
    issueWorkloadCertificate(ca, { spiffeId, ttlMs: HOUR, ...extra });
  t.throws(issue('spiffe://cluster.local/ns/a/'), { message: 'invalid SPIFFE ID "spiffe://cluster.local/ns/a/": path has an empty segment (a double or trailing slash)' });
  t.throws(issue('http://cluster.local/ns/a'), /invalid SPIFFE ID "http:\/\/cluster.local\/ns\/a": must start with "spiffe:\/\/"/);
  t.throws(issue('spiffe://example.org/ns/a/sa/b'), {
    message: 'SPIFFE ID "spiffe://example.org/ns/a/sa/b" is in trust domain "example.org", but the CA signs for "cluster.local"',
  });
  t.throws(issue('spiffe://cluster.local'), /names the trust domain, not a workload/);
  t.throws(issue(SPIFFE_ID, { dnsNames: ['ok.example', 'bad name'] }), { message: 'invalid DNS name "bad name"' });
  t.throws(issue(SPIFFE_ID, { ttlMs: 0 }), /validity must be at least 1s/);
  t.throws(issue(SPIFFE_ID, { ttlMs: 400 * 24 * HOUR }), /would expire after the CA's intermediate/);
});

t.test('save writes Istio\'s file names, the key 0600', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'meshlet-workload-')), 'web');
  saveWorkloadCertificate(cert, dir);
  t.equal(readFileSync(join(dir, 'cert-chain.pem'), 'utf8'), cert.certChainPem);
  t.equal(readFileSync(join(dir, 'key.pem'), 'utf8'), cert.keyPem);
  t.equal(readFileSync(join(dir, 'root-cert.pem'), 'utf8'), ca.rootCertPem);
  t.equal(statSync(join(dir, 'key.pem')).mode & 0o777, 0o600);
  t.equal(statSync(dir).mode & 0o777, 0o700);
});
