import type { ConfigIssue } from '../../xds/config-error';

/**
 * Which Host ports are ignored when selecting a virtual host: any port (HCM strip_any_host_port,
 * or the route configuration's ignore_port_in_host_matching), only the listener's port
 * (strip_matching_host_port), or none.
 */
export type PortStripping = 'any' | number | undefined;

/**
 * Envoy's HCM port stripping: drops a numeric ":port" (not the colons of a bracketed IPv6
 * address), only when it equals `onlyPort` if that is given. The proxy can use it to rewrite the
 * Host it forwards, as Envoy's connection manager does.
 */
export function stripHostPort(host: string, onlyPort?: number): string {
  const colon = host.lastIndexOf(':');
  if (colon === -1 || host.lastIndexOf(']') > colon || colon === host.length - 1) return host;
  let port = 0;
  for (let i = colon + 1; i < host.length; i++) {
    const digit = host.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return host;
    port = port * 10 + digit;
    if (port > 0xffffffff) return host;
  }
  if (onlyPort !== undefined && port !== onlyPort) return host;
  return host.slice(0, colon);
}

/** Wildcard domains of one length, so a host is looked up once per distinct length. */
interface WildcardTable<T> {
  readonly length: number;
  readonly domains: ReadonlyMap<string, T>;
}

/**
 * Envoy's virtual host selection: exact domain, then the longest `*suffix` wildcard, then the
 * longest `prefix*` wildcard, then `*`; case-insensitive. Built once into maps so a lookup costs
 * one map probe per distinct wildcard length, however many virtual hosts there are.
 */
export class VirtualHostSelector<T> {
  constructor(
    private readonly exact: ReadonlyMap<string, T>,
    /** Longest first. */
    private readonly suffixes: readonly WildcardTable<T>[],
    private readonly prefixes: readonly WildcardTable<T>[],
    private readonly fallback: T | undefined,
    private readonly portStripping: PortStripping,
  ) {}

  select(authority: string): T | undefined {
    const stripped =
      this.portStripping === undefined
        ? authority
        : stripHostPort(authority, this.portStripping === 'any' ? undefined : this.portStripping);
    const host = stripped.toLowerCase();
    const exact = this.exact.get(host);
    if (exact !== undefined) return exact;
    for (const { length, domains } of this.suffixes) {
      // A wildcard matches at least one character: "*.foo.com" does not match ".foo.com".
      if (length >= host.length) continue;
      const found = domains.get(host.slice(host.length - length));
      if (found !== undefined) return found;
    }
    for (const { length, domains } of this.prefixes) {
      if (length >= host.length) continue;
      const found = domains.get(host.slice(0, length));
      if (found !== undefined) return found;
    }
    return this.fallback;
  }
}

export interface VirtualHostDomains<T> {
  readonly value: T;
  readonly domains: readonly string[];
  /** Config path of the virtual host, for issues. */
  readonly path: string;
}

export function buildVirtualHostSelector<T>(
  vhosts: readonly VirtualHostDomains<T>[],
  portStripping: PortStripping,
  issues: ConfigIssue[],
): VirtualHostSelector<T> {
  const exact = new Map<string, T>();
  const suffixes = new Map<number, Map<string, T>>();
  const prefixes = new Map<number, Map<string, T>>();
  let fallback: T | undefined;
  // Normalized domain → where it was first declared, to report duplicates as Envoy refuses them.
  const declared = new Map<string, string>();
  for (const vhost of vhosts) {
    vhost.domains.forEach((raw, i) => {
      const domain = raw.toLowerCase();
      const at = `${vhost.path}.domains[${i}]`;
      const first = declared.get(domain);
      if (first !== undefined) {
        issues.push({ path: at, message: `duplicate domain ${JSON.stringify(raw)} (also at ${first})` });
        return;
      }
      declared.set(domain, at);
      if (domain === '*') {
        fallback = vhost.value;
      } else if (domain.startsWith('*')) {
        tableFor(suffixes, domain.length - 1).set(domain.slice(1), vhost.value);
      } else if (domain.endsWith('*')) {
        tableFor(prefixes, domain.length - 1).set(domain.slice(0, -1), vhost.value);
      } else {
        exact.set(domain, vhost.value);
      }
    });
  }
  return new VirtualHostSelector(exact, longestFirst(suffixes), longestFirst(prefixes), fallback, portStripping);
}

function tableFor<T>(tables: Map<number, Map<string, T>>, length: number): Map<string, T> {
  let table = tables.get(length);
  if (table === undefined) tables.set(length, (table = new Map()));
  return table;
}

function longestFirst<T>(tables: Map<number, Map<string, T>>): WildcardTable<T>[] {
  return [...tables].map(([length, domains]) => ({ length, domains })).sort((a, b) => b.length - a.length);
}
