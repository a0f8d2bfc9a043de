import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CA_FILES,
  createCertificateAuthority,
  loadCertificateAuthority,
  saveCertificateAuthority,
} from '../certs/certificate-authority';
import { parseDurationMs } from '../certs/duration';
import { issueWorkloadCertificate, saveWorkloadCertificate, WORKLOAD_FILES } from '../certs/workload-certificate';
import { commandLine } from './command-args';

const USAGE = `Usage: meshlet certs <init-ca | issue> [options]

Creates the mesh CA and the SPIFFE workload certificates proxies use for mutual TLS.

meshlet certs init-ca --out <dir> [--trust-domain <name>] [--force]
  Creates a root CA and an intermediate that signs workload certificates, written to <dir>:
  root-cert.pem (the trust bundle), root-key.pem, ca-cert.pem, ca-key.pem, trust-domain.
  Keep root-key.pem offline: issuing only needs the intermediate.
      --out <dir>            where to write the CA (created 0700; keys are 0600)
      --trust-domain <name>  the SPIFFE trust domain (default: cluster.local)
      --force                replace a CA already in <dir> (its certificates stop being trusted)

meshlet certs issue --ca <dir> --spiffe <id> --out <dir> [--ttl <duration>] [--dns <name> ...]
  Issues a workload certificate, written as Istio names them: cert-chain.pem (leaf then
  intermediate), key.pem, root-cert.pem.
      --ca <dir>             a CA made by init-ca
      --spiffe <id>          the workload's identity, e.g. spiffe://cluster.local/ns/default/sa/web
      --ttl <duration>       lifetime: 90s, 30m, 24h, 7d, 1.5h (default: 24h)
      --dns <name>           a DNS name to add to the certificate; repeat for several
      --out <dir>            where to write the certificate (created 0700; key.pem is 0600)

  -h, --help                 show this help
`;

const { parse, usageError, dispatch } = commandLine('certs', USAGE);

/** What a subcommand throws is about the input (a bad ID, a broken CA directory): one line, no stack. */
export async function certsCommand(args: string[]): Promise<number> {
  return dispatch(args, { 'init-ca': initCa, issue });
}

function initCa(args: string[]): number {
  const values = parse(
    args,
    { out: { type: 'string' }, 'trust-domain': { type: 'string', default: 'cluster.local' }, force: { type: 'boolean', default: false } },
    'init-ca',
  );
  if (typeof values === 'number') return values;
  const { out } = values;
  if (out === undefined) return usageError('init-ca: --out is required');
  const existing = Object.values(CA_FILES).filter((name) => existsSync(join(out, name)));
  if (existing.length > 0 && !values.force) {
    process.stderr.write(`meshlet certs init-ca: ${out} already holds a CA (${existing.join(', ')}); use --force to replace it\n`);
    return 1;
  }
  const ca = createCertificateAuthority({ trustDomain: values['trust-domain'] });
  saveCertificateAuthority(ca, out);
  process.stdout.write(`CA for trust domain ${ca.trustDomain} written to ${out}:\n${describeFiles(out, [
    [CA_FILES.rootCert, 'root certificate: the trust bundle to give every proxy'],
    [CA_FILES.rootKey, 'root key (0600): keep offline, needed only to replace the intermediate'],
    [CA_FILES.signingCert, 'intermediate CA certificate: signs workload certificates'],
    [CA_FILES.signingKey, 'intermediate CA key (0600)'],
    [CA_FILES.trustDomain, 'the trust domain name'],
  ])}`);
  return 0;
}

function issue(args: string[]): number {
  const values = parse(
    args,
    {
      ca: { type: 'string' },
      spiffe: { type: 'string' },
      ttl: { type: 'string', default: '24h' },
      dns: { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
    },
    'issue',
  );
  if (typeof values === 'number') return values;
  const { ca: caDir, spiffe, out } = values;
  if (caDir === undefined || spiffe === undefined || out === undefined) return usageError('issue: --ca, --spiffe and --out are required');
  const ttlMs = parseDurationMs(values.ttl);
  if (ttlMs === undefined) return usageError(`issue: --ttl must be a duration like 90s, 30m, 24h or 7d, got "${values.ttl}"`);

  const cert = issueWorkloadCertificate(loadCertificateAuthority(caDir), { spiffeId: spiffe, ttlMs, dnsNames: values.dns });
  saveWorkloadCertificate(cert, out);
  process.stdout.write(`${cert.spiffeId}, valid ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}, written to ${out}:\n${describeFiles(out, [
    [WORKLOAD_FILES.certChain, 'certificate chain: leaf then intermediate'],
    [WORKLOAD_FILES.key, 'private key (0600)'],
    [WORKLOAD_FILES.rootCert, 'root certificate: the trust bundle'],
  ])}`);
  return 0;
}

function describeFiles(dir: string, files: [name: string, what: string][]): string {
  return files.map(([name, what]) => `  ${join(dir, name)}  ${what}\n`).join('');
}
