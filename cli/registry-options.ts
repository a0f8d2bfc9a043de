/**
 * `--registry etcd://HOST:PORT[,HOST:PORT...]`, `--prefix`, and how to get in (TLS, a client
 * certificate, a user), as the control plane, `register` and `mesh` take them.
 */
import { readFileSync } from 'node:fs';
import type { EtcdAccess } from '../xds/control-plane/registry/etcd-client';
import { DEFAULT_PREFIX, prefixProblem } from '../xds/control-plane/registry/etcd-keys';
import { parseHostPorts } from './modes/xds-address';

/** The password of --etcd-user: an environment variable (a Kubernetes Secret), never a flag that `ps` shows. */
export const ETCD_PASSWORD_ENV = 'MESHLET_ETCD_PASSWORD';

export const REGISTRY_FLAGS = {
  registry: { type: 'string' },
  prefix: { type: 'string', default: DEFAULT_PREFIX },
  'etcd-cacert': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-user': { type: 'string' },
} as const;

export const REGISTRY_USAGE = `      --registry <url>     etcd://HOST:PORT[,HOST:PORT...]: the etcd cluster's client endpoints;
                           calls fail over between them
      --prefix <key>       the mesh's keys are under <key>/ (default: ${DEFAULT_PREFIX})
      --etcd-cacert <file> TLS to etcd, verified against this CA (PEM); plaintext without it
      --etcd-cert <file>   with --etcd-key: the client certificate etcd's --client-cert-auth asks for
      --etcd-key <file>
      --etcd-user <name>   etcd auth as this user; the password is read from ${ETCD_PASSWORD_ENV}`;

export interface EtcdLocation {
  /** The members' client URLs, `http://HOST:PORT` (`https://` with TLS). */
  readonly hosts: readonly string[];
  readonly access: EtcdAccess;
  readonly prefix: string;
}

/** REGISTRY_FLAGS' values as parseArgs returns them. */
export type RegistryFlagValues = { readonly registry?: string; readonly prefix: string } & AccessFlags;

type AccessFlags = { readonly [K in 'etcd-cacert' | 'etcd-cert' | 'etcd-key' | 'etcd-user']?: string };

/**
 * The etcd cluster, prefix and access the flags name (reading the certificate files they
 * name), or what is wrong with them.
 */
export function etcdLocation(registry: string, prefix: string, flags: AccessFlags = {}, env: NodeJS.ProcessEnv = process.env): EtcdLocation | string {
  const scheme = 'etcd://';
  if (!registry.startsWith(scheme)) return `--registry: "${registry}" is not etcd://HOST:PORT[,HOST:PORT...]`;
  const members = parseHostPorts(registry.slice(scheme.length));
  if (typeof members === 'string') return `--registry: ${members}`;
  const problem = prefixProblem(prefix);
  if (problem !== undefined) return `--prefix: ${problem}`;
  const access = etcdAccess(flags, env);
  if (typeof access === 'string') return access;
  const protocol = access.tls === undefined ? 'http' : 'https';
  return { hosts: members.map(({ host, port }) => `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`), access, prefix };
}

function etcdAccess(flags: AccessFlags, env: NodeJS.ProcessEnv): EtcdAccess | string {
  const { 'etcd-cacert': caFile, 'etcd-cert': certFile, 'etcd-key': keyFile, 'etcd-user': username } = flags;
  if ((certFile === undefined) !== (keyFile === undefined)) return '--etcd-cert and --etcd-key go together';
  if (certFile !== undefined && caFile === undefined) return '--etcd-cert needs --etcd-cacert (a client certificate is only sent over TLS)';
  const password = env[ETCD_PASSWORD_ENV];
  if (username !== undefined && !password) return `--etcd-user needs its password in ${ETCD_PASSWORD_ENV}`;
  const files: Record<string, Buffer> = {};
  for (const [flag, file] of [['--etcd-cacert', caFile], ['--etcd-cert', certFile], ['--etcd-key', keyFile]] as const) {
    if (file === undefined) continue;
    try {
      files[flag] = readFileSync(file);
    } catch (err) {
      return `${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  }
  const ca = files['--etcd-cacert'];
  return {
    ...(ca && { tls: { ca, cert: files['--etcd-cert'], key: files['--etcd-key'] } }),
    ...(username !== undefined && { auth: { username, password: password! } }),
  };
}
