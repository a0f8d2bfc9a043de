import t from 'tap';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, loadCertificateAuthority, saveCertificateAuthority } from '../../certs/certificate-authority';

const createdFrom = Date.now();
const ca = createCertificateAuthority({ trustDomain: 'cluster.local' });
const createdTo = Date.now();
const root = new X509Certificate(ca.rootCertPem);
const intermediate = new X509Certificate(ca.signingCertPem);

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'meshlet-ca-'));
}

t.test('the root is a self-signed CA named for the trust domain', async (t) => {
  t.ok(root.ca);
  t.ok(root.checkIssued(root));
  t.ok(root.verify(root.publicKey));
  t.equal(root.subject, 'O=meshlet\nCN=meshlet root CA cluster.local');
  t.ok(root.checkPrivateKey(createPrivateKey(ca.rootKeyPem)));
  t.match(root.toLegacyObject(), { bits: 2048 });
});

t.test('the intermediate is a CA issued and signed by the root, with its own key', async (t) => {
  t.ok(intermediate.ca);
  t.ok(intermediate.checkIssued(root));
  t.ok(intermediate.verify(root.publicKey));
  t.notOk(intermediate.verify(intermediate.publicKey), 'not self-signed');
  t.ok(intermediate.checkPrivateKey(createPrivateKey(ca.signingKeyPem)));
  t.notOk(intermediate.checkPrivateKey(createPrivateKey(ca.rootKeyPem)));
  t.not(intermediate.serialNumber, root.serialNumber);
});

t.test('validity defaults to ten years (root) and one year (intermediate), from a minute ago', async (t) => {
  const year = 365 * 86_400_000;
  const from = Date.parse(root.validFrom);
  t.ok(from > createdFrom - 61_000 && from <= createdTo - 60_000, root.validFrom);
  t.equal(Date.parse(root.validTo) - from, 10 * year);
  t.equal(Date.parse(intermediate.validTo) - Date.parse(intermediate.validFrom), year);
});

t.test('explicit notBefore and validities are used as given', async (t) => {
  const notBefore = new Date('2030-01-01T00:00:00Z');
  const other = createCertificateAuthority({ trustDomain: 'example.org', notBefore, rootValidityMs: 7_200_000, signingValidityMs: 3_600_000 });
  const otherRoot = new X509Certificate(other.rootCertPem);
  const otherIntermediate = new X509Certificate(other.signingCertPem);
  t.equal(new Date(otherRoot.validFrom).toISOString(), '2030-01-01T00:00:00.000Z');
  t.equal(new Date(otherRoot.validTo).toISOString(), '2030-01-01T02:00:00.000Z');
  t.equal(new Date(otherIntermediate.validTo).toISOString(), '2030-01-01T01:00:00.000Z');
});

t.test('an invalid trust domain is refused', async (t) => {
  t.throws(() => createCertificateAuthority({ trustDomain: 'Cluster.Local' }), /invalid trust domain "Cluster.Local": trust domain must be lowercase/);
  t.throws(() => createCertificateAuthority({ trustDomain: 'a/b' }), /invalid trust domain "a\/b"/);
});

t.test('save writes the files with private keys 0600 in a 0700 directory, and load reads them back', async (t) => {
  const dir = join(tempDir(), 'ca');
  saveCertificateAuthority(ca, dir);
  t.equal(statSync(dir).mode & 0o777, 0o700);
  t.equal(statSync(join(dir, 'root-key.pem')).mode & 0o777, 0o600);
  t.equal(statSync(join(dir, 'ca-key.pem')).mode & 0o777, 0o600);
  t.equal(readFileSync(join(dir, 'root-cert.pem'), 'utf8'), ca.rootCertPem);
  t.equal(readFileSync(join(dir, 'ca-cert.pem'), 'utf8'), ca.signingCertPem);
  t.equal(readFileSync(join(dir, 'trust-domain'), 'utf8'), 'cluster.local\n');
  t.same(loadCertificateAuthority(dir), {
    trustDomain: ca.trustDomain,
    rootCertPem: ca.rootCertPem,
    signingCertPem: ca.signingCertPem,
    signingKeyPem: ca.signingKeyPem,
  });
});

t.test('a key file rewritten over a world-readable one is still 0600', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'ca-key.pem'), 'old', { mode: 0o644 });
  saveCertificateAuthority(ca, dir);
  t.equal(statSync(join(dir, 'ca-key.pem')).mode & 0o777, 0o600);
});

t.test('without the root key, the CA still saves and loads (the root key can stay offline)', async (t) => {
  const dir = tempDir();
  const { rootKeyPem: _, ...online } = ca;
  saveCertificateAuthority(online, dir);
  t.throws(() => statSync(join(dir, 'root-key.pem')), { code: 'ENOENT' });
  t.equal(loadCertificateAuthority(dir).signingKeyPem, ca.signingKeyPem);
});

/** The message loading `dir` fails with (an error if it loads). */
function loadError(dir: string): string {
  try {
    loadCertificateAuthority(dir);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${dir} loaded`);
}

t.test('load names the missing or broken file', async (t) => {
  const missingDir = join(tempDir(), 'nope');
  t.equal(loadError(missingDir), `${missingDir}: no such directory`);

  const saved = () => {
    const dir = tempDir();
    saveCertificateAuthority(ca, dir);
    return dir;
  };
  for (const name of ['root-cert.pem', 'ca-cert.pem', 'ca-key.pem', 'trust-domain']) {
    const dir = saved();
    rmSync(join(dir, name));
    t.match(loadError(dir), `${join(dir, name)}: missing (expected `, name);
  }

  const garbage = saved();
  writeFileSync(join(garbage, 'ca-cert.pem'), 'not a certificate');
  t.match(loadError(garbage), `${join(garbage, 'ca-cert.pem')}: not a PEM certificate`);

  const badKey = saved();
  writeFileSync(join(badKey, 'ca-key.pem'), 'not a key');
  t.match(loadError(badKey), `${join(badKey, 'ca-key.pem')}: not a PEM private key`);

  const wrongKey = saved();
  writeFileSync(join(wrongKey, 'ca-key.pem'), ca.rootKeyPem);
  t.equal(loadError(wrongKey), `${join(wrongKey, 'ca-key.pem')}: not the key of ${join(wrongKey, 'ca-cert.pem')}`);

  const wrongRoot = saved();
  writeFileSync(join(wrongRoot, 'root-cert.pem'), ca.signingCertPem);
  t.equal(loadError(wrongRoot), `${join(wrongRoot, 'ca-cert.pem')}: not signed by the root in ${join(wrongRoot, 'root-cert.pem')}`);

  const badDomain = saved();
  writeFileSync(join(badDomain, 'trust-domain'), 'Not Valid\n');
  t.match(loadError(badDomain), `${join(badDomain, 'trust-domain')}: invalid trust domain "Not Valid"`);
});
