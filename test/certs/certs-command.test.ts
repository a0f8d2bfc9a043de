import t from 'tap';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MESHLET_BIN = join(__dirname, '..', '..', '..', 'bin', 'meshlet.js');

/** `meshlet ...args` in a child process; asynchronous so a test's independent runs overlap. */
function meshlet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: typeof err?.code === 'number' ? err.code : err ? -1 : 0, stdout, stderr }),
    );
  });
}

const certs = (...args: string[]) => meshlet('certs', ...args);
const work = mkdtempSync(join(tmpdir(), 'meshlet-certs-cli-'));
const caDir = join(work, 'ca');

t.test('init-ca writes the CA and says what each file is', async (t) => {
  const initCa = await certs('init-ca', '--out', caDir, '--trust-domain', 'example.org');
  t.equal(initCa.code, 0, initCa.stderr);
  t.same(readdirSync(caDir).sort(), ['ca-cert.pem', 'ca-key.pem', 'root-cert.pem', 'root-key.pem', 'trust-domain']);
  t.equal(readFileSync(join(caDir, 'trust-domain'), 'utf8'), 'example.org\n');
  t.equal(statSync(join(caDir, 'ca-key.pem')).mode & 0o777, 0o600);
  t.match(initCa.stdout, 'CA for trust domain example.org');
  t.match(initCa.stdout, `${join(caDir, 'root-cert.pem')}  root certificate: the trust bundle`);
});

t.test('init-ca refuses to replace an existing CA unless --force', async (t) => {
  const rootBefore = readFileSync(join(caDir, 'root-cert.pem'), 'utf8');
  const again = await certs('init-ca', '--out', caDir);
  t.equal(again.code, 1);
  t.equal(again.stderr, `meshlet certs init-ca: ${caDir} already holds a CA (root-cert.pem, root-key.pem, ca-cert.pem, ca-key.pem, trust-domain); use --force to replace it\n`);
  t.equal(readFileSync(join(caDir, 'root-cert.pem'), 'utf8'), rootBefore, 'untouched');

  const forced = await certs('init-ca', '--out', caDir, '--trust-domain', 'example.org', '--force');
  t.equal(forced.code, 0, forced.stderr);
  t.not(readFileSync(join(caDir, 'root-cert.pem'), 'utf8'), rootBefore, 'replaced');
});

t.test('issue writes a workload certificate for the SPIFFE ID with the ttl and DNS names', async (t) => {
  const out = join(work, 'web');
  const r = await certs('issue', '--ca', caDir, '--spiffe', 'spiffe://example.org/ns/default/sa/web', '--ttl', '1.5h', '--dns', 'web', '--dns', 'web.default.svc', '--out', out);
  t.equal(r.code, 0, r.stderr);
  t.same(readdirSync(out).sort(), ['cert-chain.pem', 'key.pem', 'root-cert.pem']);
  const leaf = new X509Certificate(readFileSync(join(out, 'cert-chain.pem')));
  t.equal(leaf.subjectAltName, 'URI:spiffe://example.org/ns/default/sa/web, DNS:web, DNS:web.default.svc');
  t.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 90 * 60_000);
  t.ok(leaf.verify(new X509Certificate(readFileSync(join(caDir, 'ca-cert.pem'))).publicKey));
  t.equal(readFileSync(join(out, 'root-cert.pem'), 'utf8'), readFileSync(join(caDir, 'root-cert.pem'), 'utf8'));
  t.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o600);
  t.match(r.stdout, /^spiffe:\/\/example.org\/ns\/default\/sa\/web, valid \S+ to \S+, written to /);
});

t.test('bad input: exit 1 and one line naming the problem', async (t) => {
  const out = join(work, 'bad');
  const cases: [args: string[], stderr: string][] = [
    [['--spiffe', 'spiffe://example.org/ns/a/'], 'meshlet certs issue: invalid SPIFFE ID "spiffe://example.org/ns/a/": path has an empty segment (a double or trailing slash)\n'],
    [['--spiffe', 'spiffe://example.org/a', '--ca', join(work, 'missing')], `meshlet certs issue: ${join(work, 'missing')}: no such directory\n`],
  ];
  const runs = await Promise.all(cases.map(([args]) => certs('issue', '--ca', caDir, '--out', out, ...args)));
  cases.forEach(([args, stderr], i) => {
    t.equal(runs[i].code, 1, args.join(' '));
    t.equal(runs[i].stderr, stderr);
  });
  t.throws(() => statSync(out), { code: 'ENOENT' }, 'nothing written');
});

t.test('usage errors: exit 2 with the problem then the usage', async (t) => {
  const cases: [args: string[], message: string][] = [
    [[], 'a subcommand is required: init-ca or issue'],
    [['init-ca'], 'init-ca: --out is required'],
    [['issue', '--ca', caDir, '--spiffe', 'spiffe://example.org/a', '--out', work, '--ttl', '1w'], 'issue: --ttl must be a duration like 90s, 30m, 24h or 7d, got "1w"'],
    [['issue', '--bogus'], "issue: Unknown option '--bogus'"],
  ];
  const runs = await Promise.all(cases.map(([args]) => certs(...args)));
  cases.forEach(([args, message], i) => {
    t.equal(runs[i].code, 2, args.join(' '));
    t.match(runs[i].stderr, `meshlet certs: ${message}\n\nUsage: meshlet certs`);
  });
});

t.test('--help lists both subcommands and their flags', async (t) => {
  const [top, help] = await Promise.all([meshlet('--help'), certs('issue', '--help')]);
  t.match(top.stdout, /certs\s+Create the mesh CA/);
  t.equal(help.code, 0);
  for (const flag of ['init-ca', '--trust-domain', '--force', 'issue', '--spiffe', '--ttl', '--dns']) t.match(help.stdout, flag);
});
