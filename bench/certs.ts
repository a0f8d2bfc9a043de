import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TlsFiles } from './meshlet-bootstrap';
import type { ProcessRegistry } from './processes';

export interface MtlsMaterial {
  server: TlsFiles;
  client: TlsFiles;
  /** The server certificate's DNS name, which the client side sends as SNI. */
  serverName: string;
  /** The server certificate's SPIFFE ID (URI SAN), which the client side requires of its peer. */
  serverSpiffeId: string;
  /** The client certificate's SPIFFE ID (URI SAN). */
  clientSpiffeId: string;
}

export const BENCH_SERVER_NAME = 'upstream.bench.local';
export const BENCH_SERVER_SPIFFE_ID = 'spiffe://bench.local/upstream';
export const BENCH_CLIENT_SPIFFE_ID = 'spiffe://bench.local/client';

/**
 * A throwaway CA with one server and one client certificate (P-256, valid two days), made with the
 * openssl CLI so the harness does not depend on meshlet's own certificate code, which it measures.
 * Both workload certificates carry a SPIFFE URI SAN, as mesh certificates do; the server's also has
 * its DNS name and IP, for SNI and for peers that verify a host name instead of a URI SAN.
 */
export async function makeMtlsMaterial(procs: ProcessRegistry, dir: string): Promise<MtlsMaterial> {
  const f = (name: string): string => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const openssl = async (args: string[]): Promise<void> => {
    const r = await procs.run('openssl', 'openssl', args, 15_000);
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.trim().slice(-400)}`);
  };
  await openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=meshlet bench CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  for (const [name, san, usage] of [
    ['server', `URI:${BENCH_SERVER_SPIFFE_ID},DNS:${BENCH_SERVER_NAME},IP:127.0.0.1`, 'serverAuth'],
    ['client', `URI:${BENCH_CLIENT_SPIFFE_ID}`, 'clientAuth'],
  ] as const) {
    writeFileSync(f(`${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\nkeyUsage=critical,digitalSignature\n`);
    await openssl(['req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}.bench.local`]);
    await openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(`${name}.ext`)]);
  }
  const files = (name: string): TlsFiles => ({ certificateChain: f(`${name}.crt`), privateKey: f(`${name}.key`), trustedCa: f('ca.crt') });
  return {
    server: files('server'),
    client: files('client'),
    serverName: BENCH_SERVER_NAME,
    serverSpiffeId: BENCH_SERVER_SPIFFE_ID,
    clientSpiffeId: BENCH_CLIENT_SPIFFE_ID,
  };
}
