/**
 * `--registry etcd://HOST:PORT[,HOST:PORT...]` and `--prefix`, as the control plane, `register`
 * and `mesh` take them.
 */
import { DEFAULT_PREFIX, prefixProblem } from '../xds/control-plane/registry/etcd-keys';
import { parseHostPorts } from './modes/xds-address';

export const REGISTRY_FLAGS = {
  registry: { type: 'string' },
  prefix: { type: 'string', default: DEFAULT_PREFIX },
} as const;

export const REGISTRY_USAGE = `      --registry <url>     etcd://HOST:PORT[,HOST:PORT...]: the etcd cluster's client endpoints
                           (plaintext, no auth); calls fail over between them
      --prefix <key>       the mesh's keys are under <key>/ (default: ${DEFAULT_PREFIX})`;

export interface EtcdLocation {
  /** The members' client URLs, `http://HOST:PORT`. */
  readonly hosts: readonly string[];
  readonly prefix: string;
}

/** The etcd cluster and prefix the flags name, or what is wrong with them. */
export function etcdLocation(registry: string, prefix: string): EtcdLocation | string {
  const scheme = 'etcd://';
  if (!registry.startsWith(scheme)) return `--registry: "${registry}" is not etcd://HOST:PORT[,HOST:PORT...]`;
  const members = parseHostPorts(registry.slice(scheme.length));
  if (typeof members === 'string') return `--registry: ${members}`;
  const problem = prefixProblem(prefix);
  if (problem !== undefined) return `--prefix: ${problem}`;
  return { hosts: members.map(({ host, port }) => `http://${host.includes(':') ? `[${host}]` : host}:${port}`), prefix };
}
